package compat

// Scenarios against a cluster of several nodes rather than one node. They
// read the members' addresses from DQLITE_CLUSTER (comma-separated; the
// node ids are 1, 2, 3... in that order) and skip when it is not set. The
// membership scenarios also need DQLITE_NEW_NODE, the address of a running
// node that is not a member yet (its id is the number of members plus one).
//
// Some steps a Go test cannot take itself, such as stopping the leader, or
// comparing the nodes' copies of a database: it asks the harness that
// started the cluster for them, through files in the directory
// DQLITE_HANDSHAKE (see askHarness). The Rust harness (tests/cluster.rs)
// sets all three.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// clusterEnv names the variable holding the members' addresses.
	clusterEnv = "DQLITE_CLUSTER"
	// newNodeEnv names the variable holding the address of a running node
	// that is not a member.
	newNodeEnv = "DQLITE_NEW_NODE"
	// handshakeEnv names the variable holding the handshake directory.
	handshakeEnv = "DQLITE_HANDSHAKE"
)

// Codes a client may meet while leadership moves (spec §8.4): the
// SQLITE_IOERR_NOT_LEADER and SQLITE_IOERR_LEADERSHIP_LOST extended codes.
const (
	codeNotLeader      = 10 | 40<<8
	codeLeadershipLost = 10 | 41<<8
	codePrimaryKey     = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
)

// failoverTimeout bounds how long the cluster may take to serve writes
// again after its leader stopped (an election takes 0.3 to 1 s).
const failoverTimeout = 20 * time.Second

func TestV1ClusterClient(t *testing.T)     { testClusterClient(t, clientsV1) }
func TestV3ClusterClient(t *testing.T)     { testClusterClient(t, clientsV3) }
func TestV1ClusterSQL(t *testing.T)        { testClusterSQL(t, v1) }
func TestV3ClusterSQL(t *testing.T)        { testClusterSQL(t, v3) }
func TestV1ClusterFailover(t *testing.T)   { testClusterFailover(t, v1, clientsV1) }
func TestV3ClusterFailover(t *testing.T)   { testClusterFailover(t, v3, clientsV3) }
func TestV1ClusterMembership(t *testing.T) { testClusterMembership(t, clientsV1) }
func TestV3ClusterMembership(t *testing.T) { testClusterMembership(t, clientsV3) }

// clusterNodes returns the members from DQLITE_CLUSTER, all voters, or
// skips the test when it is not set.
func clusterNodes(t *testing.T) []node {
	t.Helper()
	s := os.Getenv(clusterEnv)
	if s == "" {
		t.Skipf("%s is not set: run these tests through `cargo test -p dqlite-compat-tests --test cluster`, "+
			"or set it to the comma-separated addresses of a cluster's nodes 1, 2, 3...", clusterEnv)
	}
	var nodes []node
	for i, a := range strings.Split(s, ",") {
		nodes = append(nodes, node{ID: uint64(i + 1), Address: strings.TrimSpace(a), Role: "voter"})
	}
	return nodes
}

// newNode returns the node from DQLITE_NEW_NODE, or skips the test when it
// is not set.
func newNode(t *testing.T, members []node) node {
	t.Helper()
	a := os.Getenv(newNodeEnv)
	if a == "" {
		t.Skipf("%s is not set: it must hold the address of a running node that is not a member", newNodeEnv)
	}
	return node{ID: uint64(len(members) + 1), Address: a, Role: "spare"}
}

// requireHarness returns the handshake directory, or skips the test when
// DQLITE_HANDSHAKE is not set.
func requireHarness(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(handshakeEnv)
	if dir == "" {
		t.Skipf("%s is not set: this test needs the Rust harness (tests/cluster.rs) to act on the cluster", handshakeEnv)
	}
	return dir
}

var harnessSeq atomic.Int64

// askHarness asks the harness to take step (with argument) and returns its
// answer, waiting for it until ctx ends: it writes <seq>-<step>.request
// (under a temporary name first, so the harness never reads half of it)
// and waits for <seq>-<step>.reply, or <seq>-<step>.error, which fails the
// test. Steps of the Rust harness: "stop-leader" (answers the stopped
// node's address) and "converged" with a database name (waits until every
// running member holds a byte-identical copy).
func askHarness(t *testing.T, ctx context.Context, step, argument string) string {
	t.Helper()
	reply, err := tryHarness(t, ctx, step, argument)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// tryHarness is askHarness returning the failure of the step (or of the
// exchange) instead of failing the test.
func tryHarness(t *testing.T, ctx context.Context, step, argument string) (string, error) {
	t.Helper()
	dir := requireHarness(t)
	base := filepath.Join(dir, fmt.Sprintf("%03d-%s", harnessSeq.Add(1), step))
	if err := os.WriteFile(base+".tmp", []byte(argument), 0o600); err != nil {
		return "", fmt.Errorf("asking the harness for %s: %w", step, err)
	}
	if err := os.Rename(base+".tmp", base+".request"); err != nil {
		return "", fmt.Errorf("asking the harness for %s: %w", step, err)
	}
	started := time.Now()
	for {
		if data, err := os.ReadFile(base + ".reply"); err == nil {
			t.Logf("harness: %s %q: %s (after %v)", step, argument, data, time.Since(started).Round(time.Millisecond))
			return string(data), nil
		}
		if data, err := os.ReadFile(base + ".error"); err == nil {
			return "", fmt.Errorf("harness: %s %q failed: %s", step, argument, data)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("harness: no answer to %s %q after %v: %w", step, argument, time.Since(started), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sortedNodes returns nodes ordered by id.
func sortedNodes(nodes []node) []node {
	out := slices.Clone(nodes)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// findNode returns the node of nodes with this id and address.
func findNode(nodes []node, id uint64, address string) (node, bool) {
	for _, n := range nodes {
		if n.ID == id && n.Address == address {
			return n, true
		}
	}
	return node{}, false
}

// waitView polls node address with CLUSTER (bounded by ctx and 10 s) until
// it lists exactly want, and fails the test otherwise.
func waitView(t *testing.T, ctx context.Context, cv clientVersion, address string, want []node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	want = sortedNodes(want)
	var got []node
	var err error
	for {
		var c clientAPI
		c, err = cv.connect(ctx, address)
		if err == nil {
			got, err = c.cluster(ctx)
			_ = c.close()
			if err == nil && slices.Equal(sortedNodes(got), want) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Errorf("CLUSTER on %s: got %+v (error %v), want %+v", address, got, err, want)
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// leaderClient is a client of the leader, found with FindLeader through
// every member, and the leader as it names itself.
func leaderClient(t *testing.T, ctx context.Context, cv clientVersion, nodes []node) (clientAPI, node) {
	t.Helper()
	c, err := cv.findLeader(ctx, nodes)
	if err != nil {
		t.Fatalf("FindLeader(%+v): %v", nodes, err)
	}
	leader, err := c.leader(ctx)
	if err != nil {
		_ = c.close()
		t.Fatalf("Leader: %v", err)
	}
	return c, leader
}

// testClusterClient: the client package against a three-voter cluster:
// FindLeader with a store of every member finds the leader; its CLUSTER
// lists the members as voters with their addresses; every member names the
// same leader and lists the same members.
func testClusterClient(t *testing.T, cv clientVersion) {
	nodes := clusterNodes(t)
	ctx := testContext(t)

	c, leader := leaderClient(t, ctx, cv, nodes)
	defer func() {
		if err := c.close(); err != nil {
			t.Errorf("client close: %v", err)
		}
	}()
	if _, ok := findNode(nodes, leader.ID, leader.Address); !ok {
		t.Fatalf("Leader: got id %d address %q, not a member of %+v", leader.ID, leader.Address, nodes)
	}
	t.Logf("leader: node %d at %s", leader.ID, leader.Address)

	members, err := c.cluster(ctx)
	if err != nil {
		t.Fatalf("Cluster: %v", err)
	}
	if got := sortedNodes(members); !slices.Equal(got, nodes) {
		t.Errorf("Cluster on the leader: got %+v, want %+v", got, nodes)
	}

	// Every member, asked directly, names the same leader and members.
	for _, n := range nodes {
		nc, err := cv.connect(ctx, n.Address)
		if err != nil {
			t.Errorf("client.New(%s): %v", n.Address, err)
			continue
		}
		// A follower learns the leader from its messages: allow a moment.
		var named node
		deadline := time.Now().Add(5 * time.Second)
		for {
			named, err = nc.leader(ctx)
			if (err == nil && named.Address != "") || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("Leader on node %d: %v", n.ID, err)
		} else if named.ID != leader.ID || named.Address != leader.Address {
			t.Errorf("Leader on node %d: got id %d address %q, want id %d address %q",
				n.ID, named.ID, named.Address, leader.ID, leader.Address)
		}
		view, err := nc.cluster(ctx)
		if err != nil {
			t.Errorf("Cluster on node %d: %v", n.ID, err)
		} else if got := sortedNodes(view); !slices.Equal(got, nodes) {
			t.Errorf("Cluster on node %d: got %+v, want %+v", n.ID, got, nodes)
		}
		if err := nc.close(); err != nil {
			t.Errorf("client close: %v", err)
		}
	}
}

// sample is one row of table samples.
type sample struct {
	ID   int64
	R    int64
	At   string
	Blob []byte
	Note string
}

func readSamples(t *testing.T, ctx context.Context, db *sql.DB) []sample {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT id, r, at, b, note FROM samples ORDER BY id")
	if err != nil {
		t.Fatalf("select samples: %v", err)
	}
	defer rows.Close()
	var out []sample
	for rows.Next() {
		var s sample
		if err := rows.Scan(&s.ID, &s.R, &s.At, &s.Blob, &s.Note); err != nil {
			t.Fatalf("scan sample: %v", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("select samples: %v", err)
	}
	return out
}

func sameSamples(a, b []sample) bool {
	return slices.EqualFunc(a, b, func(x, y sample) bool {
		return x.ID == y.ID && x.R == y.R && x.At == y.At && string(x.Blob) == string(y.Blob) && x.Note == y.Note
	})
}

// testClusterSQL: database/sql with a node store of every member: writes
// with non-deterministic values (random(), randomblob(), datetime('now'))
// in single statements, a transaction and a multi-row insert; they read back
// the same through other connections, and every member holds a
// byte-identical copy of the database (the values were replicated, not
// computed again on each node).
func testClusterSQL(t *testing.T, f flavor) {
	nodes := clusterNodes(t)
	requireHarness(t)
	ctx := testContext(t)
	name := dbName(t)
	db := f.openNodes(t, name, nodes)

	mustExec(t, ctx, db, `CREATE TABLE samples (
		id INTEGER PRIMARY KEY, r INTEGER NOT NULL, at TEXT NOT NULL, b BLOB NOT NULL, note TEXT NOT NULL)`)
	const insert = "INSERT INTO samples (r, at, b, note) VALUES (random(), datetime('now'), randomblob(16), ?)"
	for i := 1; i <= 20; i++ {
		mustExec(t, ctx, db, insert, fmt.Sprintf("single %d", i))
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	for i := 1; i <= 10; i++ {
		if _, err := tx.ExecContext(ctx, insert, fmt.Sprintf("transaction %d", i)); err != nil {
			_ = tx.Rollback()
			t.Fatalf("insert in transaction: %v", err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	mustExec(t, ctx, db, `INSERT INTO samples (r, at, b, note)
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20)
		SELECT random(), datetime('now'), randomblob(16), 'cte ' || x FROM c`)

	first := readSamples(t, ctx, db)
	if len(first) != 50 {
		t.Fatalf("read %d rows, want 50", len(first))
	}
	distinct := map[int64]bool{}
	now := time.Now().UTC()
	for i, s := range first {
		var want string
		switch {
		case i < 20:
			want = fmt.Sprintf("single %d", i+1)
		case i < 30:
			want = fmt.Sprintf("transaction %d", i-19)
		default:
			want = fmt.Sprintf("cte %d", i-29)
		}
		if s.ID != int64(i+1) || s.Note != want {
			t.Errorf("row %d: id %d note %q, want id %d note %q", i, s.ID, s.Note, i+1, want)
		}
		at, err := time.Parse(time.DateTime, s.At)
		if err != nil || at.Sub(now).Abs() > 10*time.Minute {
			t.Errorf("row %d: at %q is not the time now (%v, error %v)", i, s.At, now, err)
		}
		if len(s.Blob) != 16 {
			t.Errorf("row %d: randomblob(16) read back as %d bytes", i, len(s.Blob))
		}
		distinct[s.R] = true
	}
	if len(distinct) < 45 {
		t.Errorf("random() gave only %d distinct values in 50 rows", len(distinct))
	}

	askHarness(t, ctx, "converged", name)

	// A second handle, its store in another order: fresh connections, same
	// values.
	reversed := slices.Clone(nodes)
	slices.Reverse(reversed)
	other := f.openNodes(t, name, reversed)
	if second := readSamples(t, ctx, other); !sameSamples(first, second) {
		t.Errorf("another handle read different rows:\n first %+v\nsecond %+v", first, second)
	}

	// Values computed in an UPDATE are replicated too.
	res := mustExec(t, ctx, db, "UPDATE samples SET r = random(), at = datetime('now', '+1 day') WHERE id % 2 = 0")
	if n, err := res.RowsAffected(); err != nil || n != 25 {
		t.Errorf("update: %d rows affected (error %v), want 25", n, err)
	}
	third := readSamples(t, ctx, db)
	if fourth := readSamples(t, ctx, other); !sameSamples(third, fourth) {
		t.Errorf("the two handles read different rows after the update:\n%+v\n%+v", third, fourth)
	}
	if sameSamples(first, third) {
		t.Errorf("the update changed nothing")
	}
	askHarness(t, ctx, "converged", name)
}

// failoverRetryable tells whether err is what a client may meet while the
// cluster elects a new leader, which an application retries (as LXD does):
// a broken connection, "not leader", "leadership lost", or no leader found.
func failoverRetryable(f flavor, err error) bool {
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	switch f.code(err) {
	case codeNotLeader, codeLeadershipLost:
		return true
	}
	msg := err.Error()
	for _, s := range []string{
		"no available dqlite leader server found",
		"failed to create dqlite connection",
		"not leader",
		"leadership lost",
		"connection refused",
		"connection reset",
		"broken pipe",
		"EOF",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// retryFailover runs op until it succeeds, retrying failoverRetryable
// errors (and attempts that timed out) with a short pause, for up to
// failoverTimeout. Each attempt gets a context of its own. It returns the
// errors it retried, and the last error if op did not succeed.
func retryFailover(ctx context.Context, f flavor, op func(ctx context.Context) error) (retried []error, err error) {
	deadline := time.Now().Add(failoverTimeout)
	for {
		attempt, cancel := context.WithTimeout(ctx, contextTimeout)
		err := op(attempt)
		timedOut := attempt.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			return retried, nil
		}
		if !failoverRetryable(f, err) && !timedOut {
			return retried, fmt.Errorf("%w (not an error of a leadership change)", err)
		}
		retried = append(retried, err)
		if time.Now().After(deadline) {
			return retried, fmt.Errorf("still failing after %v: %w", failoverTimeout, err)
		}
		select {
		case <-ctx.Done():
			return retried, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// mustRetryFailover is retryFailover failing the test on error.
func mustRetryFailover(t *testing.T, ctx context.Context, f flavor, what string, op func(ctx context.Context) error) {
	t.Helper()
	retried, err := retryFailover(ctx, f, op)
	if err != nil {
		t.Fatalf("%s: %v; retried before: %v", what, err, retried)
	}
	for _, err := range retried {
		t.Logf("%s: retried: %v", what, err)
	}
}

// event is one row of table events.
type event struct {
	ID    int64
	Phase string
	R     int64
	At    string
}

// failoverWriter inserts rows first, first+1... into table events, one
// statement each, as fast as it can, retrying the errors of a leadership
// change, until told to stop.
//
// The write in flight when the leader stops has an unknown fate: the old
// leader may have replicated it before it stopped, and then the new leader
// commits it although its client saw the connection break. A retry of it
// then finds its id taken. The retry may be the writer's own, or one that
// database/sql made by itself (go-dqlite turns a broken connection into
// driver.ErrBadConn, on which database/sql runs the statement again on
// another connection), so that the first error the writer sees is the
// PRIMARY KEY conflict. Once the leader is being stopped (stopping), such a
// conflict on the row being written means it was committed; at most one
// row (the one in flight) may be in that case.
type failoverWriter struct {
	t      *testing.T
	f      flavor
	db     *sql.DB
	phase  string
	next   int64
	stop   chan struct{} // closed once, by stopOnce
	done   chan struct{}
	err    error   // set before done closes
	retry  []error // errors retried
	mu     sync.Mutex
	writes int64 // rows written so far
	// written is signalled (without blocking) after each row.
	written  chan struct{}
	stopOnce sync.Once
	// stopping is set just before the leader is stopped.
	stopping atomic.Bool
	// inFlight counts the rows found committed by an attempt whose answer
	// was lost.
	inFlight atomic.Int64
}

// startFailoverWriter starts a writer of rows first, first+1... If the test
// ends before finish, the writer is cancelled and waited for.
func startFailoverWriter(t *testing.T, ctx context.Context, f flavor, db *sql.DB, first int64, phase string) *failoverWriter {
	w := &failoverWriter{
		t: t, f: f, db: db, phase: phase, next: first,
		stop: make(chan struct{}), done: make(chan struct{}), written: make(chan struct{}, 1),
	}
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() {
		cancel()
		w.stopOnce.Do(func() { close(w.stop) })
		<-w.done
	})
	go w.run(ctx)
	return w
}

func (w *failoverWriter) run(ctx context.Context) {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		id := w.next
		ambiguous := false
		retried, err := retryFailover(ctx, w.f, func(ctx context.Context) error {
			_, err := w.db.ExecContext(ctx, failoverInsert, id, w.phase)
			if err != nil && (ambiguous || w.stopping.Load()) && w.f.code(err) == codePrimaryKey {
				// An earlier attempt was committed, its answer lost.
				w.t.Logf("row %d: an earlier attempt was committed: %v", id, err)
				w.inFlight.Add(1)
				return nil
			}
			if err != nil {
				ambiguous = true
			}
			return err
		})
		w.mu.Lock()
		w.retry = append(w.retry, retried...)
		if err != nil {
			w.err = fmt.Errorf("insert row %d: %w", id, err)
		} else {
			w.writes++
			w.next++
		}
		w.mu.Unlock()
		if err != nil {
			return
		}
		select {
		case w.written <- struct{}{}:
		default:
		}
	}
}

// waitWrites waits until the writer has written n rows in all, or failed.
func (w *failoverWriter) waitWrites(t *testing.T, ctx context.Context, n int64) {
	t.Helper()
	for {
		w.mu.Lock()
		writes, err := w.writes, w.err
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("writer: %v", err)
		}
		if writes >= n {
			return
		}
		select {
		case <-w.written:
		case <-w.done:
		case <-ctx.Done():
			t.Fatalf("writer: %d rows written, waiting for %d: %v", writes, n, ctx.Err())
		}
	}
}

// finish stops the writer and returns the id of the last row it wrote, and
// the errors it retried.
func (w *failoverWriter) finish(t *testing.T) (last int64, retried []error) {
	t.Helper()
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
	if w.err != nil {
		t.Fatalf("writer: %v; retried before: %v", w.err, w.retry)
	}
	return w.next - 1, w.retry
}

const failoverInsert = "INSERT INTO events (id, phase, r, at) VALUES (?, ?, random(), datetime('now'))"

// testClusterFailover: database/sql with a node store of every member
// writes rows; a writer goroutine keeps writing through the same *sql.DB
// while the harness stops the leader (as a crash would: no handover),
// retrying (bounded) the errors of the leadership change as an application
// does, until a new leader serves it. No row written before is lost or
// changed, every write that succeeded is there, and the surviving members
// hold identical copies.
func testClusterFailover(t *testing.T, f flavor, cv clientVersion) {
	nodes := clusterNodes(t)
	requireHarness(t)
	ctx := testContext(t)
	name := dbName(t)
	db := f.openNodes(t, name, nodes)

	const before = 20 // rows written before the writer starts
	const during = 10 // rows the writer writes before the leader stops
	const after = 20  // rows the writer writes after the leader stopped
	mustExec(t, ctx, db, "CREATE TABLE events (id INTEGER PRIMARY KEY, phase TEXT NOT NULL, r INTEGER NOT NULL, at TEXT NOT NULL)")
	for id := 1; id <= before; id++ {
		mustExec(t, ctx, db, failoverInsert, id, "before")
	}
	readEvents := func(ctx context.Context) ([]event, error) {
		rows, err := db.QueryContext(ctx, "SELECT id, phase, r, at FROM events ORDER BY id")
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []event
		for rows.Next() {
			var e event
			if err := rows.Scan(&e.ID, &e.Phase, &e.R, &e.At); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, rows.Err()
	}
	first, err := readEvents(ctx)
	if err != nil || len(first) != before {
		t.Fatalf("read %d rows before the failover (error %v), want %d", len(first), err, before)
	}

	c, oldLeader := leaderClient(t, ctx, cv, nodes)
	_ = c.close()

	// The leader stops while the writer is busy: a write is likely in
	// flight.
	w := startFailoverWriter(t, ctx, f, db, before+1, "writer")
	w.waitWrites(t, ctx, during)
	w.stopping.Store(true)
	stopped := askHarness(t, ctx, "stop-leader", "")
	stoppedAt := time.Now()
	w.mu.Lock()
	atStop := w.writes
	w.mu.Unlock()
	if stopped != oldLeader.Address {
		t.Logf("the leader moved by itself before it was stopped: it was %s, %s was stopped", oldLeader.Address, stopped)
	}
	if !slices.ContainsFunc(nodes, func(n node) bool { return n.Address == stopped }) {
		t.Fatalf("the harness stopped %q, not a member of %+v", stopped, nodes)
	}
	w.waitWrites(t, ctx, atStop+1)
	resumed := time.Since(stoppedAt)
	w.waitWrites(t, ctx, atStop+after)
	last, retried := w.finish(t)
	if n := w.inFlight.Load(); n > 1 {
		t.Errorf("%d rows were committed although their writes failed; only the one in flight when the leader stopped may be", n)
	}
	t.Logf("the writer wrote rows %d to %d, %d of them before the leader stopped; "+
		"it wrote again %v after the leader stopped; %d errors retried",
		before+1, last, atStop, resumed.Round(time.Millisecond), len(retried))
	for i, err := range retried {
		if i == 10 {
			t.Logf("... and %d more", len(retried)-i)
			break
		}
		t.Logf("retried: %v", err)
	}

	var all []event
	mustRetryFailover(t, ctx, f, "read back", func(ctx context.Context) error {
		var err error
		all, err = readEvents(ctx)
		return err
	})
	if int64(len(all)) != last {
		t.Errorf("read %d rows after the failover, want %d", len(all), last)
	}
	if len(all) < before || !slices.Equal(all[:before], first) {
		t.Errorf("the rows written before the failover changed:\nbefore %+v\n after %+v", first, all[:min(len(all), before)])
	}
	for i, e := range all[min(len(all), before):] {
		if want := int64(before + 1 + i); e.ID != want || e.Phase != "writer" {
			t.Errorf("row %d: %+v, want id %d phase writer", before+i, e, want)
		}
	}

	// A new leader, among the others; the stopped node is still a member.
	var newLeader node
	mustRetryFailover(t, ctx, f, "find the new leader", func(ctx context.Context) error {
		c, err := cv.findLeader(ctx, nodes)
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
	if newLeader.Address == stopped {
		t.Errorf("the new leader %+v is the stopped node", newLeader)
	} else if _, ok := findNode(nodes, newLeader.ID, newLeader.Address); !ok {
		t.Errorf("the new leader %+v is not a member of %+v", newLeader, nodes)
	}
	t.Logf("new leader: node %d at %s", newLeader.ID, newLeader.Address)

	askHarness(t, ctx, "converged", name)
}

// testClusterMembership: the client package on the leader changes the
// membership: Add of a fourth node as a spare, Assign it the stand-by role,
// Remove it; then Add it again as a voter (go-dqlite's Add then assigns the
// role; the node catches up first) and Remove it again. CLUSTER on the
// leader, and then on every member, shows each step.
func testClusterMembership(t *testing.T, cv clientVersion) {
	nodes := clusterNodes(t)
	extra := newNode(t, nodes)
	ctx := testContext(t)

	c, leader := leaderClient(t, ctx, cv, nodes)
	defer func() {
		if err := c.close(); err != nil {
			t.Errorf("client close: %v", err)
		}
	}()
	t.Logf("leader: node %d at %s", leader.ID, leader.Address)

	// check: CLUSTER on the leader lists want at once, and every voter and
	// stand-by (which receive the log) soon does.
	check := func(step string, want []node) {
		t.Helper()
		members, err := c.cluster(ctx)
		if err != nil {
			t.Fatalf("%s: Cluster: %v", step, err)
		}
		if got := sortedNodes(members); !slices.Equal(got, sortedNodes(want)) {
			t.Fatalf("%s: Cluster on the leader: got %+v, want %+v", step, got, want)
		}
		for _, n := range want {
			if n.Role != "spare" {
				waitView(t, ctx, cv, n.Address, want)
			}
		}
	}

	spare := extra
	if err := c.add(ctx, spare); err != nil {
		t.Fatalf("Add(%+v): %v", spare, err)
	}
	check("after Add as spare", append(slices.Clone(nodes), spare))

	if err := c.add(ctx, spare); err == nil {
		t.Errorf("Add of node %d again: no error", spare.ID)
	} else {
		t.Logf("Add of node %d again: %v", spare.ID, err)
	}
	if err := c.assign(ctx, spare.ID, "spare"); err == nil {
		t.Errorf("Assign of its own role to node %d: no error", spare.ID)
	} else {
		t.Logf("Assign of its own role to node %d: %v", spare.ID, err)
	}

	standBy := spare
	standBy.Role = "stand-by"
	if err := c.assign(ctx, spare.ID, "stand-by"); err != nil {
		t.Fatalf("Assign(%d, stand-by): %v", spare.ID, err)
	}
	check("after Assign stand-by", append(slices.Clone(nodes), standBy))

	if err := c.remove(ctx, spare.ID); err != nil {
		t.Fatalf("Remove(%d): %v", spare.ID, err)
	}
	check("after Remove", nodes)
	if err := c.remove(ctx, spare.ID); err == nil {
		t.Errorf("Remove of node %d again: no error", spare.ID)
	} else {
		t.Logf("Remove of node %d again: %v", spare.ID, err)
	}

	voter := extra
	voter.Role = "voter"
	if err := c.add(ctx, voter); err != nil {
		t.Fatalf("Add(%+v): %v", voter, err)
	}
	check("after Add as voter", append(slices.Clone(nodes), voter))

	if err := c.remove(ctx, voter.ID); err != nil {
		t.Fatalf("Remove(%d) of a voter: %v", voter.ID, err)
	}
	check("after Remove of the voter", nodes)
}
