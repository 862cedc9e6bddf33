// Package mysqlproto decodes the MySQL client/server protocol from the two
// byte streams of a TCP connection, as a passive observer: it follows the
// handshake (user, default schema, capabilities), the compressed protocol
// (zlib and zstd), the command phase and the responses, and reports each
// executed statement (COM_QUERY, COM_STMT_EXECUTE with its parameters
// substituted into the prepared text, MariaDB's COM_STMT_BULK_EXECUTE)
// with its latency, rows sent, rows affected and error code.
//
// The caller (package pcap) reassembles TCP and feeds each direction's
// bytes in order, with the capture time of the segment that carried them
// and whether the bytes start a segment. When bytes were lost it calls Gap
// and the connection resynchronises: it waits for a segment that starts
// with a plausible packet instead of misreading the rest of the stream.
// Connections joined after their handshake (capture started later) are
// decoded from their first plausible command; their user and schema are
// unknown until a COM_INIT_DB, USE or COM_CHANGE_USER shows them.
//
// A Decoder holds what all connections share (options, counters, scratch
// buffers, decompressors); a Conn is one connection. Neither is safe for
// concurrent use; one goroutine owns a Decoder and all its Conns.
package mysqlproto

import (
	"bytes"
	"errors"
	"github.com/klauspost/compress/zlib"
	"io"
	"strconv"

	"github.com/klauspost/compress/zstd"
)

// Options bound a Decoder's memory. The zero value means every default.
type Options struct {
	// MaxStatementBytes is the longest statement text (or COM_STMT_EXECUTE
	// payload) kept; longer ones are cut and reported with Truncated set.
	// Default 16 MiB.
	MaxStatementBytes int
	// MaxPrepared is the most prepared statements remembered per
	// connection (the server's max_prepared_stmt_count default is 16382).
	// Beyond it the oldest are forgotten. Default 16384.
	MaxPrepared int
	// MaxPending is the most commands awaiting a response per connection
	// (pipelining). Beyond it the oldest are dropped as lost. Default 1024.
	MaxPending int
}

func (o *Options) setDefaults() error {
	for _, f := range []struct {
		v    *int
		name string
		def  int
	}{
		{&o.MaxStatementBytes, "MaxStatementBytes", 16 << 20},
		{&o.MaxPrepared, "MaxPrepared", 16384},
		{&o.MaxPending, "MaxPending", 1024},
	} {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0:
			return errors.New("mysqlproto: " + f.name + " is " + strconv.Itoa(*f.v) + ", want > 0 (0 means " + strconv.Itoa(f.def) + ")")
		}
	}
	return nil
}

// Statement is one executed statement. SQL is owned by the decoder and
// valid only during the Handler call.
type Statement struct {
	// TimeNs is the capture time (Unix nanoseconds) of the segment that
	// completed the request.
	TimeNs int64
	// LatencyNs is the time from TimeNs to the first packet of the
	// response (0 if the capture clock went backwards).
	LatencyNs int64
	// Command is ComQuery, ComStmtExecute or ComStmtBulkExecute.
	Command byte
	// SQL is the statement text; for an execute, the prepared text with
	// its parameters substituted (a bulk execute keeps its placeholders).
	SQL []byte
	// Truncated says SQL was cut at Options.MaxStatementBytes, or that the
	// execute's parameters could not all be decoded.
	Truncated bool
	// User and DB are the connection's user and default schema; UserKnown
	// and DBKnown are false on a connection joined after its handshake
	// until a command showed them.
	User, DB           string
	UserKnown, DBKnown bool
	// RowsSent counts result-set rows over every result set of the
	// statement; RowsAffected sums the OK packets' affected rows.
	RowsSent, RowsAffected uint64
	// ErrCode is the code of the ERR packet that ended the response, 0 if
	// none.
	ErrCode uint16
}

// Problem is protocol input das could not use: a malformed packet, an
// execute of a statement prepared before the capture started. Raw is the
// packet's payload (at most 4 KiB of it), valid only during the call.
type Problem struct {
	Reason string // "malformed", "unknown-statement"
	Detail string
	TimeNs int64
	Raw    []byte
}

// Reasons of a Problem.
const (
	ReasonMalformed        = "malformed"
	ReasonUnknownStatement = "unknown-statement"
)

// Handler receives a connection's statements and problems. It is called
// synchronously from Conn methods.
type Handler interface {
	Statement(c *Conn, st *Statement)
	Problem(c *Conn, p *Problem)
}

// Stats are a Decoder's cumulative counters over all its connections.
type Stats struct {
	// Commands counts client commands by command byte (including those
	// never emitted as statements: prepare, close, ping, quit, init_db…).
	Commands [256]uint64
	// Statements emitted, and how many of them carried an error code.
	Statements, StatementErrors uint64
	// Handshakes seen from the server greeting; AuthFailures among them.
	Handshakes, AuthFailures uint64
	// MidStream connections joined without their handshake.
	MidStream uint64
	// TLS connections (SSLRequest seen, or TLS records where MySQL
	// packets were expected): their traffic is not decoded.
	TLS uint64
	// Compressed connections (CLIENT_COMPRESS negotiated or detected),
	// and ZstdPackets among the compressed packets.
	Compressed, ZstdPackets uint64
	// Replication connections (binlog dump, clone): not decoded.
	Replication uint64
	// LostResponses counts commands whose response was not seen (bytes
	// lost, connection closed first, or pipelining bound exceeded).
	LostResponses uint64
	// OrphanResponses counts server packets that answered no command
	// das saw (their request was lost, or the capture started mid-response).
	OrphanResponses uint64
	// Gaps reported by the caller, Resyncs completed after them (or after
	// joining mid-stream), and bytes dropped while waiting to resync.
	Gaps, Resyncs, ResyncDroppedBytes uint64
	// UnknownStatements: executes of a statement prepared before the
	// capture started (reported as a Problem, not emitted).
	UnknownStatements uint64
	// Malformed packets reported as problems.
	Malformed uint64
	// Truncated statements (see Statement.Truncated).
	Truncated uint64
}

// Decoder holds what the connections of one capture share. Close releases
// the zstd decoder.
type Decoder struct {
	opts  Options
	stats Stats

	st     Statement
	prob   Problem
	sqlBuf []byte
	params []param
	zr     io.ReadCloser
	zsrc   bytes.Reader
	zstd   *zstd.Decoder
	infl   []byte
}

// NewDecoder returns a Decoder with opts.
func NewDecoder(opts Options) (*Decoder, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	return &Decoder{opts: opts}, nil
}

// Stats returns a copy of the counters.
func (d *Decoder) Stats() Stats { return d.stats }

// Close releases the decompressors.
func (d *Decoder) Close() error {
	if d.zstd != nil {
		d.zstd.Close()
		d.zstd = nil
	}
	if d.zr != nil {
		err := d.zr.Close()
		d.zr = nil
		return err
	}
	return nil
}

// Compressed packet payloads: zstd frames start with this magic, anything
// else with a non-zero uncompressed length is zlib.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// inflate decompresses one compressed-protocol payload of ulen bytes.
func (d *Decoder) inflate(p []byte, ulen int) ([]byte, error) {
	if ulen > 1100*len(p)+1024 { // deflate and zstd expand at most ~1032×
		return nil, errors.New("uncompressed length " + strconv.Itoa(ulen) + " impossible for " + strconv.Itoa(len(p)) + " compressed bytes")
	}
	if bytes.HasPrefix(p, zstdMagic) {
		d.stats.ZstdPackets++
		if d.zstd == nil {
			z, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<26))
			if err != nil {
				return nil, err
			}
			d.zstd = z
		}
		out, err := d.zstd.DecodeAll(p, d.infl[:0])
		if err != nil {
			return nil, err
		}
		d.infl = out
		if len(out) != ulen {
			return out, errors.New("zstd payload is " + strconv.Itoa(len(out)) + " bytes, header says " + strconv.Itoa(ulen))
		}
		return out, nil
	}
	d.zsrc.Reset(p)
	if d.zr == nil {
		zr, err := zlib.NewReader(&d.zsrc)
		if err != nil {
			return nil, err
		}
		d.zr = zr
	} else if err := d.zr.(zlib.Resetter).Reset(&d.zsrc, nil); err != nil {
		return nil, err
	}
	if cap(d.infl) < ulen {
		d.infl = make([]byte, ulen)
	}
	out := d.infl[:ulen]
	n, err := io.ReadFull(d.zr, out)
	if err != nil {
		return out[:n], errors.New("zlib: " + err.Error())
	}
	return out, nil
}
