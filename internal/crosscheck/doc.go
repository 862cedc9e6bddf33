// Package crosscheck holds the tests that check das against real software
// on the same real traffic: a private MariaDB server runs sysbench's
// oltp_read_write and hand-written odd statements with its slow log on
// (long_query_time=0), and das's view of that traffic is compared with
// pt-query-digest's (Percona Toolkit) over the same log.
//
// The package has no API: everything is in its tests (go test
// ./internal/crosscheck/). runWorkload is the shared part: it starts the
// server, runs the workload and hands back the slow log, with hooks for
// observers that need the same traffic (a packet capture of the server's
// port). The tests install sysbench and percona-toolkit with apt-get when
// they run as root and the tools are missing, and fail with a clear message
// otherwise; they never skip.
package crosscheck
