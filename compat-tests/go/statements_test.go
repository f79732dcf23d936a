package compat

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

func TestV1Prepared(t *testing.T) { testPrepared(t, v1) }
func TestV3Prepared(t *testing.T) { testPrepared(t, v3) }

func TestV1Transactions(t *testing.T) { testTransactions(t, v1) }
func TestV3Transactions(t *testing.T) { testTransactions(t, v3) }

func TestV1Errors(t *testing.T) { testErrors(t, v1) }
func TestV3Errors(t *testing.T) { testErrors(t, v3) }

func TestV1ManyParams(t *testing.T) { testManyParams(t, v1) }
func TestV3ManyParams(t *testing.T) { testManyParams(t, v3) }

// testPrepared: db.Prepare, exec many times, query many times, close.
func testPrepared(t *testing.T, f flavor) {
	ctx := testContext(t)
	db := f.open(t, dbName(t))
	db.SetMaxOpenConns(1)
	mustExec(t, ctx, db, "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL)")

	ins, err := db.PrepareContext(ctx, "INSERT INTO p (name, score) VALUES (?, ?)")
	if err != nil {
		t.Fatalf("prepare insert: %v", err)
	}
	const n = 100
	for k := 1; k <= n; k++ {
		res, err := ins.ExecContext(ctx, fmt.Sprintf("item-%d", k), float64(k))
		if err != nil {
			t.Fatalf("exec %d: %v", k, err)
		}
		id, err1 := res.LastInsertId()
		affected, err2 := res.RowsAffected()
		if err1 != nil || err2 != nil || id != int64(k) || affected != 1 {
			t.Fatalf("exec %d: LastInsertId %d (%v), RowsAffected %d (%v)", k, id, err1, affected, err2)
		}
	}

	sel, err := db.PrepareContext(ctx, "SELECT id, name FROM p WHERE score >= ? ORDER BY id")
	if err != nil {
		t.Fatalf("prepare select: %v", err)
	}
	for min := 1; min <= n; min += 7 {
		rows, err := sel.QueryContext(ctx, float64(min))
		if err != nil {
			t.Fatalf("query %d: %v", min, err)
		}
		want := int64(min)
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				t.Fatalf("scan: %v", err)
			}
			if id != want || name != fmt.Sprintf("item-%d", want) {
				t.Fatalf("query %d: got (%d, %q), want id %d", min, id, name, want)
			}
			want++
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("query %d: %v", min, err)
		}
		_ = rows.Close()
		if want != n+1 {
			t.Fatalf("query %d: stopped at id %d", min, want)
		}
	}

	// QueryRow through a prepared statement without parameters.
	count, err := db.PrepareContext(ctx, "SELECT count(*), sum(score) FROM p")
	if err != nil {
		t.Fatalf("prepare count: %v", err)
	}
	for k := 0; k < 10; k++ {
		var c int64
		var s float64
		if err := count.QueryRowContext(ctx).Scan(&c, &s); err != nil || c != n || s != n*(n+1)/2 {
			t.Fatalf("count: %d, %v, %v", c, s, err)
		}
	}

	upd, err := db.PrepareContext(ctx, "UPDATE p SET score = score * 2 WHERE id <= ?")
	if err != nil {
		t.Fatalf("prepare update: %v", err)
	}
	res, err := upd.ExecContext(ctx, int64(10))
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if affected, err := res.RowsAffected(); err != nil || affected != 10 {
		t.Errorf("update RowsAffected: %d, %v; want 10", affected, err)
	}

	// A prepared statement inside a transaction.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	txIns := tx.StmtContext(ctx, ins)
	for k := 0; k < 5; k++ {
		if _, err := txIns.ExecContext(ctx, "in-tx", nil); err != nil {
			t.Fatalf("tx exec %d: %v", k, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}

	for _, s := range []*sql.Stmt{ins, sel, count, upd} {
		if err := s.Close(); err != nil {
			t.Errorf("close statement: %v", err)
		}
	}
	if c := queryInt64(t, ctx, db, "SELECT count(*) FROM p"); c != n+5 {
		t.Errorf("final count %d, want %d", c, n+5)
	}
	// Statements keep working after others were closed (ids are reused).
	again, err := db.PrepareContext(ctx, "SELECT count(*) FROM p WHERE name = ?")
	if err != nil {
		t.Fatalf("prepare after close: %v", err)
	}
	defer again.Close()
	if c := queryInt64(t, ctx, stmtQuerier{again}, "", "in-tx"); c != 5 {
		t.Errorf("rows in tx: %d, want 5", c)
	}
}

// stmtQuerier adapts a *sql.Stmt to queryInt64 (the query string is ignored).
type stmtQuerier struct{ s *sql.Stmt }

func (q stmtQuerier) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return q.s.QueryRowContext(ctx, args...)
}

// testTransactions: commit, rollback, isolation from another connection.
func testTransactions(t *testing.T, f flavor) {
	ctx := testContext(t)
	db := f.open(t, dbName(t))
	db.SetMaxOpenConns(2)
	mustExec(t, ctx, db, "CREATE TABLE tx (id INTEGER PRIMARY KEY, v TEXT)")

	// Commit.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO tx (v) VALUES (?), (?)", "a", "b")
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if id, _ := res.LastInsertId(); id != 2 {
		t.Errorf("LastInsertId %d, want 2", id)
	}
	if n := queryInt64(t, ctx, tx, "SELECT count(*) FROM tx"); n != 2 {
		t.Errorf("count inside tx %d, want 2", n)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if n := queryInt64(t, ctx, db, "SELECT count(*) FROM tx"); n != 2 {
		t.Errorf("count after commit %d, want 2", n)
	}

	// Rollback: visible inside, invisible to another connection, gone after.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin 2: %v", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO tx (v) VALUES (?)", "rolled back"); err != nil {
		t.Fatalf("insert 2: %v", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE tx SET v = 'changed' WHERE id = 1"); err != nil {
		t.Fatalf("update 2: %v", err)
	}
	if n := queryInt64(t, ctx, tx, "SELECT count(*) FROM tx"); n != 3 {
		t.Errorf("count inside tx 2: %d, want 3", n)
	}
	other, err := db.Conn(ctx) // a second connection: tx holds the first
	if err != nil {
		t.Fatalf("second connection: %v", err)
	}
	if n := queryInt64(t, ctx, other, "SELECT count(*) FROM tx"); n != 2 {
		t.Errorf("other connection sees %d rows during the transaction, want 2", n)
	}
	var v string
	if err := other.QueryRowContext(ctx, "SELECT v FROM tx WHERE id = 1").Scan(&v); err != nil || v != "a" {
		t.Errorf("other connection sees v = %q (%v) during the transaction, want \"a\"", v, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if n := queryInt64(t, ctx, other, "SELECT count(*) FROM tx"); n != 2 {
		t.Errorf("count after rollback %d, want 2", n)
	}
	if err := other.QueryRowContext(ctx, "SELECT v FROM tx WHERE id = 1").Scan(&v); err != nil || v != "a" {
		t.Errorf("after rollback v = %q (%v), want \"a\"", v, err)
	}
	_ = other.Close()

	// A failing statement inside a transaction, then rollback.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin 3: %v", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO tx (v) VALUES ('x')"); err != nil {
		t.Fatalf("insert 3: %v", err)
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO tx (id, v) VALUES (1, 'dup')")
	f.wantError(t, "duplicate primary key in tx", err, 1555, "UNIQUE constraint failed: tx.id")
	if err := tx.Rollback(); err != nil {
		t.Fatalf("rollback 3: %v", err)
	}

	// Plain SQL transaction statements through Exec on one connection.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("conn: %v", err)
	}
	defer conn.Close()
	for _, q := range []string{"BEGIN", "INSERT INTO tx (v) VALUES ('sql')", "COMMIT"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	f.wantError(t, "COMMIT without transaction", err, codeError, "cannot commit - no transaction is active")
	if n := queryInt64(t, ctx, db, "SELECT count(*) FROM tx"); n != 3 {
		t.Errorf("final count %d, want 3", n)
	}
}

// testErrors: SQLite errors reach the client as driver.Error with the
// extended code and sqlite3_errmsg, and the connection survives them.
func testErrors(t *testing.T, f flavor) {
	ctx := testContext(t)
	db := f.open(t, dbName(t))
	db.SetMaxOpenConns(1)

	const syntax = `near "SELEC": syntax error`
	_, err := db.ExecContext(ctx, "SELEC 1")
	f.wantError(t, "exec syntax error", err, codeError, syntax)
	_, err = db.QueryContext(ctx, "SELEC 1")
	f.wantError(t, "query syntax error", err, codeError, syntax)
	_, err = db.PrepareContext(ctx, "SELEC 1")
	f.wantError(t, "prepare syntax error", err, codeError, syntax)

	mustExec(t, ctx, db, "CREATE TABLE parent (id INTEGER PRIMARY KEY)")
	mustExec(t, ctx, db, `CREATE TABLE child (
		id INTEGER PRIMARY KEY,
		u TEXT UNIQUE,
		nn TEXT NOT NULL DEFAULT 'x',
		parent_id INTEGER REFERENCES parent(id))`)
	mustExec(t, ctx, db, "INSERT INTO parent (id) VALUES (1)")
	mustExec(t, ctx, db, "INSERT INTO child (u, parent_id) VALUES (?, ?)", "dup", int64(1))

	_, err = db.ExecContext(ctx, "INSERT INTO child (u) VALUES (?)", "dup")
	f.wantError(t, "UNIQUE", err, codeUnique, "UNIQUE constraint failed: child.u")
	_, err = db.ExecContext(ctx, "INSERT INTO child (u, nn) VALUES (?, ?)", "nn", nil)
	f.wantError(t, "NOT NULL", err, codeNotNull, "NOT NULL constraint failed: child.nn")
	_, err = db.ExecContext(ctx, "INSERT INTO child (u, parent_id) VALUES (?, ?)", "fk", int64(42))
	f.wantError(t, "FOREIGN KEY insert", err, codeForeignKey, "FOREIGN KEY constraint failed")
	_, err = db.ExecContext(ctx, "DELETE FROM parent WHERE id = 1")
	f.wantError(t, "FOREIGN KEY delete", err, codeForeignKey, "FOREIGN KEY constraint failed")

	_, err = db.QueryContext(ctx, "SELECT * FROM nosuch")
	f.wantError(t, "query no such table", err, codeError, "no such table: nosuch")
	_, err = db.ExecContext(ctx, "INSERT INTO nosuch VALUES (1)")
	f.wantError(t, "exec no such table", err, codeError, "no such table: nosuch")
	_, err = db.PrepareContext(ctx, "SELECT * FROM nosuch")
	f.wantError(t, "prepare no such table", err, codeError, "no such table: nosuch")

	// The same errors through prepared statements.
	stmt, err := db.PrepareContext(ctx, "INSERT INTO child (u, nn, parent_id) VALUES (?, ?, ?)")
	if err != nil {
		t.Fatalf("prepare insert: %v", err)
	}
	_, err = stmt.ExecContext(ctx, "dup", "v", nil)
	f.wantError(t, "prepared UNIQUE", err, codeUnique, "UNIQUE constraint failed: child.u")
	_, err = stmt.ExecContext(ctx, "new", nil, nil)
	f.wantError(t, "prepared NOT NULL", err, codeNotNull, "NOT NULL constraint failed: child.nn")
	_, err = stmt.ExecContext(ctx, "new", "v", int64(7))
	f.wantError(t, "prepared FOREIGN KEY", err, codeForeignKey, "FOREIGN KEY constraint failed")
	if _, err := stmt.ExecContext(ctx, "new", "v", int64(1)); err != nil {
		t.Errorf("prepared insert after errors: %v", err)
	}
	_ = stmt.Close()

	// An error raised while stepping, with a message of our own.
	mustExec(t, ctx, db, `CREATE TRIGGER refuse BEFORE INSERT ON child WHEN new.u = 'refused'
		BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END`)
	_, err = db.ExecContext(ctx, "INSERT INTO child (u) VALUES ('refused')")
	f.wantError(t, "RAISE(ABORT)", err, codeTrigger, "refused by trigger")

	// Nothing was half-written, and the connection still works.
	if n := queryInt64(t, ctx, db, "SELECT count(*) FROM child"); n != 2 {
		t.Errorf("child rows %d, want 2", n)
	}
	if fk := queryInt64(t, ctx, db, "PRAGMA foreign_keys"); fk != 1 {
		t.Errorf("PRAGMA foreign_keys = %d, want 1", fk)
	}
}

// testManyParams: more than 255 parameters. v3 sends a schema-1 tuple; v1
// refuses client-side.
func testManyParams(t *testing.T, f flavor) {
	ctx := testContext(t)
	db := f.open(t, dbName(t))
	db.SetMaxOpenConns(1)

	// 255 parameters: the largest schema-0 tuple, fine for both.
	var sum int64
	if err := db.QueryRowContext(ctx, "SELECT "+strings.Repeat("? + ", 254)+"?", ints(255)...).Scan(&sum); err != nil {
		t.Fatalf("255 parameters: %v", err)
	}
	if sum != 255*256/2 {
		t.Errorf("255 parameters: sum %d", sum)
	}

	cols := make([]string, 300)
	for k := range cols {
		cols[k] = fmt.Sprintf("c%d INTEGER", k+1)
	}
	mustExec(t, ctx, db, "CREATE TABLE wide ("+strings.Join(cols, ", ")+")")
	insert := "INSERT INTO wide VALUES (" + placeholders(300) + ")"

	if f.maxParams < 300 {
		_, err := db.QueryContext(ctx, "SELECT ?1 + ?300", ints(300)...)
		wantTooMany(t, "query", err)
		_, err = db.ExecContext(ctx, insert, ints(300)...)
		wantTooMany(t, "exec", err)
		stmt, err := db.PrepareContext(ctx, insert)
		if err != nil {
			t.Fatalf("prepare: %v", err)
		}
		_, err = stmt.ExecContext(ctx, ints(300)...)
		wantTooMany(t, "prepared exec", err)
		_ = stmt.Close()
		if n := queryInt64(t, ctx, db, "SELECT count(*) FROM wide"); n != 0 {
			t.Errorf("rows %d, want 0", n)
		}
		return
	}

	var got int64
	if err := db.QueryRowContext(ctx, "SELECT ?1 + ?300", ints(300)...).Scan(&got); err != nil {
		t.Fatalf("SELECT ?1 + ?300: %v", err)
	}
	if got != 301 {
		t.Errorf("SELECT ?1 + ?300 = %d, want 301", got)
	}
	// 300 columns back from 300 parameters.
	row := make([]int64, 300)
	ptrs := make([]any, 300)
	for k := range row {
		ptrs[k] = &row[k]
	}
	if err := db.QueryRowContext(ctx, "SELECT "+placeholders(300), ints(300)...).Scan(ptrs...); err != nil {
		t.Fatalf("SELECT 300 parameters: %v", err)
	}
	for k, v := range row {
		if v != int64(k+1) {
			t.Fatalf("column %d = %d", k+1, v)
		}
	}
	// EXEC_SQL with 300 parameters, then a prepared EXEC and QUERY.
	mustExec(t, ctx, db, insert, ints(300)...)
	stmt, err := db.PrepareContext(ctx, insert)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	for k := 0; k < 3; k++ {
		if _, err := stmt.ExecContext(ctx, ints(300)...); err != nil {
			t.Fatalf("prepared exec %d: %v", k, err)
		}
	}
	_ = stmt.Close()
	q, err := db.PrepareContext(ctx, "SELECT count(*) FROM wide WHERE c1 = ?1 AND c300 = ?300 AND c150 = ?150")
	if err != nil {
		t.Fatalf("prepare query: %v", err)
	}
	defer q.Close()
	var n int64
	if err := q.QueryRowContext(ctx, ints(300)...).Scan(&n); err != nil || n != 4 {
		t.Errorf("prepared query with 300 parameters: %d, %v; want 4", n, err)
	}
	// Many more: 1000 parameters in one statement.
	if err := db.QueryRowContext(ctx, "SELECT ?1 + ?1000", ints(1000)...).Scan(&got); err != nil || got != 1001 {
		t.Errorf("SELECT ?1 + ?1000: %d, %v; want 1001", got, err)
	}
}

func wantTooMany(t *testing.T, what string, err error) {
	t.Helper()
	const want = "too many parameters (300) max = 255"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s with 300 parameters: got %v, want the client-side error %q", what, err, want)
	}
}
