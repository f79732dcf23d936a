package compat

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestV1Types(t *testing.T) { testTypes(t, v1) }
func TestV3Types(t *testing.T) { testTypes(t, v3) }

// testTypes round-trips every Go value type through database/sql: through a
// table column (stored and read back) and through "SELECT ?" (no declared
// type: the value as bound).
func testTypes(t *testing.T, f flavor) {
	ctx := testContext(t)
	db := f.open(t, dbName(t))
	db.SetMaxOpenConns(1)
	mustExec(t, ctx, db, `CREATE TABLE v (
		id INTEGER PRIMARY KEY,
		i INTEGER, r REAL, t TEXT, b BLOB, n,
		bo BOOLEAN, dt DATETIME, d DATE, ts TIMESTAMP)`)

	t.Run("int64", func(t *testing.T) {
		values := []int64{0, -1, 1, math.MinInt64, math.MaxInt64, 1<<53 + 1, -(1 << 31)}
		for k, v := range values {
			mustExec(t, ctx, db, "INSERT INTO v (id, i) VALUES (?, ?)", int64(1000+k), v)
			var got int64
			var typ string
			if err := db.QueryRowContext(ctx, "SELECT i, typeof(i) FROM v WHERE id = ?", int64(1000+k)).Scan(&got, &typ); err != nil {
				t.Fatalf("select %d: %v", v, err)
			}
			if got != v || typ != "integer" {
				t.Errorf("column: got %d (%s), want %d (integer)", got, typ, v)
			}
			if e := echo(t, ctx, db, v); e != v {
				t.Errorf("SELECT ?: got %T(%v), want int64(%d)", e, e, v)
			}
		}
	})

	t.Run("float64", func(t *testing.T) {
		negZero := math.Copysign(0, -1)
		values := []float64{0, 1.5, -2.25, math.Pi, 3, -1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64,
			math.Inf(1), math.Inf(-1), negZero}
		for k, v := range values {
			mustExec(t, ctx, db, "INSERT INTO v (id, r) VALUES (?, ?)", int64(2000+k), v)
			var got float64
			var typ string
			if err := db.QueryRowContext(ctx, "SELECT r, typeof(r) FROM v WHERE id = ?", int64(2000+k)).Scan(&got, &typ); err != nil {
				t.Fatalf("select %v: %v", v, err)
			}
			// SQLite stores integral REALs as integers in the file, so -0.0
			// comes back from a table as +0.0.
			want := v
			if v == 0 {
				want = 0
			}
			if math.Float64bits(got) != math.Float64bits(want) || typ != "real" {
				t.Errorf("column: got %v (%s, bits %#x), want %v (real)", got, typ, math.Float64bits(got), want)
			}
			// Through SELECT ? the value is exact, sign of zero included.
			e := echo(t, ctx, db, v)
			if g, ok := e.(float64); !ok || math.Float64bits(g) != math.Float64bits(v) {
				t.Errorf("SELECT ?: got %T(%v), want float64(%v) bit-exact", e, e, v)
			}
		}
		// SQLite binds NaN as NULL.
		if e := echo(t, ctx, db, math.NaN()); e != nil {
			t.Errorf("SELECT ? with NaN: got %T(%v), want nil (SQLite binds NaN as NULL)", e, e)
		}
	})

	t.Run("string", func(t *testing.T) {
		values := []string{"", "plain", "héllo ✓ 日本語 🎉", "quote ' \" \\ newline\n tab\t",
			strings.Repeat("long text ", 5000), "ends with spaces   "}
		for k, v := range values {
			mustExec(t, ctx, db, "INSERT INTO v (id, t) VALUES (?, ?)", int64(3000+k), v)
			var got, typ string
			if err := db.QueryRowContext(ctx, "SELECT t, typeof(t) FROM v WHERE id = ?", int64(3000+k)).Scan(&got, &typ); err != nil {
				t.Fatalf("select %q: %v", abbrev(v), err)
			}
			if got != v || typ != "text" {
				t.Errorf("column: got %q (%s), want %q (text)", abbrev(got), typ, abbrev(v))
			}
			if e := echo(t, ctx, db, v); e != v {
				t.Errorf("SELECT ?: got %T(%q), want string(%q)", e, e, abbrev(v))
			}
		}
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT length(?)", "日本語").Scan(&n); err != nil || n != 3 {
			t.Errorf("length of unicode text: got %d, %v; want 3 characters", n, err)
		}
	})

	t.Run("bytes", func(t *testing.T) {
		values := [][]byte{{}, nil, {0x00}, {0x00, 0x01, 0x02, 0xfe, 0xff}, pattern(7, 1), pattern(100_003, 2)}
		for k, v := range values {
			mustExec(t, ctx, db, "INSERT INTO v (id, b) VALUES (?, ?)", int64(4000+k), v)
			var got []byte
			var typ string
			var length int64
			if err := db.QueryRowContext(ctx, "SELECT b, typeof(b), length(b) FROM v WHERE id = ?", int64(4000+k)).Scan(&got, &typ, &length); err != nil {
				t.Fatalf("select blob %d: %v", k, err)
			}
			// go-dqlite sends a nil []byte as an empty BLOB, not as NULL.
			if !bytes.Equal(got, v) || typ != "blob" || length != int64(len(v)) {
				t.Errorf("column %d: got %d bytes (%s, length %d), want %d bytes (blob)", k, len(got), typ, length, len(v))
			}
			e := echo(t, ctx, db, v)
			if g, ok := e.([]byte); !ok || !bytes.Equal(g, v) {
				t.Errorf("SELECT ? %d: got %T (%d bytes), want []byte (%d bytes)", k, e, len(g), len(v))
			}
		}
	})

	t.Run("nil", func(t *testing.T) {
		mustExec(t, ctx, db, "INSERT INTO v (id, i, r, t, b, n, dt, d, ts) VALUES (5000, ?, ?, ?, ?, ?, ?, ?, ?)",
			nil, nil, nil, nil, nil, nil, nil, nil)
		vals := make([]any, 8)
		ptrs := make([]any, len(vals))
		for k := range vals {
			vals[k] = "sentinel"
			ptrs[k] = &vals[k]
		}
		if err := db.QueryRowContext(ctx, "SELECT i, r, t, b, n, dt, d, ts FROM v WHERE id = 5000").Scan(ptrs...); err != nil {
			t.Fatalf("select NULLs: %v", err)
		}
		for k, v := range vals {
			if v != nil {
				t.Errorf("column %d: got %T(%v), want nil", k, v, v)
			}
		}
		var typ string
		if err := db.QueryRowContext(ctx, "SELECT typeof(n) || typeof(dt) FROM v WHERE id = 5000").Scan(&typ); err != nil || typ != "nullnull" {
			t.Errorf("typeof NULLs: got %q, %v", typ, err)
		}
		if e := echo(t, ctx, db, nil); e != nil {
			t.Errorf("SELECT ? with nil: got %T(%v), want nil", e, e)
		}
		var ns sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT NULL").Scan(&ns); err != nil || ns.Valid {
			t.Errorf("SELECT NULL: got %+v, %v", ns, err)
		}
	})

	t.Run("bool", func(t *testing.T) {
		for k, v := range []bool{true, false} {
			id := int64(6000 + k)
			mustExec(t, ctx, db, "INSERT INTO v (id, bo, i) VALUES (?, ?, ?)", id, v, v)
			var got bool
			var asAny any
			var asInt int64
			var typ string
			if err := db.QueryRowContext(ctx, "SELECT bo, bo, i, typeof(bo) FROM v WHERE id = ?", id).Scan(&got, &asAny, &asInt, &typ); err != nil {
				t.Fatalf("select bool: %v", err)
			}
			wantInt := int64(0)
			if v {
				wantInt = 1
			}
			if got != v || asAny != v || asInt != wantInt || typ != "integer" {
				t.Errorf("BOOLEAN column: got %v, %T(%v), INTEGER column %d (%s); want %v, bool(%v), %d (integer)",
					got, asAny, asAny, asInt, typ, v, v, wantInt)
			}
			// No declared type: the bound integer comes back.
			if e := echo(t, ctx, db, v); e != wantInt {
				t.Errorf("SELECT ? with %v: got %T(%v), want int64(%d)", v, e, e, wantInt)
			}
		}
		// Any non-zero integer in a BOOLEAN column reads as true.
		var b2, b0 bool
		mustExec(t, ctx, db, "INSERT INTO v (id, bo) VALUES (6010, 2), (6011, 0)")
		if err := db.QueryRowContext(ctx, "SELECT (SELECT bo FROM v WHERE id = 6010), (SELECT bo FROM v WHERE id = 6011)").Scan(&b2, &b0); err != nil {
			t.Fatalf("select integer booleans: %v", err)
		}
		if !b2 || b0 {
			t.Errorf("BOOLEAN column holding 2 and 0: got %v, %v; want true, false", b2, b0)
		}
		// A NULL boolean: the C server sends BOOLEAN 0 (false), a NULL would
		// be nil; go-dqlite accepts both, so both are allowed here.
		mustExec(t, ctx, db, "INSERT INTO v (id, bo) VALUES (6020, NULL)")
		var nb any
		if err := db.QueryRowContext(ctx, "SELECT bo FROM v WHERE id = 6020").Scan(&nb); err != nil {
			t.Fatalf("select NULL boolean: %v", err)
		}
		if nb != nil && nb != false {
			t.Errorf("NULL in BOOLEAN column: got %T(%v), want nil or false", nb, nb)
		}
		t.Logf("NULL in a BOOLEAN column reads as %T(%v)", nb, nb)
	})

	t.Run("time", func(t *testing.T) {
		values := []time.Time{
			time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC),
			time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("", 3600)),
			time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC),
			time.Date(2030, 7, 8, 9, 10, 11, 500000000, time.FixedZone("", -7*3600-30*60)),
			time.Unix(0, 0).UTC(),
			{},
		}
		for k, v := range values {
			id := int64(7000 + k)
			mustExec(t, ctx, db, "INSERT INTO v (id, dt, d, ts) VALUES (?, ?, ?, ?)", id, v, v, v)
			var dt, d, ts time.Time
			var typ string
			if err := db.QueryRowContext(ctx, "SELECT dt, d, ts, typeof(dt) FROM v WHERE id = ?", id).Scan(&dt, &d, &ts, &typ); err != nil {
				t.Fatalf("select time %v: %v", v, err)
			}
			if !dt.Equal(v) || !d.Equal(v) || !ts.Equal(v) || typ != "text" {
				t.Errorf("DATETIME/DATE/TIMESTAMP: got %v, %v, %v (%s); want %v (text)", dt, d, ts, typ, v)
			}
			// No declared type: the text go-dqlite sent comes back as text.
			want := v.Format("2006-01-02 15:04:05.999999999-07:00")
			if e := echo(t, ctx, db, v); e != want {
				t.Errorf("SELECT ? with %v: got %T(%v), want string(%q)", v, e, e, want)
			}
		}
		// Text written by SQL, and an integer (UNIXTIME): parsed by the client.
		mustExec(t, ctx, db, "INSERT INTO v (id, dt, d, ts) VALUES (7100, '2024-05-06 07:08:09', '2024-05-06', 1700000000)")
		var dt, d, ts time.Time
		if err := db.QueryRowContext(ctx, "SELECT dt, d, ts FROM v WHERE id = 7100").Scan(&dt, &d, &ts); err != nil {
			t.Fatalf("select SQL-written times: %v", err)
		}
		if want := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC); !dt.Equal(want) {
			t.Errorf("DATETIME '2024-05-06 07:08:09': got %v, want %v", dt, want)
		}
		if want := time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC); !d.Equal(want) {
			t.Errorf("DATE '2024-05-06': got %v, want %v", d, want)
		}
		if want := time.Unix(1700000000, 0); !ts.Equal(want) {
			t.Errorf("TIMESTAMP 1700000000: got %v, want %v", ts, want)
		}
	})

	// The connection is still fine, and every row is there.
	if n := queryInt64(t, ctx, db, "SELECT count(*) FROM v"); n < 40 {
		t.Errorf("row count %d, want at least 40", n)
	}
}

// echo returns the value of "SELECT ?" with v bound, scanned into an any.
func echo(t *testing.T, ctx context.Context, db *sql.DB, v any) any {
	t.Helper()
	var got any
	if err := db.QueryRowContext(ctx, "SELECT ?", v).Scan(&got); err != nil {
		t.Fatalf("SELECT ? with %s: %v", describe(v), err)
	}
	return got
}

func describe(v any) string {
	switch x := v.(type) {
	case []byte:
		return fmt.Sprintf("[]byte(len %d)", len(x))
	case string:
		return fmt.Sprintf("%q", abbrev(x))
	default:
		return fmt.Sprintf("%T(%v)", v, v)
	}
}
