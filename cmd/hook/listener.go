package main

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimiter bounds a listener's open connections: each holds buffers and
// a goroutine (about 20 KB), and ten thousand idle keep-alive connections
// once took 214 MB. At the bound it closes an idle keep-alive connection to
// make room, so that idle clients cannot keep an active one out; when none
// is idle, Accept waits (the kernel queues the newcomer) until one closes.
// Its track method must be the http.Server's ConnState.
type connLimiter struct {
	net.Listener
	slots chan struct{}

	mu   sync.Mutex
	idle map[net.Conn]struct{}
}

func limitConnections(l net.Listener, maxConns int) *connLimiter {
	return &connLimiter{Listener: l, slots: make(chan struct{}, maxConns), idle: map[net.Conn]struct{}{}}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
			c, err := l.Listener.Accept()
			if err != nil {
				<-l.slots
				return nil, err
			}
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		if !l.closeIdle() {
			// Nothing idle to close: wait a little for a slot, or for a
			// connection to become idle.
			select {
			case l.slots <- struct{}{}:
				<-l.slots
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// closeIdle closes one idle keep-alive connection, if there is one.
func (l *connLimiter) closeIdle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.idle {
		delete(l.idle, c)
		_ = c.Close()
		return true
	}
	return false
}

// track follows each connection's state (http.Server.ConnState).
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if state == http.StateIdle {
		l.idle[c] = struct{}{}
	} else {
		delete(l.idle, c)
	}
}

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
