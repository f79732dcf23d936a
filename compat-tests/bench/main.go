// Command dqlite-bench is a load generator on go-dqlite's database/sql
// driver (v3, as LXD uses), so our server and the C server see the very
// same client. It runs one workload for a fixed time and prints one JSON
// line: operations, throughput and latency percentiles.
//
//	dqlite-bench -addr 127.0.0.1:9001 -workload kvwrite -clients 16 -duration 5s
//
// Workloads:
//
//	kvwrite  INSERT OR REPLACE of a 32-byte key and a 1 KiB value
//	read     point SELECT by key (10,000 keys preloaded)
//	tx100    a transaction of 100 INSERTs (one operation = one transaction)
//	scan     SELECT of a 10,000-row x 3-column table (one op = all rows)
//	connect  a new connection to the first node: dial (TCP, TLS), protocol
//	         handshake, LEADER and its answer, close (one client)
//	load     bulk load of -data-mib MiB of 1 KiB rows into table bulk, one
//	         INSERT of -tx-rows rows per transaction (autocommit), one
//	         client; stops at the size or after -duration, whichever comes
//	         first; prints a progress line every -progress-mib MiB
//	writes   single-row autocommit INSERTs of a 1 KiB row into table bulk
//	         for -duration, one client; records every write's start time
//	         and latency (-latency-log), reports p99.9, the maximum and
//	         every write slower than -slow-ms; SIGTERM ends it early
//	         (and it still reports)
//	leader   prints the leader's address, {"leader": "HOST:PORT"}
//
// load and writes are the workloads of disk.py (issue 18). Their output
// lines carry times as Unix milliseconds, so that disk.py can lay writes
// beside the servers' log lines.
//
// With -tls-cert and -tls-key every connection is TLS, configured as
// go-dqlite v3.0.4's app.SimpleDialTLSConfig configures it for a cluster
// certificate (the app package needs cgo, this program builds without):
// TLS 1.2 or later, the certificate is the only trusted root, the server
// is named by its first DNS name, and a client session cache
// (tls.NewLRUClientSessionCache(0), 64 sessions), so later connections
// resume the TLS session. -tls-session-cache=false drops the cache: every
// handshake is then a full one.
//
// "database is locked" answers (concurrent writers) are retried and
// counted separately; any other error stops the run.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canonical/go-dqlite/v3/client"
	"github.com/canonical/go-dqlite/v3/driver"
)

var (
	addr     = flag.String("addr", "127.0.0.1:9001", "dqlite node addresses, comma-separated")
	workload = flag.String("workload", "kvwrite", "kvwrite, read, tx100, scan or connect")
	clients  = flag.Int("clients", 1, "concurrent clients")
	duration = flag.Duration("duration", 5*time.Second, "how long to run")
	dbName   = flag.String("db", "", "database name (default: bench-<workload>)")
	keys     = flag.Int("keys", 10000, "key space of kvwrite/read, rows of scan")
	tlsCert  = flag.String("tls-cert", "", "client certificate (PEM): speak TLS, with -tls-key")
	tlsKey   = flag.String("tls-key", "", "its private key (PEM)")
	tlsCache = flag.Bool("tls-session-cache", true, "keep app.SimpleDialTLSConfig's session cache (resumption)")
	dataMiB  = flag.Int("data-mib", 64, "load: MiB of row values to insert")
	txRows   = flag.Int("tx-rows", 100, "load: rows per transaction")
	rowBytes = flag.Int("row-bytes", 1024, "load, writes: bytes of each row's value")
	progMiB  = flag.Int("progress-mib", 16, "load: a progress line every this many MiB")
	slowMs   = flag.Float64("slow-ms", 20, "writes: list every write slower than this")
	latLog   = flag.String("latency-log", "", "writes: file for every write's 'start_unix_ms latency_ms'")
)

type result struct {
	Workload  string  `json:"workload"`
	Clients   int     `json:"clients"`
	Ops       int64   `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	Retries   int64   `json:"busy_retries"`
	// Connections of the connect workload whose TLS session was resumed.
	Resumed int64 `json:"tls_resumed"`
}

// resumed counts TLS connections whose handshake resumed a session.
var resumed atomic.Int64

// dialFunc is the plain TCP dial, or TLS over it with -tls-cert/-tls-key.
func dialFunc() (client.DialFunc, error) {
	if *tlsCert == "" && *tlsKey == "" {
		return client.DefaultDialFunc, nil
	}
	cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	if len(leaf.DNSNames) == 0 {
		return nil, fmt.Errorf("%s has no DNS name to name the server by", *tlsCert)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	// What app.SimpleDialTLSConfig(cert, pool) returns.
	config := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      pool,
		Certificates: []tls.Certificate{cert},
		ServerName:   leaf.DNSNames[0],
	}
	if *tlsCache {
		config.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	}
	dial := client.DialFuncWithTLS(client.DefaultDialFunc, config)
	return func(ctx context.Context, addr string) (net.Conn, error) {
		conn, err := dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		return &countResumed{Conn: conn}, nil
	}, nil
}

// countResumed counts, when the connection closes, whether its TLS
// session was resumed (known only once the handshake, which crypto/tls
// runs on the first write, is done).
type countResumed struct {
	net.Conn
}

func (c *countResumed) Close() error {
	if t, ok := c.Conn.(*tls.Conn); ok && t.ConnectionState().DidResume {
		resumed.Add(1)
	}
	return c.Conn.Close()
}

// connectOp opens a connection to the first node, asks LEADER and closes.
func connectOp(dial client.DialFunc, address string) func(ctx context.Context, c, i int) error {
	return func(ctx context.Context, c, i int) error {
		cli, err := client.New(ctx, address, client.WithDialFunc(dial))
		if err != nil {
			return err
		}
		defer cli.Close()
		_, err = cli.Leader(ctx)
		return err
	}
}

func main() {
	flag.Parse()
	if *dbName == "" {
		*dbName = "bench-" + *workload
	}
	store := client.NewInmemNodeStore()
	var nodes []client.NodeInfo
	for _, a := range strings.Split(*addr, ",") {
		nodes = append(nodes, client.NodeInfo{Address: a})
	}
	if err := store.Set(context.Background(), nodes); err != nil {
		log.Fatal(err)
	}
	dial, err := dialFunc()
	if err != nil {
		log.Fatalf("TLS: %v", err)
	}
	drv, err := driver.New(store, driver.WithDialFunc(dial))
	if err != nil {
		log.Fatal(err)
	}
	connector, err := drv.OpenConnector(*dbName)
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(*clients)
	db.SetMaxIdleConns(*clients)
	defer db.Close()

	ctx, cancel := context.WithTimeout(context.Background(), *duration+2*time.Minute)
	defer cancel()
	switch *workload {
	case "load":
		runLoad(ctx, db)
		return
	case "writes":
		runWrites(ctx, db)
		return
	case "leader":
		printLeader(ctx, store, dial)
		return
	}
	var op func(ctx context.Context, client, i int) error
	if *workload == "connect" {
		op = connectOp(dial, nodes[0].Address)
	} else if op, err = prepare(ctx, db); err != nil {
		log.Fatalf("prepare %s: %v", *workload, err)
	}

	var ops, retries atomic.Int64
	latencies := make([][]time.Duration, *clients)
	deadline := time.Now().Add(*duration)
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Value
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				began := time.Now()
				err := op(ctx, c, i)
				if isBusy(err) {
					retries.Add(1)
					continue
				}
				if err != nil {
					failed.Store(err)
					return
				}
				latencies[c] = append(latencies[c], time.Since(began))
				ops.Add(1)
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if err, ok := failed.Load().(error); ok {
		log.Fatalf("%s: %v", *workload, err)
	}
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	percentile := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	out, _ := json.Marshal(result{
		Workload: *workload, Clients: *clients, Ops: ops.Load(), Seconds: elapsed,
		OpsPerSec: float64(ops.Load()) / elapsed, P50Ms: percentile(0.50), P99Ms: percentile(0.99),
		Retries: retries.Load(), Resumed: resumed.Load(),
	})
	fmt.Println(string(out))
}

func isBusy(err error) bool {
	var e driver.Error
	return errors.As(err, &e) && e.Code&0xff == 5
}

func key(i int) string {
	return fmt.Sprintf("key-%027d", i%*keys) // 32 bytes
}

func randomValue(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		log.Fatal(err)
	}
	return b
}

// prepare creates and fills the workload's tables and returns one operation.
func prepare(ctx context.Context, db *sql.DB) (func(ctx context.Context, client, i int) error, error) {
	value := randomValue(1024)
	switch *workload {
	case "kvwrite", "read":
		if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB)"); err != nil {
			return nil, err
		}
		if *workload == "read" {
			if err := fill(ctx, db, "INSERT OR REPLACE INTO kv VALUES (?, ?)", func(i int) []any { return []any{key(i), value} }); err != nil {
				return nil, err
			}
			return func(ctx context.Context, c, i int) error {
				var v []byte
				return db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = ?", key(c*7919+i)).Scan(&v)
			}, nil
		}
		return func(ctx context.Context, c, i int) error {
			_, err := db.ExecContext(ctx, "INSERT OR REPLACE INTO kv VALUES (?, ?)", key(c*7919+i), value)
			return err
		}, nil
	case "tx100":
		if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS tx (c INTEGER, i INTEGER, v TEXT)"); err != nil {
			return nil, err
		}
		return func(ctx context.Context, c, i int) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			for j := 0; j < 100; j++ {
				if _, err := tx.ExecContext(ctx, "INSERT INTO tx VALUES (?, ?, ?)", c, i*100+j, "value"); err != nil {
					tx.Rollback()
					return err
				}
			}
			return tx.Commit()
		}, nil
	case "scan":
		if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS scan (a INTEGER, b TEXT, c REAL)"); err != nil {
			return nil, err
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM scan").Scan(&n); err != nil {
			return nil, err
		}
		if n < *keys {
			if err := fill(ctx, db, "INSERT INTO scan VALUES (?, ?, ?)", func(i int) []any {
				return []any{i, "row-" + hex.EncodeToString([]byte(fmt.Sprint(i))), float64(i) / 3}
			}); err != nil {
				return nil, err
			}
		}
		return func(ctx context.Context, c, i int) error {
			rows, err := db.QueryContext(ctx, "SELECT a, b, c FROM scan")
			if err != nil {
				return err
			}
			defer rows.Close()
			count := 0
			for rows.Next() {
				var a int64
				var b string
				var f float64
				if err := rows.Scan(&a, &b, &f); err != nil {
					return err
				}
				count++
			}
			if count < *keys {
				return fmt.Errorf("scan read %d rows", count)
			}
			return rows.Err()
		}, nil
	}
	return nil, fmt.Errorf("unknown workload %q (want %s)", *workload, strings.Join([]string{"kvwrite", "read", "tx100", "scan", "connect"}, ", "))
}

// fill inserts *keys rows in transactions of 500.
func fill(ctx context.Context, db *sql.DB, stmt string, args func(i int) []any) error {
	for start := 0; start < *keys; start += 500 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for i := start; i < start+500 && i < *keys; i++ {
			if _, err := tx.ExecContext(ctx, stmt, args(i)...); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	log.SetFlags(0)
	log.SetOutput(os.Stderr)
}
