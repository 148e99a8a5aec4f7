package storetest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections to Target, for outage tests: Stop closes
// the listener
// and cuts every connection, as a database server going away does, and
// Start listens on the same address again; Stall holds every byte and
// every new connection, as a network partition does (TCP retransmits, so
// the bytes arrive once Resume is called). Addr is where it listens once
// started (set it before the first Start to choose).
type Proxy struct {
	Addr, Target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
	held         chan struct{} // non-nil while stalled, closed by resume
	wg           sync.WaitGroup
}

// Start listens (again) and forwards.
func (p *Proxy) Start(t testing.TB) {
	t.Helper()
	addr := p.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 50 { // the address of a stopped proxy may take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.Addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.wg.Go(func() {
				p.gate()
				s, err := net.Dial("tcp", p.Target)
				if err != nil {
					c.Close()
					return
				}
				p.mu.Lock()
				p.conns = append(p.conns, s)
				p.mu.Unlock()
				p.wg.Go(func() { p.pipe(s, c) })
				p.pipe(c, s)
			})
		}
	})
}

// gate waits while the proxy is stalled.
func (p *Proxy) gate() {
	p.mu.Lock()
	held := p.held
	p.mu.Unlock()
	if held != nil {
		<-held
	}
}

// pipe copies src to dst, holding each chunk while the proxy is stalled.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.gate()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Stall holds every byte and new connection until Resume.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = make(chan struct{})
	}
}

// Resume lets the held bytes and connections through.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held != nil {
		close(p.held)
		p.held = nil
	}
}

// Stop closes the listener and every connection.
func (p *Proxy) Stop() {
	p.Resume()
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
