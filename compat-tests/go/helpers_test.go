package compat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	client1 "github.com/canonical/go-dqlite/client"
	driver1 "github.com/canonical/go-dqlite/driver"
	client3 "github.com/canonical/go-dqlite/v3/client"
	driver3 "github.com/canonical/go-dqlite/v3/driver"
)

// addressEnv names the environment variable holding the node address.
const addressEnv = "DQLITE_ADDRESS"

// nodeIDEnv names the environment variable holding the node's id
// (default 1, the id of our single-voter node).
const nodeIDEnv = "DQLITE_NODE_ID"

// knownBugsEnv, when set to a non-empty value, runs the tests marked as
// known server bugs instead of skipping them (to check a fix).
const knownBugsEnv = "DQLITE_COMPAT_KNOWN_BUGS"

// testTimeout bounds every test: all requests of a test run under a context
// with this deadline.
const testTimeout = 30 * time.Second

// Codes of the FAILURE responses checked by these tests (SQLite extended
// result codes, spec §7.10).
const (
	codeError      = 1    // SQLITE_ERROR
	codeBusy       = 5    // SQLITE_BUSY
	codeForeignKey = 787  // SQLITE_CONSTRAINT_FOREIGNKEY
	codeNotNull    = 1299 // SQLITE_CONSTRAINT_NOTNULL
	codeUnique     = 2067 // SQLITE_CONSTRAINT_UNIQUE
	codeTrigger    = 1811 // SQLITE_CONSTRAINT_TRIGGER
)

// address returns the node address from DQLITE_ADDRESS; the test fails if it
// is not set.
func address(t testing.TB) string {
	t.Helper()
	a := os.Getenv(addressEnv)
	if a == "" {
		t.Fatalf("%s is not set: run these tests through `cargo test -p dqlite-compat-tests`, "+
			"or set it to the host:port of a running dqlite node", addressEnv)
	}
	return a
}

// nodeID returns the expected node id from DQLITE_NODE_ID, default 1.
func nodeID(t testing.TB) uint64 {
	t.Helper()
	s := os.Getenv(nodeIDEnv)
	if s == "" {
		return 1
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", nodeIDEnv, s, err)
	}
	return id
}

// knownServerBug skips the test with a message starting "SERVER BUG:",
// unless DQLITE_COMPAT_KNOWN_BUGS is set: the test stays as it should be
// and runs again once the server is fixed.
func knownServerBug(t testing.TB, description string) {
	t.Helper()
	if os.Getenv(knownBugsEnv) == "" {
		t.Skipf("SERVER BUG: %s (set %s=1 to run this test anyway)", description, knownBugsEnv)
	}
	t.Logf("running despite the known server bug: %s", description)
}

// testContext returns a context cancelled after testTimeout or at the end of
// the test, whichever comes first.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

var dbSeq atomic.Int64

// dbName returns a database name used by no other test, even across runs
// against the same node.
func dbName(t testing.TB) string {
	name := strings.ToLower(t.Name())
	name = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, name)
	return fmt.Sprintf("%s_%d_%d", name, time.Now().UnixNano(), dbSeq.Add(1))
}

// flavor is one go-dqlite version: the scenarios are written once against
// database/sql and run with both.
type flavor struct {
	// name is "v1" or "v3".
	name string
	// openNodes returns a database/sql handle on database dbname through a
	// node store holding nodes, closed at the end of the test.
	openNodes func(t *testing.T, dbname string, nodes []node) *sql.DB
	// sqlError extracts the driver.Error of this version from err.
	sqlError func(err error) (code int, message string, ok bool)
	// maxParams is the most parameters the client sends (v1 refuses more
	// client-side; v3 switches to the schema-1 tuple).
	maxParams int
}

// open returns a database/sql handle on database dbname of the node at
// DQLITE_ADDRESS, closed at the end of the test.
func (f flavor) open(t *testing.T, dbname string) *sql.DB {
	t.Helper()
	return f.openNodes(t, dbname, []node{{ID: 1, Address: address(t)}})
}

// Driver settings of every test: bounded connection attempts and few
// retries, so that a test fails rather than hangs.
const (
	connectionTimeout = 5 * time.Second
	contextTimeout    = 10 * time.Second
	retryLimit        = 3
)

var v1 = flavor{
	name: "v1",
	openNodes: func(t *testing.T, dbname string, nodes []node) *sql.DB {
		t.Helper()
		ctx := testContext(t)
		store := client1.NewInmemNodeStore()
		infos := make([]client1.NodeInfo, 0, len(nodes))
		for _, n := range nodes {
			infos = append(infos, client1.NodeInfo{ID: n.ID, Address: n.Address})
		}
		if err := store.Set(ctx, infos); err != nil {
			t.Fatalf("node store: %v", err)
		}
		drv, err := driver1.New(store,
			driver1.WithConnectionTimeout(connectionTimeout),
			driver1.WithContextTimeout(contextTimeout),
			driver1.WithRetryLimit(retryLimit),
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
	},
	sqlError: func(err error) (int, string, bool) {
		var e driver1.Error
		if errors.As(err, &e) {
			return e.Code, e.Message, true
		}
		return 0, "", false
	},
	maxParams: 255,
}

var v3 = flavor{
	name: "v3",
	openNodes: func(t *testing.T, dbname string, nodes []node) *sql.DB {
		t.Helper()
		ctx := testContext(t)
		store := client3.NewInmemNodeStore()
		infos := make([]client3.NodeInfo, 0, len(nodes))
		for _, n := range nodes {
			infos = append(infos, client3.NodeInfo{ID: n.ID, Address: n.Address})
		}
		if err := store.Set(ctx, infos); err != nil {
			t.Fatalf("node store: %v", err)
		}
		drv, err := driver3.New(store,
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
	},
	sqlError: func(err error) (int, string, bool) {
		var e driver3.Error
		if errors.As(err, &e) {
			return e.Code, e.Message, true
		}
		return 0, "", false
	},
	maxParams: 1 << 20,
}

// code returns the SQLite code of err, or -1 if err is not a driver.Error.
func (f flavor) code(err error) int {
	if c, _, ok := f.sqlError(err); ok {
		return c
	}
	return -1
}

// wantError fails the test unless err is a driver.Error with exactly this
// code and message.
func (f flavor) wantError(t *testing.T, what string, err error, code int, message string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want driver.Error{Code: %d, Message: %q}", what, code, message)
		return
	}
	c, m, ok := f.sqlError(err)
	if !ok {
		t.Errorf("%s: error %T %q is not a driver.Error (want code %d, message %q)", what, err, err, code, message)
		return
	}
	if c != code || m != message {
		t.Errorf("%s: got driver.Error{Code: %d, Message: %q}, want {Code: %d, Message: %q}", what, c, m, code, message)
	}
}

// mustExec runs one statement and fails the test on error.
func mustExec(t *testing.T, ctx context.Context, db *sql.DB, query string, args ...any) sql.Result {
	t.Helper()
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("exec %q: %v", abbrev(query), err)
	}
	return res
}

// queryInt64 runs a query returning one integer.
func queryInt64(t *testing.T, ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("query %q: %v", abbrev(query), err)
	}
	return n
}

// retryBusy runs op until it returns something other than "database is
// locked" (code 5), sleeping a short, growing, jittered backoff in between.
// Bounded by ctx and by maxAttempts. It returns the last error and the number
// of busy answers seen.
func retryBusy(ctx context.Context, f flavor, op func() error) (busy int, err error) {
	const maxAttempts = 2000
	for attempt := 1; ; attempt++ {
		err = op()
		if err == nil || f.code(err) != codeBusy || attempt == maxAttempts {
			return busy, err
		}
		busy++
		backoff := time.Duration(min(attempt, 20))*time.Millisecond + time.Duration(rand.Intn(1000))*time.Microsecond
		select {
		case <-ctx.Done():
			return busy, fmt.Errorf("gave up after %d busy answers: %w (last: %v)", busy, ctx.Err(), err)
		case <-time.After(backoff):
		}
	}
}

func abbrev(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// placeholders returns "?, ?, ..." with n parameters.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// ints returns the int64 values 1..n as arguments.
func ints(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}
