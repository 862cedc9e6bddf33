package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql" // also registers the "mysql" database/sql driver
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/das-project/das/leaf"
	"github.com/das-project/das/leaf/leafhttp"
)

const leafUsage = `usage:
  das leaf serve --dsn DSN [--addr 127.0.0.1:8080] [flags]   run the ID service
  das leaf init --dsn DSN                                     create or upgrade the leaf tables
  das leaf tag add NAME --step N [--start 1] --dsn DSN        add a segment-mode tag

DSN is a go-sql-driver/mysql DSN, e.g. user:pass@tcp(127.0.0.1:3306)/leaf;
--dsn defaults to $DAS_LEAF_DSN. Run 'das leaf serve -h' for the service flags.`

// cmdLeaf is the leaf ID service: serve, init, tag add.
func cmdLeaf(ctx context.Context, args []string, s stdio) error {
	if len(args) == 0 {
		fmt.Fprintln(s.err, leafUsage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return leafServe(ctx, args[1:], s)
	case "init":
		return leafInit(ctx, args[1:], s)
	case "tag":
		if len(args) >= 2 && args[1] == "add" {
			return leafTagAdd(ctx, args[2:], s)
		}
	case "-h", "--help", "help":
		fmt.Fprintln(s.out, leafUsage)
		return nil
	}
	fmt.Fprintln(s.err, leafUsage)
	return errUsage
}

// dsnFlag defines --dsn. Its default is read from the environment only when
// the DSN is used, so -h never prints a password.
func dsnFlag(fs *flag.FlagSet) *string {
	return fs.String("dsn", "", "MySQL/MariaDB DSN of the database holding the leaf tables (default $DAS_LEAF_DSN)")
}

// openLeafDB opens and pings dsn (or $DAS_LEAF_DSN when empty).
func openLeafDB(ctx context.Context, dsn string) (*sql.DB, error) {
	if dsn == "" {
		dsn = os.Getenv("DAS_LEAF_DSN")
	}
	if dsn == "" {
		return nil, errors.New("--dsn (or $DAS_LEAF_DSN) is required")
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return db, nil
}

func leafInit(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("das leaf init", flag.ContinueOnError)
	fs.SetOutput(s.err)
	dsn := dsnFlag(fs)
	printOnly := fs.Bool("print", false, "print the DDL instead of applying it")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return errUsage
	}
	if *printOnly {
		ms, err := leaf.Migrations()
		if err != nil {
			return err
		}
		for _, m := range ms {
			fmt.Fprintf(s.out, "-- %04d_%s\n%s\n", m.Version, m.Name, m.SQL)
		}
		return nil
	}
	db, err := openLeafDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := leaf.Migrate(ctx, db); err != nil {
		return err
	}
	fmt.Fprintln(s.out, "leaf tables are up to date")
	return nil
}

func leafTagAdd(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("das leaf tag add", flag.ContinueOnError)
	fs.SetOutput(s.err)
	dsn := dsnFlag(fs)
	step := fs.Int64("step", 0, "segment length: IDs fetched per database round trip (required; Leaf uses 1000–2000 for most tags)")
	start := fs.Int64("start", 1, "first ID the tag hands out")
	desc := fs.String("description", "", "free text stored with the tag")
	// Accept flags before and after NAME.
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return errUsage
	}
	if len(pos) != 1 || *step < 1 {
		fmt.Fprintln(s.err, "usage: das leaf tag add NAME --step N [--start 1] [--description TEXT] --dsn DSN")
		return errUsage
	}
	db, err := openLeafDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := leaf.AddTag(ctx, db, pos[0], *step, *start, *desc); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "added tag %q: step %d, first ID %d\n", pos[0], *step, *start)
	return nil
}

// parseInterspersed parses flags that may come before or after positional
// arguments, returning the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func leafServe(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("das leaf serve", flag.ContinueOnError)
	fs.SetOutput(s.err)
	dsn := dsnFlag(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address; keep it on loopback unless a token is set")
	tokenFile := fs.String("token-file", "", "file holding the bearer token required on every endpoint but /healthz (default $DAS_LEAF_TOKEN; none: no authentication)")
	initDB := fs.Bool("init", false, "create or upgrade the leaf tables before serving")
	segment := fs.Bool("segment", true, "serve segment mode (/api/segment)")
	snowflake := fs.Bool("snowflake", true, "serve snowflake mode (/api/snowflake); leases a worker id")
	var so leaf.SegmentOptions
	fs.Float64Var(&so.PreloadThreshold, "preload", 0.1, "fraction of a segment used when the next one is loaded")
	fs.Int64Var(&so.MaxStep, "max-step", 1_000_000, "cap of the dynamic step")
	fs.BoolVar(&so.FixedStep, "fixed-step", false, "disable the dynamic step")
	fs.DurationVar(&so.RefreshInterval, "refresh", time.Minute, "how often the tag list is re-read")
	fs.DurationVar(&so.DefaultWait, "wait", time.Second, "how long a request waits for a segment when both are used up")
	var fo leaf.SnowflakeOptions
	epoch := fs.String("epoch", leaf.DefaultEpoch().Format(time.RFC3339), "snowflake epoch (RFC 3339); all processes of a namespace must agree")
	fs.IntVar(&fo.WorkerBits, "worker-bits", 10, "snowflake worker id bits")
	fs.IntVar(&fo.SequenceBits, "sequence-bits", 12, "snowflake sequence bits")
	fs.StringVar(&fo.Namespace, "namespace", "default", "snowflake worker-id namespace in leaf_worker")
	fs.DurationVar(&fo.LeaseTTL, "lease-ttl", 10*time.Second, "snowflake worker-id lease TTL (heartbeat TTL/4, fence at TTL-TTL/5)")
	maxCount := fs.Int("max-count", 10_000, "largest ?count= accepted")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return errUsage
	}
	if !*segment && !*snowflake {
		fmt.Fprintln(s.err, "das leaf serve: --segment=false and --snowflake=false leave nothing to serve")
		return errUsage
	}
	ep, err := time.Parse(time.RFC3339, *epoch)
	if err != nil {
		return fmt.Errorf("--epoch: %w", err)
	}
	fo.Epoch = ep
	token := os.Getenv("DAS_LEAF_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return fmt.Errorf("--token-file %s is empty", *tokenFile)
		}
	}

	db, err := openLeafDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	err = leafServeDB(ctx, db, s, *initDB, *segment, *snowflake, so, fo, token, *addr, *maxCount)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 { // table doesn't exist
		return fmt.Errorf("%w (run 'das leaf init' or pass --init)", err)
	}
	return err
}

func leafServeDB(ctx context.Context, db *sql.DB, s stdio, initDB, segment, snowflake bool,
	so leaf.SegmentOptions, fo leaf.SnowflakeOptions, token, addr string, maxCount int) error {
	if initDB {
		if err := leaf.Migrate(ctx, db); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(db, "leaf"))
	opts := leafhttp.Options{Token: token, Registry: reg, MaxCount: maxCount}
	if segment {
		so.Registerer = reg
		seg, err := leaf.OpenSegment(ctx, db, so)
		if err != nil {
			return err
		}
		defer func() {
			if err := seg.Close(); err != nil {
				fmt.Fprintf(s.err, "das leaf serve: %v\n", err)
			}
		}()
		opts.Segment = seg
	}
	if snowflake {
		fo.Registerer = reg
		sf, err := leaf.OpenSnowflake(ctx, db, fo)
		if err != nil {
			return err
		}
		defer func() {
			if err := sf.Close(); err != nil {
				fmt.Fprintf(s.err, "das leaf serve: %v\n", err)
			}
		}()
		opts.Snowflake = sf
	}
	h, err := leafhttp.NewHandler(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if token == "" && !isLoopback(ln.Addr()) {
		fmt.Fprintf(s.err, "das leaf serve: WARNING: listening on %s without a bearer token; anyone who can reach it can draw IDs\n", ln.Addr())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	var desc []string
	if opts.Segment != nil {
		desc = append(desc, fmt.Sprintf("segment mode (%d tags)", len(opts.Segment.Status())))
	}
	if opts.Snowflake != nil {
		desc = append(desc, fmt.Sprintf("snowflake mode (worker %d)", opts.Snowflake.Status().WorkerID))
	}
	fmt.Fprintf(s.err, "das leaf serve: http://%s/ — %s\n", ln.Addr(), strings.Join(desc, ", "))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }() // ends with Shutdown below
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-errc
	return err
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
