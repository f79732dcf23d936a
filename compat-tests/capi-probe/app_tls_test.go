// go-dqlite v3's app package with mutual TLS, embedding our
// libdqlite.so.0 through its cgo bindings: three app nodes in this
// process, each started with app.WithTLS(app.SimpleTLSConfig(cert, pool))
// on one cluster certificate (DQLITE_TLS_CERT and DQLITE_TLS_KEY, made
// with openssl by the harness). go-dqlite terminates TLS in Go and relays
// the plain stream to our node on an abstract Unix socket; our node dials
// its peers through go-dqlite's dial function, which speaks TLS. This
// file is copied into go-dqlite v3's root package by
// compat-tests/tests/capi_go.rs and run there (it needs the module's cgo
// bindings); DQLITE_PROBE_LIBRARY names the directory our library was
// staged in, which the process must have loaded it from. The module
// says go 1.13: no generics here.
package dqlite_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/canonical/go-dqlite/v3/app"
	"github.com/canonical/go-dqlite/v3/client"
	"github.com/canonical/go-dqlite/v3/driver"
)

// tlsProbeTimeout bounds the whole probe.
const tlsProbeTimeout = 120 * time.Second

// tlsProbeAddress is a 127.0.0.1 address with a port nobody listens on now.
func tlsProbeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tlsProbeCertificate loads the cluster certificate and a pool trusting it.
func tlsProbeCertificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	certFile, keyFile := os.Getenv("DQLITE_TLS_CERT"), os.Getenv("DQLITE_TLS_KEY")
	if certFile == "" || keyFile == "" {
		t.Fatal("DQLITE_TLS_CERT and DQLITE_TLS_KEY must name the cluster certificate and key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("loading the certificate: %v", err)
	}
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no PEM certificate", certFile)
	}
	return cert, pool
}

// tlsProbeOurLibrary fails the test unless this process mapped
// libdqlite.so from the directory in DQLITE_PROBE_LIBRARY.
func tlsProbeOurLibrary(t *testing.T) {
	t.Helper()
	dir := os.Getenv("DQLITE_PROBE_LIBRARY")
	if dir == "" {
		t.Fatal("DQLITE_PROBE_LIBRARY must name the directory of our libdqlite.so.0")
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var loaded []string
	for _, line := range strings.Split(string(maps), "\n") {
		if i := strings.Index(line, "/"); i >= 0 && strings.Contains(line, "libdqlite.so") && !seen[line[i:]] {
			seen[line[i:]] = true
			loaded = append(loaded, line[i:])
		}
	}
	if len(loaded) != 1 || filepath.Dir(loaded[0]) != filepath.Clean(dir) {
		t.Fatalf("libdqlite loaded from %v, want only %s", loaded, dir)
	}
}

type tlsProbeMember struct {
	ID      uint64
	Address string
	Role    string
}

func tlsProbeMembers(nodes []client.NodeInfo) []tlsProbeMember {
	out := make([]tlsProbeMember, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, tlsProbeMember{n.ID, n.Address, n.Role.String()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// tlsProbeWaitVoters waits (bounded by ctx) until the leader, as app a
// finds it, lists the three apps as voters.
func tlsProbeWaitVoters(t *testing.T, ctx context.Context, a *app.App, apps []*app.App) {
	t.Helper()
	var want []tlsProbeMember
	for _, other := range apps {
		want = append(want, tlsProbeMember{other.ID(), other.Address(), client.Voter.String()})
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Address < want[j].Address })
	var got []tlsProbeMember
	var err error
	for {
		var cli *client.Client
		cli, err = a.Leader(ctx)
		if err == nil {
			var nodes []client.NodeInfo
			nodes, err = cli.Cluster(ctx)
			cli.Close()
			got = tlsProbeMembers(nodes)
			if err == nil && reflect.DeepEqual(got, want) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the apps did not become three voters: last view %+v (error %v), want %+v", got, err, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tlsProbeCount reads the rows of table t through db.
func tlsProbeCount(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n)
	return n, err
}

func TestAppTLSProbe(t *testing.T) {
	tlsProbeOurLibrary(t)
	cert, pool := tlsProbeCertificate(t)
	ctx, cancel := context.WithTimeout(context.Background(), tlsProbeTimeout)
	defer cancel()

	// Three apps: the first bootstraps, the others join through it.
	var apps []*app.App
	defer func() {
		// Newest first, each handing its roles over before it closes.
		for i := len(apps) - 1; i >= 0; i-- {
			handover, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := apps[i].Handover(handover); err != nil {
				t.Logf("app %d: handover: %v", i+1, err)
			}
			cancel()
			if err := apps[i].Close(); err != nil {
				t.Errorf("app %d: close: %v", i+1, err)
			}
		}
	}()
	var first string
	for i := 0; i < 3; i++ {
		address := tlsProbeAddress(t)
		options := []app.Option{
			app.WithAddress(address),
			app.WithTLS(app.SimpleTLSConfig(cert, pool)),
			app.WithRolesAdjustmentFrequency(time.Second),
		}
		if i == 0 {
			first = address
		} else {
			options = append(options, app.WithCluster([]string{first}))
		}
		a, err := app.New(t.TempDir(), options...)
		if err != nil {
			t.Fatalf("app %d: new: %v", i+1, err)
		}
		apps = append(apps, a)
		if err := a.Ready(ctx); err != nil {
			t.Fatalf("app %d: ready: %v", i+1, err)
		}
	}
	tlsProbeWaitVoters(t, ctx, apps[1], apps)

	// Written through the first app, read through the third.
	db1, err := apps[0].Open(ctx, "tls")
	if err != nil {
		t.Fatalf("app 1: open: %v", err)
	}
	defer db1.Close()
	if _, err := db1.ExecContext(ctx, "CREATE TABLE t (n INTEGER PRIMARY KEY, s TEXT)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	const rows = 50
	for n := 1; n <= rows; n++ {
		if _, err := db1.ExecContext(ctx, "INSERT INTO t (n, s) VALUES (?, ?)", n, fmt.Sprintf("row %d", n)); err != nil {
			t.Fatalf("insert %d: %v", n, err)
		}
	}
	db3, err := apps[2].Open(ctx, "tls")
	if err != nil {
		t.Fatalf("app 3: open: %v", err)
	}
	defer db3.Close()
	if n, err := tlsProbeCount(ctx, db3); err != nil || n != rows {
		t.Fatalf("app 3 read %d rows (error %v), want %d", n, err, rows)
	}

	// A client of the cluster from outside the apps, as go-dqlite's docs
	// show: FindLeader and database/sql dialing with
	// client.DialFuncWithTLS and app.SimpleDialTLSConfig.
	addresses := make([]client.NodeInfo, 0, len(apps))
	for _, a := range apps {
		addresses = append(addresses, client.NodeInfo{ID: a.ID(), Address: a.Address()})
	}
	store := client.NewInmemNodeStore()
	if err := store.Set(ctx, addresses); err != nil {
		t.Fatal(err)
	}
	dial := client.DialFuncWithTLS(client.DefaultDialFunc, app.SimpleDialTLSConfig(cert, pool))
	cli, err := client.FindLeader(ctx, store, client.WithDialFunc(dial))
	if err != nil {
		t.Fatalf("FindLeader over TLS: %v", err)
	}
	nodes, err := cli.Cluster(ctx)
	cli.Close()
	if err != nil || len(nodes) != 3 {
		t.Fatalf("Cluster over TLS: %+v (error %v), want the three apps", nodes, err)
	}
	drv, err := driver.New(store, driver.WithDialFunc(dial), driver.WithConnectionTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	connector, err := drv.OpenConnector("tls")
	if err != nil {
		t.Fatal(err)
	}
	outside := sql.OpenDB(connector)
	defer outside.Close()
	if n, err := tlsProbeCount(ctx, outside); err != nil || n != rows {
		t.Fatalf("a TLS client read %d rows (error %v), want %d", n, err, rows)
	}

	// Plain TCP gets nothing from any app.
	for i, a := range apps {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		plain, err := client.New(attempt, a.Address())
		if err == nil {
			var leader *client.NodeInfo
			leader, err = plain.Leader(attempt)
			plain.Close()
			if err == nil {
				t.Errorf("app %d answered LEADER over plain TCP: %+v", i+1, leader)
			}
		}
		cancel()
		if err != nil {
			t.Logf("plain TCP to app %d: %v", i+1, err)
		}
	}
	t.Logf("probe: three app nodes over TLS on our library, %d rows written through app 1 and read through app 3 and a TLS client; cluster %+v",
		rows, tlsProbeMembers(nodes))
}
