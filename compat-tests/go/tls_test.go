package compat

// Mutual TLS with go-dqlite v3: the client package and the database/sql
// driver dialing through client.DialFuncWithTLS, against nodes that share
// one cluster certificate (self-signed, marked CA, as LXD's), whose
// addresses are in DQLITE_CLUSTER (node ids 1, 2, 3 in that order) and
// whose certificate and key are in DQLITE_TLS_CERT and DQLITE_TLS_KEY. The
// scenario asks the harness to kill the leader ("kill <id>", through
// DQLITE_HANDSHAKE, see askHarness); the Rust harness (tests/go_tls.rs)
// starts the nodes as processes and kills one with SIGKILL when asked. It
// skips when these variables are not set.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"math/big"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	client3 "github.com/canonical/go-dqlite/v3/client"
	driver3 "github.com/canonical/go-dqlite/v3/driver"
)

const (
	// tlsCertEnv names the variable holding the cluster certificate (PEM).
	tlsCertEnv = "DQLITE_TLS_CERT"
	// tlsKeyEnv names the variable holding its private key (PEM).
	tlsKeyEnv = "DQLITE_TLS_KEY"
)

// tlsScenarioTimeout bounds the whole TLS scenario: the joins, the
// refusals, the writes, and a failover.
const tlsScenarioTimeout = 100 * time.Second

// refusalTimeout bounds one attempt of a client that must be refused.
const refusalTimeout = 15 * time.Second

func TestV3TLSClusterFailover(t *testing.T) { testTLSClusterFailover(t) }

// clusterCertificate loads the cluster certificate and key from
// DQLITE_TLS_CERT and DQLITE_TLS_KEY, with a pool trusting that
// certificate alone (as LXD loads its cluster.crt), or skips the test when
// they are not set.
func clusterCertificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	certFile, keyFile := os.Getenv(tlsCertEnv), os.Getenv(tlsKeyEnv)
	if certFile == "" || keyFile == "" {
		t.Skipf("%s and %s are not set: run this test through `cargo test -p dqlite-compat-tests --test go_tls`, "+
			"or set them to the cluster certificate and key of the nodes in %s", tlsCertEnv, tlsKeyEnv, clusterEnv)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("loading %s and %s: %v", certFile, keyFile, err)
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

// dialTLSConfig is the client configuration go-dqlite v3's
// app.SimpleDialTLSConfig makes (this package cannot import the app
// package: it needs cgo and libdqlite; compat-tests/tests/capi_go.rs runs
// app.SimpleTLSConfig itself): TLS 1.2 or later, cert presented, pool
// trusted, the server named by the first DNS name of cert, and a session
// cache, so that reconnections resume TLS sessions.
func dialTLSConfig(t *testing.T, cert tls.Certificate, pool *x509.CertPool) *tls.Config {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatalf("parsing the certificate: %v", err)
	}
	if len(leaf.DNSNames) == 0 {
		t.Fatal("the certificate has no DNS name")
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		Certificates:       []tls.Certificate{cert},
		RootCAs:            pool,
		ServerName:         leaf.DNSNames[0],
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
	}
}

// foreignCertificate is another cluster's certificate: self-signed, marked
// CA, with the same name (dqlite) as the real one, so that only the
// signature tells them apart.
func foreignCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dqlite"},
		DNSNames:              []string{"dqlite"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// clientsV3With is the v3 client package dialing with dial: client.New
// and client.FindLeader with client.WithDialFunc.
func clientsV3With(dial client3.DialFunc) clientVersion {
	return clientVersion{
		connect: func(ctx context.Context, addr string) (clientAPI, error) {
			c, err := client3.New(ctx, addr, client3.WithDialFunc(dial))
			if err != nil {
				return clientAPI{}, err
			}
			return wrapClientV3(c), nil
		},
		findLeader: func(ctx context.Context, nodes []node) (clientAPI, error) {
			c, err := client3.FindLeader(ctx, nodeStoreV3(ctx, nodes), client3.WithDialFunc(dial))
			if err != nil {
				return clientAPI{}, err
			}
			return wrapClientV3(c), nil
		},
	}
}

// nodeStoreV3 is an in-memory node store holding nodes.
func nodeStoreV3(ctx context.Context, nodes []node) client3.NodeStore {
	store := client3.NewInmemNodeStore()
	infos := make([]client3.NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		infos = append(infos, client3.NodeInfo{ID: n.ID, Address: n.Address})
	}
	// An in-memory store's Set cannot fail.
	_ = store.Set(ctx, infos)
	return store
}

// openV3With is database/sql on database dbname through go-dqlite v3's
// driver with a node store of nodes, dialing with dial (driver.WithDialFunc),
// closed at the end of the test.
func openV3With(t *testing.T, ctx context.Context, dbname string, nodes []node, dial client3.DialFunc) *sql.DB {
	t.Helper()
	drv, err := driver3.New(nodeStoreV3(ctx, nodes),
		driver3.WithDialFunc(dial),
		driver3.WithConnectionTimeout(connectionTimeout),
		driver3.WithContextTimeout(contextTimeout),
		driver3.WithRetryLimit(retryLimit),
	)
	if err != nil {
		t.Fatalf("driver.New: %v", err)
	}
	connector, err := drv.OpenConnector(dbname)
	if err != nil {
		t.Fatalf("OpenConnector: %v", err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// expectRefused checks that a client dialing with dial gets nothing from
// any node: client.New then Leader fails on each, and database/sql cannot
// create table refused in dbname (the caller checks that it does not
// exist).
func expectRefused(t *testing.T, ctx context.Context, what string, dial client3.DialFunc, nodes []node, dbname string) {
	t.Helper()
	for _, n := range nodes {
		attempt, cancel := context.WithTimeout(ctx, refusalTimeout)
		c, err := clientsV3With(dial).connect(attempt, n.Address)
		var leader node
		if err == nil {
			leader, err = c.leader(attempt)
			_ = c.close()
		}
		cancel()
		if err == nil {
			t.Errorf("%s: node %d at %s answered LEADER (%+v)", what, n.ID, n.Address, leader)
		} else {
			t.Logf("%s: node %d refused: %v", what, n.ID, err)
		}
	}
	started := time.Now()
	attempt, cancel := context.WithTimeout(ctx, refusalTimeout)
	defer cancel()
	db := openV3With(t, attempt, dbname, nodes, dial)
	if _, err := db.ExecContext(attempt, "CREATE TABLE refused (x)"); err == nil {
		t.Errorf("%s: database/sql created a table", what)
	} else {
		t.Logf("%s: database/sql failed after %v: %v", what, time.Since(started).Round(time.Millisecond), err)
	}
	_ = db.Close()
}

// readIDs reads the rows of table acked, in id order.
func readIDs(ctx context.Context, db *sql.DB) (ids []int64, phases []string, err error) {
	rows, err := db.QueryContext(ctx, "SELECT id, phase FROM acked ORDER BY id")
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var phase string
		if err := rows.Scan(&id, &phase); err != nil {
			return nil, nil, err
		}
		ids = append(ids, id)
		phases = append(phases, phase)
	}
	return ids, phases, rows.Err()
}

// testTLSClusterFailover: over mutual TLS, FindLeader and client.New list
// the three voters on every node; database/sql writes and reads back;
// clients without the cluster certificate (plain TCP, TLS without a
// certificate, or with another cluster's) get nothing from any node and write nothing.
// Then the harness kills the leader (SIGKILL): the next writes, retried
// (bounded) as an application does, succeed on a new leader, and every
// acknowledged row is there.
func testTLSClusterFailover(t *testing.T) {
	nodes := clusterNodes(t)
	cert, pool := clusterCertificate(t)
	requireHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), tlsScenarioTimeout)
	defer cancel()
	dial := client3.DialFuncWithTLS(client3.DefaultDialFunc, dialTLSConfig(t, cert, pool))
	clients := clientsV3With(dial)

	// The nodes joined over TLS: every one lists the three voters.
	waitVotersWith(t, ctx, clients, nodes)
	for _, n := range nodes {
		waitView(t, ctx, clients, n.Address, nodes)
	}
	c, leader := leaderClient(t, ctx, clients, nodes)
	_ = c.close()
	t.Logf("leader over TLS: node %d at %s", leader.ID, leader.Address)

	name := dbName(t)
	db := openV3With(t, ctx, name, nodes, dial)
	const before = 20 // rows written before the leader is killed
	const after = 20  // rows written after
	const insert = "INSERT INTO acked (id, phase) VALUES (?, ?)"
	mustExec(t, ctx, db, "CREATE TABLE acked (id INTEGER PRIMARY KEY, phase TEXT NOT NULL)")
	for id := 1; id <= before; id++ {
		mustExec(t, ctx, db, insert, id, "before")
	}
	ids, _, err := readIDs(ctx, db)
	if err != nil || len(ids) != before || ids[before-1] != before {
		t.Fatalf("read back %v (error %v), want ids 1..%d", ids, err, before)
	}

	// Without the cluster certificate: nothing. Go's client presents its
	// certificate only if the server's list of acceptable CAs names its
	// issuer; the foreign one is presented whatever the server asks for,
	// so that the server's verification refuses it.
	anonymous := dialTLSConfig(t, cert, pool)
	anonymous.Certificates = nil
	foreignCert := foreignCertificate(t)
	foreign := dialTLSConfig(t, foreignCert, pool)
	foreign.Certificates = nil
	foreign.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &foreignCert, nil
	}
	expectRefused(t, ctx, "plain TCP", client3.DefaultDialFunc, nodes, name)
	expectRefused(t, ctx, "TLS without a certificate",
		client3.DialFuncWithTLS(client3.DefaultDialFunc, anonymous), nodes, name)
	expectRefused(t, ctx, "another cluster's certificate",
		client3.DialFuncWithTLS(client3.DefaultDialFunc, foreign), nodes, name)
	if n := queryInt64(t, ctx, db, "SELECT count(*) FROM sqlite_master WHERE name = 'refused'"); n != 0 {
		t.Errorf("a client without the certificate created table refused")
	}

	// The leader dies; the writes go on through the same *sql.DB.
	c, leader = leaderClient(t, ctx, clients, nodes)
	_ = c.close()
	killed := askHarness(t, ctx, "kill", strconv.FormatUint(leader.ID, 10))
	killedAt := time.Now()
	t.Logf("killed the leader, node %d at %s: %s", leader.ID, leader.Address, killed)
	var retried []error
	for id := before + 1; id <= before+after; id++ {
		failed := false
		again, err := retryFailover(ctx, v3, func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, insert, id, "after")
			if err != nil && failed && v3.code(err) == codePrimaryKey {
				// An earlier attempt was committed, its answer lost.
				t.Logf("row %d: an earlier attempt was committed: %v", id, err)
				return nil
			}
			if err != nil {
				failed = true
			}
			return err
		})
		retried = append(retried, again...)
		if err != nil {
			t.Fatalf("insert row %d after the leader was killed: %v; retried before: %v", id, err, retried)
		}
		if id == before+1 {
			t.Logf("first write after the kill acknowledged %v after it, %d errors retried",
				time.Since(killedAt).Round(time.Millisecond), len(again))
		}
	}
	for i, err := range retried {
		if i == 10 {
			t.Logf("... and %d more", len(retried)-i)
			break
		}
		t.Logf("retried: %v", err)
	}

	// Every acknowledged row is there, read through the new leader.
	var phases []string
	mustRetryFailover(t, ctx, v3, "read back", func(ctx context.Context) error {
		var err error
		ids, phases, err = readIDs(ctx, db)
		return err
	})
	if len(ids) != before+after {
		t.Errorf("read %d rows after the failover, want %d: %v", len(ids), before+after, ids)
	}
	for i, id := range ids {
		want := "before"
		if id > before {
			want = "after"
		}
		if id != int64(i+1) || phases[i] != want {
			t.Errorf("row %d: id %d phase %q, want id %d phase %q", i, id, phases[i], i+1, want)
		}
	}

	// A new leader, found over TLS, is another node; the killed one is
	// still a member.
	var newLeader node
	mustRetryFailover(t, ctx, v3, "find the new leader", func(ctx context.Context) error {
		c, err := clients.findLeader(ctx, nodes)
		if err != nil {
			return err
		}
		defer c.close()
		newLeader, err = c.leader(ctx)
		if err != nil {
			return err
		}
		members, err := c.cluster(ctx)
		if err != nil {
			return err
		}
		if got := sortedNodes(members); !slices.Equal(got, nodes) {
			t.Errorf("Cluster on the new leader: got %+v, want %+v", got, nodes)
		}
		return nil
	})
	if newLeader.ID == leader.ID {
		t.Errorf("the new leader %+v is the killed node", newLeader)
	} else if _, ok := findNode(nodes, newLeader.ID, newLeader.Address); !ok {
		t.Errorf("the new leader %+v is not a member of %+v", newLeader, nodes)
	}
	t.Logf("new leader: node %d at %s", newLeader.ID, newLeader.Address)
}
