package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The Debian `dqlite` shell (go-dqlite 1.11.5) cannot be recorded through a
// TCP proxy: its leader lookup compares the address in the LEADER answer
// with the address it dialed, so through a proxy it only sends LEADER there
// and then connects to the node directly. Instead, the shell is run under
// strace, which reports the exact bytes of every read(2) and write(2) on
// the sockets it connects to the node; each socket becomes one stream.

var (
	straceConnect = regexp.MustCompile(`^(\d+) +connect\((\d+), \{sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]*)"\)\}`)
	straceIO      = regexp.MustCompile(`^(\d+) +(read|write)\((\d+), "((?:\\x[0-9a-f]{2})*)"(\.\.\.)?, \d+\) += (-?\d+)`)
	straceClose   = regexp.MustCompile(`^(\d+) +close\((\d+)\)`)
	straceResumed = regexp.MustCompile(`^(\d+) +<\.\.\. \w+ resumed>(.*)$`)
)

// shellScenario runs each command line in its own `dqlite` shell process
// under strace and records the shell's connections to the node.
func shellScenario(shellPath, stracePath string, commands []string) func(ctx context.Context, s *session, r *run) {
	return func(ctx context.Context, s *session, r *run) {
		host, port, err := net.SplitHostPort(*addr)
		if !r.ok("split address", err) {
			return
		}
		tmp, err := os.MkdirTemp("", "dqlite-capture-strace")
		if !r.ok("temp dir", err) {
			return
		}
		defer os.RemoveAll(tmp)
		for i, c := range commands {
			trace := filepath.Join(tmp, fmt.Sprintf("trace-%d.log", i))
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			out, err := exec.CommandContext(cctx, stracePath,
				"-f", "-qq", "-e", "trace=connect,read,write,close", "-e", "signal=none",
				"-xx", "-s", "67108864", "-o", trace,
				shellPath, "-s", *addr, "capture", c).CombinedOutput()
			cancel()
			if !r.ok("dqlite shell "+abbrev(c), err) {
				r.logf("output: %s", out)
				continue
			}
			r.logf("shell output: %s", strings.TrimSpace(string(out)))
			r.ok("parse strace log", parseStrace(trace, host, port, s))
		}
	}
}

// parseStrace turns the read/write calls on sockets connected to host:port
// into streams of s, one per socket, in the order of the trace.
func parseStrace(path, host, port string, s *session) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	wantHost := hexEscape(host)
	open := map[string]*stream{} // fd -> stream (the shell is one process)
	pending := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	for sc.Scan() {
		line := sc.Text()
		// Join calls that strace split across threads.
		if strings.HasSuffix(line, " <unfinished ...>") {
			pid := strings.Fields(line)[0]
			pending[pid] = strings.TrimSuffix(line, " <unfinished ...>")
			continue
		}
		if m := straceResumed.FindStringSubmatch(line); m != nil {
			line = pending[m[1]] + m[2]
			delete(pending, m[1])
		}
		if m := straceConnect.FindStringSubmatch(line); m != nil {
			if m[3] == port && (m[4] == host || m[4] == wantHost) {
				st := &stream{}
				s.mu.Lock()
				s.streams = append(s.streams, st)
				s.mu.Unlock()
				open[m[2]] = st
			} else {
				delete(open, m[2])
			}
			continue
		}
		if m := straceClose.FindStringSubmatch(line); m != nil {
			delete(open, m[2])
			continue
		}
		m := straceIO.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		st := open[m[3]]
		if st == nil {
			continue
		}
		n, _ := strconv.Atoi(m[6])
		if n <= 0 {
			continue // EAGAIN, EOF or error
		}
		if m[5] != "" {
			return fmt.Errorf("strace truncated a %s of %d bytes", m[2], n)
		}
		data, err := hex.DecodeString(strings.ReplaceAll(m[4], `\x`, ""))
		if err != nil {
			return err
		}
		if len(data) < n {
			return fmt.Errorf("%s: %d bytes shown, %d transferred", m[2], len(data), n)
		}
		dir := byte(dirServer)
		if m[2] == "write" {
			dir = dirClient
		}
		st.add(dir, data[:n])
	}
	return sc.Err()
}

// hexEscape renders s the way `strace -xx` prints strings.
func hexEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\x%02x`, s[i])
	}
	return b.String()
}
