package compat

// Linearizability under faults. Several go-dqlite v3 clients read, write
// and compare-and-set a few integer keys of one table, as fast as a short
// random pause allows, while the test asks the harness for faults: SIGKILL
// of the leader, of a follower, of two nodes in a row (each started again
// from its data directory), and the leader cut off from the other two
// nodes (clients still reach it) for 7 s, then the next leader for 1.5 s.
// Every operation is recorded with the
// times it was sent and answered, and the history is checked with
// porcupine against a register per key.
//
// Each client uses a connection of the go-dqlite v3 driver directly
// (driver.Conn, not database/sql, which would run a statement again by
// itself after driver.ErrBadConn), one request per operation; after any
// error it drops the connection and connects again to the leader it finds
// through every node. What an error means for the history:
//
//   - a failed read is dropped: it changed nothing and observed nothing;
//   - a failed write or compare-and-set may have been applied, at any
//     moment after it was sent (even after the client gave up, once a new
//     leader commits its entry): it is recorded with an unknown outcome
//     and a return time of +inf, so porcupine may place it anywhere after
//     its call, including at the very end, where it has no effect.
//
// The harness is the Rust test tests/linearizability.rs, whose steps are
// "kill <id>", "start <id>", "isolate <id>" and "heal" (see askHarness). On
// a failure the test writes porcupine's visualization and the history into
// DQLITE_REPORT_DIR and names the files.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	client3 "github.com/canonical/go-dqlite/v3/client"
	driver3 "github.com/canonical/go-dqlite/v3/driver"
)

const (
	// reportDirEnv names the directory for the files that explain a
	// failure.
	reportDirEnv = "DQLITE_REPORT_DIR"
	// linClients is the number of concurrent clients.
	linClients = 6
	// linKeys is the number of keys (rows of table kv).
	linKeys = 5
	// linMaxPause is the longest pause a client takes between operations.
	linMaxPause = 10 * time.Millisecond
	// linOpTimeout bounds one operation: longer than the 5 s after which a
	// leader cut off from its quorum answers, so its answer arrives.
	linOpTimeout = 8 * time.Second
	// linConnectTimeout bounds one attempt to connect to the leader.
	linConnectTimeout = 3 * time.Second
	// linCheckTimeout bounds porcupine's check; running out of time fails
	// the test.
	linCheckTimeout = 20 * time.Second
	// linTestTimeout bounds the whole scenario.
	linTestTimeout = 100 * time.Second
)

func TestV3LinearizableUnderFaults(t *testing.T) { testLinearizableUnderFaults(t) }

// kvKind is the kind of an operation on one key.
type kvKind uint8

const (
	kvRead kvKind = iota
	kvWrite
	kvCAS
)

// kvInput is an operation: read Key; write Value to Key; or set Key to
// Value if it holds Old.
type kvInput struct {
	Kind  kvKind
	Key   int
	Value int64
	Old   int64
}

// kvOutput is an operation's outcome: the value read, whether a
// compare-and-set swapped, or Unknown for a write whose request failed.
type kvOutput struct {
	Value   int64
	Swapped bool
	Unknown bool
}

// kvModel is one integer register per key, 0 at first.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := make([][]porcupine.Operation, linKeys)
		for _, op := range history {
			k := op.Input.(kvInput).Key
			byKey[k] = append(byKey[k], op)
		}
		return byKey
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		s := state.(int64)
		in := input.(kvInput)
		out := output.(kvOutput)
		switch in.Kind {
		case kvRead:
			return out.Value == s, s
		case kvWrite:
			return true, in.Value
		case kvCAS:
			matches := s == in.Old
			if !out.Unknown && out.Swapped != matches {
				return false, s
			}
			if matches {
				return true, in.Value
			}
			return true, s
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		out := output.(kvOutput)
		return describeKV(in, out)
	},
	DescribeState: func(state any) string { return describeValue(state.(int64)) },
}

// describeValue shows a value as client/sequence (values are
// (client+1)<<32 | sequence), or 0.
func describeValue(v int64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("c%d#%d", v>>32-1, v&math.MaxUint32)
}

func describeKV(in kvInput, out kvOutput) string {
	var s string
	switch in.Kind {
	case kvRead:
		return fmt.Sprintf("read(k%d) -> %s", in.Key, describeValue(out.Value))
	case kvWrite:
		s = fmt.Sprintf("write(k%d, %s)", in.Key, describeValue(in.Value))
	case kvCAS:
		s = fmt.Sprintf("cas(k%d, %s -> %s)", in.Key, describeValue(in.Old), describeValue(in.Value))
		if !out.Unknown {
			s += fmt.Sprintf(" -> %v", out.Swapped)
		}
	}
	if out.Unknown {
		s += " -> ?"
	}
	return s
}

// linHistory collects the operations of every client, and counts.
type linHistory struct {
	start time.Time

	mu             sync.Mutex
	ops            []porcupine.Operation
	ok             map[kvKind]int
	swapped        int
	indeterminate  map[kvKind]int
	readsFailed    int
	connectsFailed int
	errors         map[string]int // failed operations, by error
	driverLog      map[string]int // go-dqlite's reasons for a bad connection
}

func newLinHistory() *linHistory {
	return &linHistory{
		start:         time.Now(),
		ok:            map[kvKind]int{},
		indeterminate: map[kvKind]int{},
		errors:        map[string]int{},
		driverLog:     map[string]int{},
	}
}

// now is the time since the history started, in nanoseconds (monotonic).
func (h *linHistory) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *linHistory) add(client int, in kvInput, call int64, out kvOutput, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.ok[in.Kind]++
	if in.Kind == kvCAS && out.Swapped {
		h.swapped++
	}
}

// failed records the failure of an operation: dropped if it was a read,
// possibly applied (return time +inf) if it wrote.
func (h *linHistory) failed(client int, in kvInput, call int64, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errors[errorClass(err)]++
	if in.Kind == kvRead {
		h.readsFailed++
		return
	}
	h.indeterminate[in.Kind]++
	h.ops = append(h.ops, porcupine.Operation{
		ClientId: client, Input: in, Call: call, Output: kvOutput{Unknown: true}, Return: math.MaxInt64,
	})
}

func (h *linHistory) connectFailed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.connectsFailed++
	h.errors["connect: "+errorClass(err)]++
}

// logDriver counts the reasons go-dqlite gives (in its debug log) for
// turning an error into driver.ErrBadConn, which hides the failure code.
func (h *linHistory) logDriver(_ client3.LogLevel, format string, a ...any) {
	var key string
	switch {
	case strings.HasPrefix(format, "leadership lost") && len(a) > 0:
		key = fmt.Sprintf("failure code %v", a[0])
	case strings.HasPrefix(format, "network connection lost"):
		key = "network connection lost"
	case strings.HasPrefix(format, "EOF detected"):
		key = "EOF"
	case strings.HasPrefix(format, "not found"):
		key = "not found"
	default:
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.driverLog[key]++
}

// errorClass shortens an error for the counts.
func errorClass(err error) string {
	var e driver3.Error
	switch {
	case errors.As(err, &e):
		return fmt.Sprintf("failure code %d", e.Code)
	case errors.Is(err, driver.ErrBadConn):
		return "bad connection (see go-dqlite's reasons)"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	msg := err.Error()
	for _, s := range []string{"no available dqlite leader server found", "connection refused", "connection reset", "EOF"} {
		if strings.Contains(msg, s) {
			return s
		}
	}
	return abbrev(msg)
}

// linClient is one client: its own connection to the leader, and the
// last value it saw of each key (the expected value of its
// compare-and-sets).
type linClient struct {
	id        int
	connector driver.Connector
	h         *linHistory
	rng       *rand.Rand
	seq       int64
	last      [linKeys]int64
}

// run does operations until stop closes, reconnecting after every error.
// It returns an error only for a reply no server may give (a missing row,
// a count of changed rows other than 0 or 1).
func (c *linClient) run(ctx context.Context, stop <-chan struct{}) error {
	var conn driver.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		default:
		}
		if conn == nil {
			attempt, cancel := context.WithTimeout(ctx, linConnectTimeout)
			var err error
			conn, err = c.connector.Connect(attempt)
			cancel()
			if err != nil {
				conn = nil
				c.h.connectFailed(err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
		}
		connErr, err := c.step(ctx, conn)
		if err != nil {
			return err
		}
		if connErr != nil {
			_ = conn.Close()
			conn = nil
		}
		time.Sleep(time.Duration(c.rng.Int63n(int64(linMaxPause))))
	}
}

// step does one random operation on conn and records it. connErr is the
// request's error (the connection is then dropped); err is a reply that
// fails the test.
func (c *linClient) step(ctx context.Context, conn driver.Conn) (connErr, err error) {
	key := c.rng.Intn(linKeys)
	ctx, cancel := context.WithTimeout(ctx, linOpTimeout)
	defer cancel()
	var in kvInput
	switch r := c.rng.Intn(100); {
	case r < 50:
		in = kvInput{Kind: kvRead, Key: key}
	case r < 75:
		c.seq++
		in = kvInput{Kind: kvWrite, Key: key, Value: int64(c.id+1)<<32 | c.seq}
	default:
		c.seq++
		in = kvInput{Kind: kvCAS, Key: key, Value: int64(c.id+1)<<32 | c.seq, Old: c.last[key]}
	}
	call := c.h.now()
	if in.Kind == kvRead {
		v, closeErr, err := readKey(ctx, conn, key)
		ret := c.h.now()
		if err != nil {
			c.h.failed(c.id, in, call, err)
			return err, nil
		}
		c.last[key] = v
		c.h.add(c.id, in, call, kvOutput{Value: v}, ret)
		return closeErr, nil
	}
	var res driver.Result
	if in.Kind == kvWrite {
		res, err = exec(ctx, conn, "UPDATE kv SET v = ? WHERE k = ?", in.Value, int64(key))
	} else {
		res, err = exec(ctx, conn, "UPDATE kv SET v = ? WHERE k = ? AND v = ?", in.Value, int64(key), in.Old)
	}
	ret := c.h.now()
	if err != nil {
		c.h.failed(c.id, in, call, err)
		return err, nil
	}
	n, err := res.RowsAffected()
	if err != nil || n < 0 || n > 1 || (in.Kind == kvWrite && n != 1) {
		return nil, fmt.Errorf("%s: %d rows changed (error %v)", describeKV(in, kvOutput{}), n, err)
	}
	c.h.add(c.id, in, call, kvOutput{Swapped: n == 1}, ret)
	if n == 1 {
		c.last[key] = in.Value
	}
	return nil, nil
}

func namedValues(args []any) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return out
}

func exec(ctx context.Context, conn driver.Conn, query string, args ...any) (driver.Result, error) {
	return conn.(driver.ExecerContext).ExecContext(ctx, query, namedValues(args))
}

// readKey reads key's value. An error of closing the rows after the value
// arrived is returned apart (closeErr): the read happened.
func readKey(ctx context.Context, conn driver.Conn, key int) (v int64, closeErr, err error) {
	rows, err := conn.(driver.QueryerContext).QueryContext(ctx, "SELECT v FROM kv WHERE k = ?", namedValues([]any{int64(key)}))
	if err != nil {
		return 0, nil, err
	}
	dest := make([]driver.Value, 1)
	err = rows.Next(dest)
	if err == nil {
		if end := rows.Next(make([]driver.Value, 1)); end != io.EOF {
			err = fmt.Errorf("a second row or an error after the row: %v", end)
		}
	}
	if err != nil {
		_ = rows.Close()
		return 0, nil, err
	}
	v, ok := dest[0].(int64)
	if !ok {
		_ = rows.Close()
		return 0, nil, fmt.Errorf("k%d holds %T %v, not an integer", key, dest[0], dest[0])
	}
	return v, rows.Close(), nil
}

// faultLog takes the faults in turn and records them, for the log and the
// visualization. The first step that fails stops the schedule: every later
// step does nothing, and err tells why.
type faultLog struct {
	t      *testing.T
	ctx    context.Context
	h      *linHistory
	nodes  []node
	events []porcupine.Annotation
	err    error
}

// do asks the harness for a fault step.
func (f *faultLog) do(step string, id uint64) {
	f.t.Helper()
	if f.err != nil {
		return
	}
	arg := ""
	if id != 0 {
		arg = fmt.Sprint(id)
	}
	at := f.h.now()
	reply, err := tryHarness(f.t, f.ctx, step, arg)
	if err != nil {
		f.err = err
		return
	}
	f.events = append(f.events, porcupine.Annotation{
		Tag: "faults", Start: at, End: f.h.now(), Description: strings.TrimSpace(step + " " + arg), Details: reply,
	})
}

func (f *faultLog) sleep(d time.Duration) {
	if f.err != nil {
		return
	}
	select {
	case <-f.ctx.Done():
	case <-time.After(d):
	}
}

// leader returns the id of the node the cluster names as leader,
// retrying (bounded) while it elects one.
func (f *faultLog) leader() uint64 {
	f.t.Helper()
	if f.err != nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(f.ctx, failoverTimeout)
	defer cancel()
	var lastErr error
	for {
		c, err := clientsV3.findLeader(ctx, f.nodes)
		if err == nil {
			var l node
			l, err = c.leader(ctx)
			_ = c.close()
			if err == nil && l.ID != 0 {
				return l.ID
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			f.err = fmt.Errorf("no leader within %v: %v", failoverTimeout, lastErr)
			return 0
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// run takes the faults: SIGKILL of the leader, of a follower, of two
// nodes in a row (each started again), then the leader cut off for 7 s
// (longer than the 5 s after which it answers "leadership lost") and the
// next one for 1.5 s (about an election timeout). It returns when the
// last partition healed (h.now()), or -1 if a step failed (f.err).
func (f *faultLog) run() (healed int64) {
	other := func(id uint64) uint64 { return id%3 + 1 }
	f.sleep(2 * time.Second)
	l := f.leader()
	f.do("kill", l)
	f.sleep(2 * time.Second)
	f.do("start", l)
	f.sleep(2500 * time.Millisecond)

	follower := other(f.leader())
	f.do("kill", follower)
	f.sleep(2 * time.Second)
	f.do("start", follower)
	f.sleep(2500 * time.Millisecond)

	l = f.leader()
	second := other(l)
	f.do("kill", l)
	f.sleep(time.Second)
	f.do("kill", second)
	f.sleep(2 * time.Second)
	f.do("start", l)
	f.do("start", second)
	f.sleep(3 * time.Second)

	l = f.leader()
	f.do("isolate", l)
	f.sleep(7 * time.Second)
	f.do("heal", 0)
	f.sleep(2500 * time.Millisecond)
	l = f.leader()
	f.do("isolate", l)
	f.sleep(1500 * time.Millisecond)
	f.do("heal", 0)
	if f.err != nil {
		return -1
	}
	return f.h.now()
}

// waitVoters waits (bounded) until the leader lists every node as a voter.
func waitVoters(t *testing.T, ctx context.Context, nodes []node) {
	t.Helper()
	waitVotersWith(t, ctx, clientsV3, nodes)
}

// waitVotersWith is waitVoters with the clients of cv.
func waitVotersWith(t *testing.T, ctx context.Context, cv clientVersion, nodes []node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var got []node
	var err error
	for {
		var c clientAPI
		c, err = cv.findLeader(ctx, nodes)
		if err == nil {
			got, err = c.cluster(ctx)
			_ = c.close()
			if err == nil && slices.Equal(sortedNodes(got), nodes) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the nodes did not become three voters: last view %+v (error %v)", got, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitSameImages waits (bounded) until every node's DUMP of database
// name is byte-identical, and returns its size.
func waitSameImages(t *testing.T, ctx context.Context, nodes []node, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var last string
	for {
		var images [][]byte
		var problems []string
		for _, n := range nodes {
			c, err := client3.New(ctx, n.Address)
			if err != nil {
				problems = append(problems, fmt.Sprintf("node %d: %v", n.ID, err))
				continue
			}
			files, err := c.Dump(ctx, name)
			_ = c.Close()
			if err != nil {
				problems = append(problems, fmt.Sprintf("node %d: dump: %v", n.ID, err))
				continue
			}
			var image []byte
			for _, f := range files {
				image = append(image, f.Data...)
			}
			images = append(images, image)
		}
		same := len(problems) == 0 && len(images) == len(nodes)
		for i := 1; same && i < len(images); i++ {
			same = string(images[i]) == string(images[0])
		}
		if same {
			return len(images[0])
		}
		sizes := make([]int, len(images))
		for i, im := range images {
			sizes[i] = len(im)
		}
		last = fmt.Sprintf("image sizes %v, problems %v", sizes, problems)
		select {
		case <-ctx.Done():
			t.Fatalf("the nodes' copies of %s did not become identical: %s", name, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// testLinearizableUnderFaults: see the top of this file.
// bulkLoad writes 8 KiB blobs to db until stop, keeping the last 60, and
// ignores failures (the faults cause many).
func bulkLoad(ctx context.Context, db *sql.DB, stop <-chan struct{}) {
	statements := []string{
		"CREATE TABLE IF NOT EXISTS pad (b BLOB)",
		"INSERT INTO pad VALUES (randomblob(8192))",
		"DELETE FROM pad WHERE rowid < (SELECT max(rowid) FROM pad) - 60",
	}
	for {
		for _, statement := range statements {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			attempt, cancel := context.WithTimeout(ctx, time.Second)
			if _, err := db.ExecContext(attempt, statement); err != nil {
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
		}
	}
}

func testLinearizableUnderFaults(t *testing.T) {
	nodes := clusterNodes(t)
	requireHarness(t)
	if len(nodes) != 3 {
		t.Fatalf("this scenario needs 3 nodes, %s names %d", clusterEnv, len(nodes))
	}
	checkModel(t)
	reportDir := os.Getenv(reportDirEnv)
	if reportDir == "" {
		reportDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), linTestTimeout)
	defer cancel()
	waitVoters(t, ctx, nodes)

	name := dbName(t)
	db := v3.openNodes(t, name, nodes)
	mustRetryFailover(t, ctx, v3, "create table kv", func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
		return err
	})
	for k := 0; k < linKeys; k++ {
		mustRetryFailover(t, ctx, v3, "insert a key", func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, "INSERT OR IGNORE INTO kv (k, v) VALUES (?, 0)", k)
			return err
		})
	}
	_ = db.Close()

	h := newLinHistory()
	store := client3.NewInmemNodeStore()
	infos := make([]client3.NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		infos = append(infos, client3.NodeInfo{ID: n.ID, Address: n.Address})
	}
	if err := store.Set(ctx, infos); err != nil {
		t.Fatalf("node store: %v", err)
	}
	drv, err := driver3.New(store,
		driver3.WithConnectionTimeout(linConnectTimeout),
		driver3.WithAttemptTimeout(time.Second),
		driver3.WithRetryLimit(retryLimit),
		driver3.WithLogFunc(h.logDriver),
	)
	if err != nil {
		t.Fatalf("driver.New: %v", err)
	}
	connector, err := drv.OpenConnector(name)
	if err != nil {
		t.Fatalf("OpenConnector: %v", err)
	}

	// The clients.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	clientErrs := make([]error, linClients)
	for i := 0; i < linClients; i++ {
		c := &linClient{id: i, connector: connector, h: h, rng: rand.New(rand.NewSource(time.Now().UnixNano() + int64(i)))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			clientErrs[i] = c.run(ctx, stop)
		}()
	}
	stopped := false
	stopClients := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopClients()

	// Large writes to another database meanwhile, so that the nodes take
	// snapshots often: a node started again after a fault catches up by
	// snapshot install, and more snapshots follow. Their outcome is not
	// part of the history.
	bulkConnector, err := drv.OpenConnector(name + "_bulk")
	if err != nil {
		t.Fatalf("OpenConnector: %v", err)
	}
	bulk := sql.OpenDB(bulkConnector)
	defer bulk.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		bulkLoad(ctx, bulk, stop)
	}()

	// The faults, then 3 s more of operations.
	f := &faultLog{t: t, ctx: ctx, h: h, nodes: nodes}
	healed := f.run()
	if f.err == nil {
		time.Sleep(3 * time.Second)
	}
	stopClients()
	if f.err != nil {
		t.Errorf("the fault schedule stopped (the history so far is checked all the same): %v", f.err)
	}
	for i, err := range clientErrs {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}

	// What happened.
	h.mu.Lock()
	ops := slices.Clone(h.ops)
	okOps := h.ok[kvRead] + h.ok[kvWrite] + h.ok[kvCAS]
	t.Logf("history: %d operations: %d ok (%d reads, %d writes, %d compare-and-sets of which %d swapped); "+
		"%d indeterminate (%d writes, %d compare-and-sets); %d failed reads dropped; %d failed connects",
		len(ops), okOps, h.ok[kvRead], h.ok[kvWrite], h.ok[kvCAS], h.swapped,
		h.indeterminate[kvWrite]+h.indeterminate[kvCAS], h.indeterminate[kvWrite], h.indeterminate[kvCAS],
		h.readsFailed, h.connectsFailed)
	t.Logf("errors: %s", describeCounts(h.errors))
	t.Logf("go-dqlite's reasons for a bad connection: %s", describeCounts(h.driverLog))
	h.mu.Unlock()
	for _, e := range f.events {
		t.Logf("fault at %.3fs: %s: %s", float64(e.Start)/1e9, e.Description, e.Details)
	}
	afterHeal := 0
	for _, op := range ops {
		if op.Call > healed && !op.Output.(kvOutput).Unknown {
			afterHeal++
		}
	}
	if okOps < 200 {
		t.Errorf("only %d operations succeeded: too few to check anything", okOps)
	}
	if f.err == nil && afterHeal < 10 {
		t.Errorf("only %d operations succeeded after the partition healed: the cluster did not recover", afterHeal)
	}

	// The check.
	started := time.Now()
	result := porcupine.CheckOperationsTimeout(kvModel, ops, linCheckTimeout)
	t.Logf("porcupine: %s in %v", result, time.Since(started).Round(time.Millisecond))
	if result != porcupine.Ok {
		reportAnomaly(t, reportDir, ops, f.events, result)
	}

	if f.err == nil {
		size := waitSameImages(t, ctx, nodes, name)
		t.Logf("the 3 nodes hold identical %d-byte images of %s", size, name)
	}
}

func describeCounts(counts map[string]int) string {
	if len(counts) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// reportAnomaly fails the test for a history porcupine did not accept:
// it names the keys whose histories fail, writes porcupine's
// visualization and the full history into dir, and logs an excerpt of
// each failing key's history.
func reportAnomaly(t *testing.T, dir string, ops []porcupine.Operation, events []porcupine.Annotation, result porcupine.CheckResult) {
	t.Helper()
	if result == porcupine.Unknown {
		t.Errorf("porcupine did not finish checking the history within %v: treated as a failure", linCheckTimeout)
	} else {
		t.Errorf("NOT LINEARIZABLE: porcupine found the history illegal")
	}
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, linCheckTimeout)
	info.AddAnnotations(events)
	html := filepath.Join(dir, "linearizability.html")
	if err := porcupine.VisualizePath(kvModel, info, html); err != nil {
		t.Errorf("writing the visualization: %v", err)
	} else {
		t.Logf("porcupine's visualization (verbose check: %s): %s", res, html)
	}
	text := filepath.Join(dir, "history.txt")
	if err := os.WriteFile(text, []byte(formatOps(ops)), 0o600); err != nil {
		t.Errorf("writing the history: %v", err)
	} else {
		t.Logf("the history, one operation a line: %s", text)
	}
	for _, part := range kvModel.Partition(ops) {
		if len(part) == 0 {
			continue
		}
		r := porcupine.CheckOperationsTimeout(kvModel, part, linCheckTimeout)
		if r == porcupine.Ok {
			continue
		}
		key := part[0].Input.(kvInput).Key
		t.Errorf("key k%d (%d operations): %s; excerpt (the shortest failing prefix's last operations, by call time):\n%s",
			key, len(part), r, failingExcerpt(part))
	}
}

// byCall sorts operations by call time.
func byCall(ops []porcupine.Operation) []porcupine.Operation {
	out := slices.Clone(ops)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call < out[j].Call })
	return out
}

func formatOp(op porcupine.Operation) string {
	ret := "      +inf"
	if op.Return != math.MaxInt64 {
		ret = fmt.Sprintf("%10.6f", float64(op.Return)/1e9)
	}
	return fmt.Sprintf("[%10.6f, %s] client %d: %s", float64(op.Call)/1e9, ret, op.ClientId,
		describeKV(op.Input.(kvInput), op.Output.(kvOutput)))
}

func formatOps(ops []porcupine.Operation) string {
	var b strings.Builder
	for _, op := range byCall(ops) {
		b.WriteString(formatOp(op))
		b.WriteByte('\n')
	}
	return b.String()
}

// failingExcerpt finds (by bisection over call order, bounded) a short
// prefix of one key's history that porcupine rejects, and shows its last
// operations: where to look first. (A prefix can fail where the whole
// history would not, if it leaves out a write a read saw; the bisection
// only looks at prefixes that do fail, so what it shows is illegal.)
func failingExcerpt(ops []porcupine.Operation) string {
	sorted := byCall(ops)
	lo, hi := 0, len(sorted) // prefix of hi operations fails; of lo passes (assumed)
	for i := 0; i < 30 && hi-lo > 1; i++ {
		mid := (lo + hi) / 2
		if porcupine.CheckOperationsTimeout(kvModel, sorted[:mid], 5*time.Second) == porcupine.Illegal {
			hi = mid
		} else {
			lo = mid
		}
	}
	from := max(0, hi-25)
	return formatOps(sorted[from:hi])
}

// checkModel fails the test unless the model and the checker tell small
// legal histories from illegal ones, the indeterminate operations
// included: a check that accepts everything would prove nothing.
func checkModel(t *testing.T) {
	t.Helper()
	const inf = math.MaxInt64
	op := func(in kvInput, call int64, out kvOutput, ret int64) porcupine.Operation {
		return porcupine.Operation{Input: in, Call: call, Output: out, Return: ret}
	}
	read := func(v int64, call, ret int64) porcupine.Operation {
		return op(kvInput{Kind: kvRead}, call, kvOutput{Value: v}, ret)
	}
	write := func(v int64, call, ret int64) porcupine.Operation {
		out := kvOutput{Unknown: ret == inf}
		return op(kvInput{Kind: kvWrite, Value: v}, call, out, ret)
	}
	cas := func(old, v int64, swapped bool, call, ret int64) porcupine.Operation {
		out := kvOutput{Swapped: swapped, Unknown: ret == inf}
		return op(kvInput{Kind: kvCAS, Old: old, Value: v}, call, out, ret)
	}
	cases := []struct {
		what  string
		ops   []porcupine.Operation
		legal bool
	}{
		{"a stale read after a write returned", []porcupine.Operation{write(1, 0, 10), read(0, 20, 30)}, false},
		{"a read of a write not sent yet", []porcupine.Operation{read(1, 0, 10), write(1, 20, 30)}, false},
		{"a read of a write while it runs", []porcupine.Operation{write(1, 0, 30), read(1, 10, 20)}, true},
		{"an indeterminate write seen late", []porcupine.Operation{write(1, 0, inf), read(0, 10, 20), read(1, 30, 40)}, true},
		{"an indeterminate write never seen", []porcupine.Operation{write(1, 0, inf), read(0, 10, 20), read(0, 30, 40)}, true},
		{"an indeterminate write undone", []porcupine.Operation{write(1, 0, inf), read(1, 10, 20), read(0, 30, 40)}, false},
		{"a compare-and-set that fails on a match", []porcupine.Operation{cas(0, 1, false, 0, 10)}, false},
		{"a compare-and-set that swaps on a mismatch", []porcupine.Operation{cas(5, 1, true, 0, 10)}, false},
		{"a compare-and-set that swaps", []porcupine.Operation{cas(0, 1, true, 0, 10), read(1, 20, 30)}, true},
		{"an indeterminate compare-and-set not applied", []porcupine.Operation{cas(0, 1, false, 0, inf), read(0, 10, 20)}, true},
		{"an indeterminate compare-and-set applied", []porcupine.Operation{cas(0, 1, false, 0, inf), read(0, 10, 20), read(1, 30, 40)}, true},
	}
	for _, c := range cases {
		got := porcupine.CheckOperationsTimeout(kvModel, c.ops, 5*time.Second)
		want := porcupine.Illegal
		if c.legal {
			want = porcupine.Ok
		}
		if got != want {
			t.Fatalf("the checker is broken: %s: %s, want %s", c.what, got, want)
		}
	}
}
