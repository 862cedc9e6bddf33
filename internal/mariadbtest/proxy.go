package mariadbtest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a server, for outage and
// latency tests that must not disturb the server itself.
//
// Cut closes every open connection and makes new ones fail at once (they
// are accepted and closed, so clients see a broken connection rather than a
// hang); Restore lets connections through again. SetDelay adds a delay to
// every client→server write, i.e. to each query's round trip.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup // accept loop and pipe goroutines

	mu struct {
		sync.Mutex
		cut    bool
		closed bool
		delay  time.Duration
		conns  map[net.Conn]struct{}
	}
}

// NewProxy starts a proxy to target that is closed in tb.Cleanup.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("mariadbtest: proxy listen: %v", err)
	}
	p := &Proxy{target: target, ln: ln}
	p.mu.conns = make(map[net.Conn]struct{})
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Server returns a Server value addressing the proxy, so DSN works on it.
func (p *Proxy) Server() *Server { return &Server{Addr: p.Addr()} }

// Cut breaks all open connections and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.mu.cut = true
	conns := p.mu.conns
	p.mu.conns = make(map[net.Conn]struct{})
	p.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// Restore lets new connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.mu.cut = false
	p.mu.Unlock()
}

// SetDelay sets the delay added to every client→server write.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.mu.delay = d
	p.mu.Unlock()
}

// Close stops the proxy and closes all its connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return
	}
	p.mu.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.cut || p.mu.closed {
		return false
	}
	p.mu.conns[c] = struct{}{}
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

func (p *Proxy) serve(client net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil || !p.track(up) {
		_ = client.Close()
		if up != nil {
			_ = up.Close()
		}
		return
	}
	done := make(chan struct{}, 2)
	go func() { // owned by serve, which waits for it below
		p.pipe(up, client, true)
		done <- struct{}{}
	}()
	p.pipe(client, up, false)
	done <- struct{}{}
	<-done
	<-done
}

// pipe copies src to dst, delaying each write when delayed is set, and closes
// both ends when either fails.
func (p *Proxy) pipe(dst, src net.Conn, delayed bool) {
	defer func() {
		_ = dst.Close()
		_ = src.Close()
		p.mu.Lock()
		delete(p.mu.conns, dst)
		delete(p.mu.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if delayed {
				p.mu.Lock()
				d := p.mu.delay
				p.mu.Unlock()
				if d > 0 {
					time.Sleep(d)
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a closed connection
			return
		}
	}
}
