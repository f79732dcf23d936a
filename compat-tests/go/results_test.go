package compat

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"testing"
)

func TestV1LargeResult(t *testing.T) { testLargeResult(t, v1) }
func TestV3LargeResult(t *testing.T) { testLargeResult(t, v3) }

func TestV1EarlyClose(t *testing.T) { testEarlyClose(t, v1) }
func TestV3EarlyClose(t *testing.T) { testEarlyClose(t, v3) }

func TestV1Blob(t *testing.T) { testBlob(t, v1) }
func TestV3Blob(t *testing.T) { testBlob(t, v3) }

const bigRows = 10_000

// fillBig creates table big with bigRows rows (id, name, score).
func fillBig(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	mustExec(t, ctx, db, "CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL)")
	res := mustExec(t, ctx, db, `INSERT INTO big (id, name, score)
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
		SELECT x, 'name-' || x, x * 1.5 FROM c`, int64(bigRows))
	if n, err := res.RowsAffected(); err != nil || n != bigRows {
		t.Fatalf("RowsAffected: %d, %v; want %d", n, err, bigRows)
	}
}

// testLargeResult reads a result set spanning many ROWS messages, fully.
func testLargeResult(t *testing.T, f flavor) {
	ctx := testContext(t)
	db := f.open(t, dbName(t))
	db.SetMaxOpenConns(1)
	fillBig(t, ctx, db)

	for pass := 0; pass < 2; pass++ {
		rows, err := db.QueryContext(ctx, "SELECT id, name, score FROM big ORDER BY id")
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		n := int64(0)
		for rows.Next() {
			var id int64
			var name string
			var score float64
			if err := rows.Scan(&id, &name, &score); err != nil {
				t.Fatalf("scan row %d: %v", n+1, err)
			}
			n++
			if id != n || name != fmt.Sprintf("name-%d", n) || score != float64(n)*1.5 {
				t.Fatalf("row %d: got (%d, %q, %v)", n, id, name, score)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("iterating after %d rows: %v", n, err)
		}
		if err := rows.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if n != bigRows {
			t.Fatalf("pass %d: read %d rows, want %d", pass, n, bigRows)
		}
	}
	if n := queryInt64(t, ctx, db, "SELECT sum(id) FROM big"); n != bigRows*(bigRows+1)/2 {
		t.Errorf("sum(id) = %d", n)
	}
}

// testEarlyClose closes a large query after a few rows: go-dqlite sends
// INTERRUPT and drains until EMPTY; the connection must stay usable.
func testEarlyClose(t *testing.T, f flavor) {
	ctx := testContext(t)
	db := f.open(t, dbName(t))
	// One connection, so every step below reuses the interrupted one.
	db.SetMaxOpenConns(1)
	fillBig(t, ctx, db)

	for round := 0; round < 5; round++ {
		rows, err := db.QueryContext(ctx, "SELECT id, name, score FROM big ORDER BY id")
		if err != nil {
			t.Fatalf("round %d: query: %v", round, err)
		}
		for k := 0; k < 3; k++ {
			if !rows.Next() {
				t.Fatalf("round %d: row %d missing: %v", round, k, rows.Err())
			}
			var id int64
			var name string
			var score float64
			if err := rows.Scan(&id, &name, &score); err != nil || id != int64(k+1) {
				t.Fatalf("round %d: row %d: id %d, %v", round, k, id, err)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatalf("round %d: early close: %v", round, err)
		}
		// The same connection answers the next requests correctly.
		if n := queryInt64(t, ctx, db, "SELECT count(*) FROM big"); n != bigRows {
			t.Fatalf("round %d: count after early close: %d", round, n)
		}
		mustExec(t, ctx, db, "UPDATE big SET score = score + 1 WHERE id = ?", int64(round+1))
	}

	// A prepared query closed early, then reused.
	stmt, err := db.PrepareContext(ctx, "SELECT id FROM big WHERE id > ? ORDER BY id")
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer stmt.Close()
	for round := 0; round < 3; round++ {
		rows, err := stmt.QueryContext(ctx, int64(round))
		if err != nil {
			t.Fatalf("prepared round %d: %v", round, err)
		}
		if !rows.Next() {
			t.Fatalf("prepared round %d: no row: %v", round, rows.Err())
		}
		if err := rows.Close(); err != nil {
			t.Fatalf("prepared round %d: early close: %v", round, err)
		}
	}
	if n := queryInt64(t, ctx, db, "SELECT count(*) FROM big WHERE score <> id * 1.5"); n != 5 {
		t.Errorf("updated rows: %d, want 5", n)
	}

	// The full result still streams to the end.
	rows, err := db.QueryContext(ctx, "SELECT id FROM big")
	if err != nil {
		t.Fatalf("final query: %v", err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil || n != bigRows {
		t.Fatalf("final query: %d rows, %v", n, err)
	}
	_ = rows.Close()
}

// testBlob writes and reads back blobs of several MiB.
func testBlob(t *testing.T, f flavor) {
	ctx := testContext(t)
	db := f.open(t, dbName(t))
	db.SetMaxOpenConns(1)
	mustExec(t, ctx, db, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")

	sizes := []int{1<<20 + 3, 4 << 20}
	for k, size := range sizes {
		blob := pattern(size, int64(size))
		mustExec(t, ctx, db, "INSERT INTO blobs (id, data) VALUES (?, ?)", int64(k+1), blob)
		var got []byte
		var length int64
		if err := db.QueryRowContext(ctx, "SELECT data, length(data) FROM blobs WHERE id = ?", int64(k+1)).Scan(&got, &length); err != nil {
			t.Fatalf("select %d-byte blob: %v", size, err)
		}
		if length != int64(size) || !bytes.Equal(got, blob) {
			t.Fatalf("%d-byte blob: read %d bytes (length() %d), equal: %v", size, len(got), length, bytes.Equal(got, blob))
		}
		// And as a parameter echoed back, without a table.
		var echoed []byte
		if err := db.QueryRowContext(ctx, "SELECT ?", blob).Scan(&echoed); err != nil || !bytes.Equal(echoed, blob) {
			t.Fatalf("SELECT ? with %d-byte blob: %d bytes, %v", size, len(echoed), err)
		}
	}
	// Both rows in one result.
	rows, err := db.QueryContext(ctx, "SELECT id, data FROM blobs ORDER BY id")
	if err != nil {
		t.Fatalf("select all: %v", err)
	}
	defer rows.Close()
	k := 0
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			t.Fatalf("scan: %v", err)
		}
		if k >= len(sizes) || !bytes.Equal(data, pattern(sizes[k], int64(sizes[k]))) {
			t.Fatalf("row %d (id %d): %d bytes differ", k, id, len(data))
		}
		k++
	}
	if err := rows.Err(); err != nil || k != len(sizes) {
		t.Fatalf("select all: %d rows, %v", k, err)
	}
}
