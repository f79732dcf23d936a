// The workloads of disk.py (issue 18, "Databases on disk"): a bulk load
// whose memory the harness watches, and single-row writes whose every
// latency is kept, to find the stalls.

package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/canonical/go-dqlite/v3/client"
)

const createBulk = "CREATE TABLE IF NOT EXISTS bulk (id INTEGER PRIMARY KEY, v BLOB)"

// unixMs is a time as Unix milliseconds, the unit of every time that
// load and writes print.
func unixMs(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e6
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// loadLine is one line of the load workload: a progress line
// (Done false) every -progress-mib MiB, and a last one (Done true).
type loadLine struct {
	Done bool `json:"done"`
	// Bytes of row values inserted by this run, and rows.
	LoadedMiB float64 `json:"loaded_mib"`
	Rows      int64   `json:"rows"`
	Seconds   float64 `json:"seconds"`
	// The slowest transaction so far, when it began, and the median
	// and 99th percentile of all transactions so far.
	SlowestTxMs float64 `json:"slowest_tx_ms"`
	SlowestAtMs float64 `json:"slowest_at_unix_ms"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	Retries     int64   `json:"busy_retries"`
	// Why the load stopped before -data-mib (only on the last line).
	Stopped string `json:"stopped,omitempty"`
}

// runLoad inserts -data-mib MiB of -row-bytes rows, -tx-rows per
// transaction (one multi-row INSERT, autocommit), into table bulk.
func runLoad(ctx context.Context, db *sql.DB) {
	if _, err := db.ExecContext(ctx, createBulk); err != nil {
		log.Fatalf("load: %v", err)
	}
	value := randomValue(*rowBytes)
	if *txRows < 1 {
		log.Fatal("load: -tx-rows must be at least 1")
	}
	stmt := "INSERT INTO bulk (v) VALUES " + strings.TrimSuffix(strings.Repeat("(?),", *txRows), ",")
	args := make([]any, *txRows)
	for i := range args {
		args[i] = value
	}
	target := int64(*dataMiB) << 20
	perTx := int64(*txRows) * int64(*rowBytes)
	progress := int64(*progMiB) << 20
	out := json.NewEncoder(os.Stdout)
	start := time.Now()
	deadline := start.Add(*duration)
	var line loadLine
	var latencies []time.Duration
	var loaded, nextProgress int64 = 0, progress
	report := func() {
		line.LoadedMiB = float64(loaded) / (1 << 20)
		line.Seconds = time.Since(start).Seconds()
		sorted := append([]time.Duration(nil), latencies...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		line.P50Ms, line.P99Ms = percentileMs(sorted, 0.50), percentileMs(sorted, 0.99)
		if err := out.Encode(line); err != nil {
			log.Fatal(err)
		}
	}
	for loaded < target {
		if time.Now().After(deadline) {
			line.Stopped = fmt.Sprintf("time bound (-duration %s) reached", *duration)
			break
		}
		began := time.Now()
		_, err := db.ExecContext(ctx, stmt, args...)
		if isBusy(err) {
			line.Retries++
			continue
		}
		if err != nil {
			line.Stopped = err.Error()
			break
		}
		took := time.Since(began)
		latencies = append(latencies, took)
		if ms(took) > line.SlowestTxMs {
			line.SlowestTxMs, line.SlowestAtMs = ms(took), unixMs(began)
		}
		loaded += perTx
		line.Rows += int64(*txRows)
		if loaded >= nextProgress {
			nextProgress += progress
			report()
		}
	}
	line.Done = true
	report()
}

// slowWrite is one write slower than -slow-ms.
type slowWrite struct {
	AtMs float64 `json:"at_unix_ms"`
	Ms   float64 `json:"ms"`
}

// writesResult is the one line of the writes workload.
type writesResult struct {
	Workload  string      `json:"workload"`
	Ops       int64       `json:"ops"`
	Seconds   float64     `json:"seconds"`
	OpsPerSec float64     `json:"ops_per_sec"`
	StartMs   float64     `json:"start_unix_ms"`
	P50Ms     float64     `json:"p50_ms"`
	P99Ms     float64     `json:"p99_ms"`
	P999Ms    float64     `json:"p999_ms"`
	MaxMs     float64     `json:"max_ms"`
	Slow      []slowWrite `json:"slow"`
	Retries   int64       `json:"busy_retries"`
	// Writes that failed (other than "database is locked") and were
	// tried again, e.g. while the leader changed, and the first error.
	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
}

// runWrites inserts one row per autocommit statement for -duration and
// keeps every write's start time and latency. A failed write is counted
// and tried again after 10 ms (a leader change must not end a catch-up
// measurement); the loop ends at the deadline whatever happens.
func runWrites(ctx context.Context, db *sql.DB) {
	if _, err := db.ExecContext(ctx, createBulk); err != nil {
		log.Fatalf("writes: %v", err)
	}
	value := randomValue(*rowBytes)
	var res writesResult
	res.Workload = "writes"
	type sample struct {
		at  time.Time
		lat time.Duration
	}
	var samples []sample
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	start := time.Now()
	deadline := start.Add(*duration)
	for time.Now().Before(deadline) {
		select {
		case <-stop:
			deadline = time.Now()
			continue
		default:
		}
		began := time.Now()
		opCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := db.ExecContext(opCtx, "INSERT INTO bulk (v) VALUES (?)", value)
		cancel()
		if isBusy(err) {
			res.Retries++
			continue
		}
		if err != nil {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		samples = append(samples, sample{began, time.Since(began)})
	}
	res.Seconds = time.Since(start).Seconds()
	res.StartMs = unixMs(start)
	res.Ops = int64(len(samples))
	res.OpsPerSec = float64(res.Ops) / res.Seconds
	res.Slow = []slowWrite{}
	lats := make([]time.Duration, len(samples))
	for i, s := range samples {
		lats[i] = s.lat
		if ms(s.lat) > *slowMs {
			res.Slow = append(res.Slow, slowWrite{unixMs(s.at), ms(s.lat)})
		}
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	res.P50Ms, res.P99Ms = percentileMs(lats, 0.50), percentileMs(lats, 0.99)
	res.P999Ms, res.MaxMs = percentileMs(lats, 0.999), percentileMs(lats, 1)
	if *latLog != "" {
		f, err := os.Create(*latLog)
		if err != nil {
			log.Fatal(err)
		}
		w := bufio.NewWriter(f)
		for _, s := range samples {
			fmt.Fprintf(w, "%.3f %.3f\n", unixMs(s.at), ms(s.lat))
		}
		if err := w.Flush(); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// percentileMs is the p-th quantile (0..1) of sorted latencies, in ms.
func percentileMs(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return ms(sorted[int(p*float64(len(sorted)-1))])
}

// printLeader prints the cluster's leader as one JSON line.
func printLeader(ctx context.Context, store client.NodeStore, dial client.DialFunc) {
	cli, err := client.FindLeader(ctx, store, client.WithDialFunc(dial))
	if err != nil {
		log.Fatalf("leader: %v", err)
	}
	defer cli.Close()
	leader, err := cli.Leader(ctx)
	if err != nil {
		log.Fatalf("leader: %v", err)
	}
	out, _ := json.Marshal(map[string]string{"leader": leader.Address})
	fmt.Println(string(out))
}
