package pgtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mentor-ai/mentor/db"
)

// Proxy is a TCP proxy in front of the test cluster, so that a test can make "PostgreSQL is
// down" happen to its own connections only. Stopping the cluster itself would break every
// other test running against it, in this process and in the other packages' processes.
//
// Down closes the listener and every proxied connection: new connections are refused and
// queries in flight fail, as when the server goes away. Up listens again on the same port,
// so a pool holding the proxy's URL reconnects without being told anything.
type Proxy struct {
	t      testing.TB
	addr   string // the proxy's own address, fixed by the first listen
	dial   func() (net.Conn, error)
	url    string
	mu     sync.Mutex
	ln     net.Listener          // nil while down
	conns  map[net.Conn]struct{} // both ends of every proxied connection
	closed bool                  // the test has ended
	wg     sync.WaitGroup
	// loseAnswer is armed by LoseNextAnswerToBatch: the answer to the next extended-protocol
	// request is dropped, once.
	loseAnswer bool
}

// NewProxy starts a proxy to the server databaseURL names (a postgres:// URL). It is up
// when NewProxy returns, and stops when the test ends.
func NewProxy(t testing.TB, databaseURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: the proxy needs a postgres:// URL, got %s", db.Redact(databaseURL))
	}
	// pgconn knows the defaults (port 5432, PGHOST, a socket directory) that a URL may leave out.
	cfg, err := pgconn.ParseConfig(databaseURL)
	if err != nil {
		t.Fatalf("pgtest: proxy: %v", err)
	}
	network, address := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, address = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	p := &Proxy{t: t, conns: map[net.Conn]struct{}{},
		dial: func() (net.Conn, error) { return net.Dial(network, address) }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: proxy: listen: %v", err)
	}
	p.addr = ln.Addr().String()
	q := u.Query()
	q.Del("host") // a host or port in the query string would win over the URL's own
	q.Del("port")
	u.RawQuery = q.Encode()
	u.Host = p.addr
	p.url = u.String()
	p.serve(ln)
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.Down()
		p.wg.Wait()
	})
	return p
}

// URL is databaseURL with the proxy's address in place of the server's.
func (p *Proxy) URL() string { return p.url }

// Down closes the listener and every open proxied connection. When it returns, connecting
// is refused and every connection made through the proxy is broken.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Up listens again on the same port. It fails the test if the port was taken meanwhile.
func (p *Proxy) Up() {
	p.t.Helper()
	p.mu.Lock()
	up := p.ln != nil
	p.mu.Unlock()
	if up {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("pgtest: proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// LoseNextAnswerToBatch makes the next extended-protocol request a client sends (a pgx
// batch or a statement with parameters, which begins with a Parse or a Bind message: not a
// simple-protocol query such as the pool's health-check ping) run on the server, and then
// drops the server's answer and breaks that connection: the client sees an error for
// statements that went through, as when a network fails at the worst moment. A batch sent
// without an explicit transaction commits when the server answers its Sync, so this loses
// the answer to a commit. It is one-shot.
func (p *Proxy) LoseNextAnswerToBatch() {
	p.mu.Lock()
	p.loseAnswer = true
	p.mu.Unlock()
}

// armed reports whether chunk, sent by a client, is the request LoseNextAnswerToBatch
// waits for, and disarms it if so.
func (p *Proxy) armed(chunk []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loseAnswer || len(chunk) == 0 || (chunk[0] != 'P' && chunk[0] != 'B') {
		return false
	}
	p.loseAnswer = false
	return true
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return // Down closed the listener
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.relay(ln, client)
			}()
		}
	}()
}

// relay joins one client to a new server connection until either side ends or Down
// closes them.
func (p *Proxy) relay(ln net.Listener, client net.Conn) {
	server, err := p.dial()
	if err != nil {
		client.Close()
		return
	}
	if !p.track(ln, client, server) {
		client.Close()
		server.Close()
		return
	}
	defer p.untrack(client, server)
	done := make(chan struct{}, 2)
	end := func(err error) {
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
			p.logf("pgtest: proxy: %v", err)
		}
		// One side ending ends the other: Postgres has no half-closed connections.
		client.Close()
		server.Close()
		done <- struct{}{}
	}
	// lose is signalled when the client sent the query whose answer is to be lost.
	lose := make(chan struct{}, 1)
	go func() { // client to server
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if p.armed(buf[:n]) {
					lose <- struct{}{}
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					end(werr)
					return
				}
			}
			if err != nil {
				end(err)
				return
			}
		}
	}()
	go func() { // server to client
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				select {
				case <-lose:
					// The server answered, so it ran the query: drop the answer and the connection.
					end(nil)
					return
				default:
				}
				if _, werr := client.Write(buf[:n]); werr != nil {
					end(werr)
					return
				}
			}
			if err != nil {
				end(err)
				return
			}
		}
	}()
	<-done
	<-done
}

// track registers a connection pair, unless Down ran since ln accepted it: a connection
// accepted just before Down must not outlive it.
func (p *Proxy) track(ln net.Listener, conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != ln {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		delete(p.conns, c)
	}
}

// logf logs while the test runs; after it, t.Log would panic.
func (p *Proxy) logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.t.Logf(format, args...)
	}
}
