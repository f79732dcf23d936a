// Command dqlite-capture records real traffic between go-dqlite clients
// (1.11.x and v3, pure-Go packages driver and client only) and a running C
// dqlite node into fixture files for the Rust codec tests.
//
// File format: a sequence of records, each = 1 byte direction ('C' = bytes
// the client wrote, 'S' = bytes the client read) + uint32 LE length + bytes.
// One file per recorded connection. See README.md.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

var (
	addr      = flag.String("addr", "", "address of the dqlite node (host:port), e.g. 127.0.0.1:9001")
	out       = flag.String("out", "../fixtures", "directory for the .bin files")
	shell     = flag.String("shell", "/usr/bin/dqlite", "path of the Debian dqlite shell; empty to skip the shell scenario")
	straceBin = flag.String("strace", "strace", "strace binary, used to record the shell's sockets")
	only      = flag.String("only", "", "comma-separated scenario names to run (default: all)")
	verbose   = flag.Bool("v", false, "log every step")
)

type scenario struct {
	name string
	fn   func(ctx context.Context, s *session, r *run)
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *addr == "" {
		log.Fatal("-addr is required")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}

	scenarios := []scenario{
		{"v1-driver-types", v1DriverTypes},
		{"v1-prepared", v1Prepared},
		{"v1-tx", v1Tx},
		{"v1-large", v1Large},
		{"v1-blob", v1Blob},
		{"v1-errors", v1Errors},
		{"v1-client", nil}, // special: Dump size fallback, see below
		{"v3-client", v3Client},
		{"v3-driver", v3Driver},
	}
	if *shell != "" {
		shellPath, err1 := exec.LookPath(*shell)
		stracePath, err2 := exec.LookPath(*straceBin)
		switch {
		case err1 != nil:
			log.Printf("shell %s not found: skipping the shell scenario", *shell)
		case err2 != nil:
			log.Printf("%s not found: skipping the shell scenario", *straceBin)
		default:
			scenarios = append(scenarios, scenario{"shell", shellScenario(shellPath, stracePath, []string{
				"SELECT 1",
				"CREATE TABLE IF NOT EXISTS shell_t (id INTEGER PRIMARY KEY, v TEXT);INSERT INTO shell_t (v) VALUES ('from shell');SELECT id, v FROM shell_t",
				".cluster",
				".leader",
			})})
		}
	}

	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}

	failed := false
	var written []string
	for _, sc := range scenarios {
		if len(want) > 0 && !want[sc.name] {
			continue
		}
		var files []string
		var err error
		if sc.name == "v1-client" {
			files, err = runClientWithDump(sc.name)
		} else {
			files, err = runScenario(sc.name, sc.fn)
		}
		if err != nil {
			log.Printf("[%s] FAILED: %v", sc.name, err)
			failed = true
		}
		written = append(written, files...)
	}

	sort.Strings(written)
	fmt.Println("files:")
	for _, f := range written {
		st, _ := os.Stat(f)
		data, _ := os.ReadFile(f)
		sum, err := checkFile(data)
		if err != nil {
			log.Printf("%s: INVALID: %v", f, err)
			failed = true
			continue
		}
		fmt.Printf("  %-40s %7d bytes  %s\n", f, st.Size(), sum)
	}
	if failed {
		os.Exit(1)
	}
}

// runScenario runs fn with a fresh recording session and writes its files.
func runScenario(name string, fn func(ctx context.Context, s *session, r *run)) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := newSession(name)
	r := &run{name: name}
	log.Printf("[%s] running", name)
	fn(ctx, s, r)
	// Give go-dqlite a moment to finish closing, then close leftovers.
	time.Sleep(100 * time.Millisecond)
	s.closeAll()
	files, err := s.write(*out)
	if err == nil && len(r.unexpected) > 0 {
		err = fmt.Errorf("%d unexpected error(s): %s", len(r.unexpected), strings.Join(r.unexpected, "; "))
	}
	if err == nil && len(files) == 0 {
		err = errors.New("no connection carried any request")
	}
	return files, err
}

// runClientWithDump runs the v1 client scenario with a Dump of "capture";
// if the recording is too large for a fixture, it reruns it against a tiny
// separate database.
func runClientWithDump(name string) ([]string, error) {
	files, err := runScenario(name, v1Client("capture"))
	if err != nil {
		return files, err
	}
	total := int64(0)
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	if total <= maxRecording {
		return files, nil
	}
	log.Printf("[%s] %d bytes with a dump of \"capture\": dumping a tiny database instead", name, total)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := &run{name: name + " (setup)"}
	makeTinyDB(ctx, newSession("unrecorded"), r, "capture_tiny")
	if len(r.unexpected) > 0 {
		return nil, fmt.Errorf("creating capture_tiny: %s", strings.Join(r.unexpected, "; "))
	}
	return runScenario(name, v1Client("capture_tiny"))
}

// checkFile parses a fixture and checks that the client stream is the
// version word followed by whole messages and the server stream is whole
// messages. It returns a summary: message counts and type counts.
func checkFile(data []byte) (string, error) {
	var c, s []byte
	for len(data) > 0 {
		if len(data) < 5 {
			return "", errors.New("truncated record header")
		}
		n := int(binary.LittleEndian.Uint32(data[1:5]))
		if len(data) < 5+n {
			return "", errors.New("truncated record")
		}
		switch data[0] {
		case dirClient:
			c = append(c, data[5:5+n]...)
		case dirServer:
			s = append(s, data[5:5+n]...)
		default:
			return "", fmt.Errorf("bad direction %#x", data[0])
		}
		data = data[5+n:]
	}
	if len(c) < 8 || binary.LittleEndian.Uint64(c) != 1 {
		return "", errors.New("client stream does not start with version word 1")
	}
	reqs, err := splitMessages(c[8:])
	if err != nil {
		return "", fmt.Errorf("client stream: %w", err)
	}
	resps, err := splitMessages(s)
	if err != nil {
		return "", fmt.Errorf("server stream: %w", err)
	}
	return fmt.Sprintf("C %d msgs %v / S %d msgs %v", len(reqs), countTypes(reqs), len(resps), countTypes(resps)), nil
}

func splitMessages(b []byte) ([]byte, error) {
	var types []byte
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%d trailing bytes (partial header)", len(b))
		}
		words := int(binary.LittleEndian.Uint32(b[0:4]))
		if len(b) < 8+words*8 {
			return nil, fmt.Errorf("message of type %d cut: %d of %d body bytes", b[4], len(b)-8, words*8)
		}
		types = append(types, b[4])
		b = b[8+words*8:]
	}
	return types, nil
}

func countTypes(types []byte) map[byte]int {
	m := map[byte]int{}
	for _, t := range types {
		m[t]++
	}
	return m
}
