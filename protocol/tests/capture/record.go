package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Record directions, as stored in the fixture files.
const (
	dirClient = 'C' // bytes the client wrote
	dirServer = 'S' // bytes the client read from the server
)

// stream holds the records of one connection, in the order they happened.
type stream struct {
	mu  sync.Mutex
	buf bytes.Buffer
	n   int // number of records
}

func (s *stream) add(dir byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hdr [5]byte
	hdr[0] = dir
	binary.LittleEndian.PutUint32(hdr[1:], uint32(len(p)))
	s.buf.Write(hdr[:])
	s.buf.Write(p)
	s.n++
}

func (s *stream) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.buf.Bytes()...)
}

// recConn records every Read and Write of the wrapped connection: exactly the
// n bytes each call transferred, even when it also returned an error.
type recConn struct {
	net.Conn
	s *stream
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.s.add(dirServer, p[:n])
	}
	return n, err
}

func (c *recConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.s.add(dirClient, p[:n])
	}
	return n, err
}

// session collects the connections dialed during one scenario.
type session struct {
	name    string
	mu      sync.Mutex
	streams []*stream
	conns   []net.Conn
}

func newSession(name string) *session { return &session{name: name} }

// dial is the DialFunc handed to go-dqlite (same signature in v1 and v3).
func (s *session) dial(ctx context.Context, address string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	st := &stream{}
	s.mu.Lock()
	s.streams = append(s.streams, st)
	s.conns = append(s.conns, conn)
	s.mu.Unlock()
	return &recConn{Conn: conn, s: st}, nil
}

// closeAll closes any connection go-dqlite left open (normally none).
func (s *session) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// write stores one file per recorded connection that carried at least one
// request: <name>.bin if there is one such connection, <name>-<n>.bin
// (n from 1, in dial order) if there are several. Old files of the same
// scenario are removed first.
func (s *session) write(dir string) ([]string, error) {
	old, _ := filepath.Glob(filepath.Join(dir, s.name+"-*.bin"))
	old = append(old, filepath.Join(dir, s.name+".bin"))
	for _, f := range old {
		os.Remove(f)
	}
	s.mu.Lock()
	var keep [][]byte
	for _, st := range s.streams {
		data := st.bytes()
		if clientBytes(data) > 8 { // more than the handshake word
			keep = append(keep, data)
		}
	}
	s.mu.Unlock()
	var names []string
	for i, data := range keep {
		name := s.name + ".bin"
		if len(keep) > 1 {
			name = fmt.Sprintf("%s-%d.bin", s.name, i+1)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return names, err
		}
		names = append(names, path)
	}
	return names, nil
}

// clientBytes counts the client-written bytes of an encoded stream.
func clientBytes(data []byte) int {
	total := 0
	for len(data) >= 5 {
		n := int(binary.LittleEndian.Uint32(data[1:5]))
		if data[0] == dirClient {
			total += n
		}
		data = data[5+n:]
	}
	return total
}
