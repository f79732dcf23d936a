package compat

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestV1Concurrent(t *testing.T) { testConcurrent(t, v1) }
func TestV3Concurrent(t *testing.T) { testConcurrent(t, v3) }

func TestV1ConcurrentReaders(t *testing.T) { testConcurrentReaders(t, v1) }
func TestV3ConcurrentReaders(t *testing.T) { testConcurrentReaders(t, v3) }

// testConcurrent: several goroutines write and read one database through a
// pool of 8 connections; half use autocommit INSERTs, half transactions.
// Writers that get "database is locked" (code 5, expected while the server
// does not queue writers) retry with a short bounded backoff; every other
// error fails the test. Every acknowledged row must be there exactly once.
func testConcurrent(t *testing.T, f flavor) {
	const (
		workers   = 8
		perWorker = 25 // rows per worker
		txSize    = 5  // rows per transaction for the transactional workers
	)
	ctx := testContext(t)
	db := f.open(t, dbName(t))
	db.SetMaxOpenConns(workers)
	db.SetMaxIdleConns(workers)
	mustExec(t, ctx, db, `CREATE TABLE c (
		id INTEGER PRIMARY KEY,
		worker INTEGER NOT NULL,
		seq INTEGER NOT NULL,
		UNIQUE (worker, seq))`)

	var busy atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var err error
			if w%2 == 0 {
				err = autocommitWorker(ctx, f, db, w, perWorker, &busy)
			} else {
				err = txWorker(ctx, f, db, w, perWorker, txSize, &busy)
			}
			if err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d \"database is locked\" answers retried", busy.Load())

	if n := queryInt64(t, ctx, db, "SELECT count(*) FROM c"); n != workers*perWorker {
		t.Errorf("final row count %d, want %d", n, workers*perWorker)
	}
	rows, err := db.QueryContext(ctx, "SELECT worker, count(*), min(seq), max(seq) FROM c GROUP BY worker ORDER BY worker")
	if err != nil {
		t.Fatalf("per-worker counts: %v", err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var w, n, lo, hi int64
		if err := rows.Scan(&w, &n, &lo, &hi); err != nil {
			t.Fatalf("scan: %v", err)
		}
		if w != int64(seen) || n != perWorker || lo != 0 || hi != perWorker-1 {
			t.Errorf("worker %d: %d rows, seq %d..%d; want worker %d, %d rows, 0..%d", w, n, lo, hi, seen, perWorker, perWorker-1)
		}
		seen++
	}
	if err := rows.Err(); err != nil || seen != workers {
		t.Errorf("per-worker counts: %d workers, %v", seen, err)
	}
}

// autocommitWorker inserts rows one statement at a time and reads after each.
func autocommitWorker(ctx context.Context, f flavor, db *sql.DB, w, n int, busy *atomic.Int64) error {
	for seq := 0; seq < n; seq++ {
		b, err := retryBusy(ctx, f, func() error {
			_, err := db.ExecContext(ctx, "INSERT INTO c (worker, seq) VALUES (?, ?)", int64(w), int64(seq))
			return err
		})
		busy.Add(int64(b))
		if err != nil {
			return fmt.Errorf("insert %d: %w", seq, err)
		}
		if err := checkOwnRows(ctx, db, w, seq+1); err != nil {
			return err
		}
	}
	return nil
}

// txWorker inserts rows in transactions of txSize; a busy answer anywhere in
// a transaction rolls it back and retries the whole transaction.
func txWorker(ctx context.Context, f flavor, db *sql.DB, w, n, txSize int, busy *atomic.Int64) error {
	for start := 0; start < n; start += txSize {
		end := min(start+txSize, n)
		b, err := retryBusy(ctx, f, func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			for seq := start; seq < end; seq++ {
				if _, err := tx.ExecContext(ctx, "INSERT INTO c (worker, seq) VALUES (?, ?)", int64(w), int64(seq)); err != nil {
					if rbErr := tx.Rollback(); rbErr != nil {
						return fmt.Errorf("rollback after %v: %w", err, rbErr)
					}
					return err
				}
			}
			return tx.Commit()
		})
		busy.Add(int64(b))
		if err != nil {
			return fmt.Errorf("transaction %d..%d: %w", start, end-1, err)
		}
		if err := checkOwnRows(ctx, db, w, end); err != nil {
			return err
		}
	}
	return nil
}

// checkOwnRows: a worker sees exactly the rows it has committed so far.
func checkOwnRows(ctx context.Context, db *sql.DB, w, want int) error {
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM c WHERE worker = ?", int64(w)).Scan(&n); err != nil {
		return fmt.Errorf("read after %d rows: %w", want, err)
	}
	if n != int64(want) {
		return fmt.Errorf("read %d own rows, want %d", n, want)
	}
	return nil
}

// testConcurrentReaders: one writer and several readers on a pool of 8
// connections. Readers see a count that never goes backwards and never
// exceeds what the writer has had acknowledged plus the one in flight.
func testConcurrentReaders(t *testing.T, f flavor) {
	const (
		readers = 7
		rows    = 100
	)
	ctx := testContext(t)
	db := f.open(t, dbName(t))
	db.SetMaxOpenConns(readers + 1)
	db.SetMaxIdleConns(readers + 1)
	mustExec(t, ctx, db, "CREATE TABLE r (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")

	var acked atomic.Int64
	done := make(chan struct{})
	errs := make(chan error, readers+1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for k := 1; k <= rows; k++ {
			if _, err := db.ExecContext(ctx, "INSERT INTO r (id, v) VALUES (?, ?)", int64(k), fmt.Sprintf("row %d", k)); err != nil {
				errs <- fmt.Errorf("writer: insert %d: %w", k, err)
				return
			}
			acked.Store(int64(k))
		}
	}()
	var reads atomic.Int64
	for w := 0; w < readers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			last := int64(0)
			for {
				select {
				case <-done:
					return
				default:
				}
				before := acked.Load()
				var n, sum int64
				if err := db.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(id), 0) FROM r").Scan(&n, &sum); err != nil {
					errs <- fmt.Errorf("reader %d: %w", w, err)
					return
				}
				after := acked.Load()
				reads.Add(1)
				switch {
				case n < last:
					errs <- fmt.Errorf("reader %d: count went back from %d to %d", w, last, n)
					return
				case n < before || n > after+1:
					errs <- fmt.Errorf("reader %d: count %d outside the acknowledged range %d..%d", w, n, before, after+1)
					return
				case sum != n*(n+1)/2:
					errs <- fmt.Errorf("reader %d: %d rows with sum(id) %d: not rows 1..%d", w, n, sum, n)
					return
				}
				last = n
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d reads during %d writes", reads.Load(), rows)
	if n := queryInt64(t, ctx, db, "SELECT count(*) FROM r"); n != rows {
		t.Errorf("final count %d, want %d", n, rows)
	}
}
