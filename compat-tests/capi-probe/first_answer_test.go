// A node started through the C API (our libdqlite.so.0, through go-dqlite
// v3's own bindings) leads from its first answer when it is the only voter:
// go-dqlite programs start a node and talk to it at once. This file is
// copied into go-dqlite v3's root package by compat-tests/tests/capi_go.rs
// and run there (it needs the module's cgo bindings).
//
// DQLITE_PROBE_FRESH (default 200) fresh starts, then
// DQLITE_PROBE_RESTARTS (default 50) restarts on one directory: after each
// dqlite.New + Start, client.New + Leader at once must name the node.
package dqlite_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	dqlite "github.com/canonical/go-dqlite/v3"
	"github.com/canonical/go-dqlite/v3/client"
)

func probeKnob(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// freeAddress is a 127.0.0.1 address with a port nobody listens on now.
func freeAddress(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// probeStart starts node 1 on dir and address and asks it for the leader
// at once.
func probeStart(dir, address string) error {
	node, err := dqlite.New(1, address, dir, dqlite.WithBindAddress(address))
	if err != nil {
		return fmt.Errorf("new: %w", err)
	}
	defer node.Close()
	if err := node.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := client.New(ctx, address)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cli.Close()
	leader, err := cli.Leader(ctx)
	if err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	if leader == nil || leader.ID != 1 || leader.Address != address {
		return fmt.Errorf("the first LEADER named %+v", leader)
	}
	return nil
}

func TestFirstAnswerProbe(t *testing.T) {
	fresh := probeKnob("DQLITE_PROBE_FRESH", 200)
	restarts := probeKnob("DQLITE_PROBE_RESTARTS", 50)
	failed := 0
	for i := 0; i < fresh; i++ {
		if err := probeStart(t.TempDir(), freeAddress(t)); err != nil {
			t.Errorf("fresh start %d: %v", i, err)
			failed++
		}
	}
	dir, address := t.TempDir(), freeAddress(t)
	for i := 0; i <= restarts; i++ {
		if err := probeStart(dir, address); err != nil {
			t.Errorf("start %d on the same directory: %v", i, err)
			failed++
		}
	}
	t.Logf("probe: %d fresh starts and %d restarts through the C API, %d without a leader at once", fresh, restarts, failed)
}
