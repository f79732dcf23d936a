package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"

	client1 "github.com/canonical/go-dqlite/client"
	driver1 "github.com/canonical/go-dqlite/driver"
)

// openV1 opens database dbname through the go-dqlite 1.11.x driver, with a
// single pooled connection so that one scenario is one connection.
func openV1(ctx context.Context, s *session, dbname string) (*sql.DB, error) {
	store := client1.NewInmemNodeStore()
	if err := store.Set(ctx, []client1.NodeInfo{{Address: *addr}}); err != nil {
		return nil, err
	}
	drv, err := driver1.New(store,
		driver1.WithDialFunc(s.dial),
		driver1.WithConnectionTimeout(10*time.Second),
		driver1.WithContextTimeout(20*time.Second),
		driver1.WithRetryLimit(5),
	)
	if err != nil {
		return nil, err
	}
	connector, err := drv.OpenConnector(dbname)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	return db, nil
}

// withV1 runs body on a fresh v1 database handle and closes it afterwards.
func withV1(ctx context.Context, s *session, r *run, dbname string, body func(db *sql.DB)) {
	db, err := openV1(ctx, s, dbname)
	if !r.ok("open", err) {
		return
	}
	r.ok("ping", db.PingContext(ctx))
	body(db)
	r.ok("close", db.Close())
}

// Scenario 1: every Go parameter type through db.Exec, and back.
func v1DriverTypes(ctx context.Context, s *session, r *run) {
	withV1(ctx, s, r, "capture", func(db *sql.DB) {
		r.exec(ctx, db, "CREATE TABLE types_v1 "+typesTable)
		for _, row := range typesRows() {
			r.exec(ctx, db, "INSERT INTO types_v1 (i, r, t, b, dt, d, ts, bo) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row...)
		}
		r.query(ctx, db, "SELECT id, i, r, t, b, dt, d, ts, bo FROM types_v1 ORDER BY id")
		r.query(ctx, db, "SELECT typeof(i), typeof(r), typeof(t), typeof(b), typeof(dt), typeof(bo) FROM types_v1 ORDER BY id")
		r.query(ctx, db, "SELECT 1, 2.5, 'text', x'0102', NULL, ?, ?", int64(7), "param")
	})
}

// Scenario 2: prepared statements.
func v1Prepared(ctx context.Context, s *session, r *run) {
	withV1(ctx, s, r, "capture", func(db *sql.DB) {
		r.exec(ctx, db, "CREATE TABLE prep_v1 (id INTEGER PRIMARY KEY, name TEXT, score REAL)")
		ins, err := db.PrepareContext(ctx, "INSERT INTO prep_v1 (name, score) VALUES (?, ?)")
		if !r.ok("prepare insert", err) {
			return
		}
		for i, name := range []string{"alpha", "beta", "gamma", "delta"} {
			_, err := ins.ExecContext(ctx, name, float64(i)+0.5)
			r.ok("exec prepared insert "+name, err)
		}
		sel, err := db.PrepareContext(ctx, "SELECT id, name, score FROM prep_v1 WHERE score > ? ORDER BY id")
		if !r.ok("prepare select", err) {
			return
		}
		for _, min := range []float64{1.0, 2.9} {
			rows, err := sel.QueryContext(ctx, min)
			if r.ok(fmt.Sprintf("query prepared select %v", min), err) {
				r.readAll("prepared select", rows)
			}
		}
		r.ok("close insert stmt", ins.Close())
		r.ok("close select stmt", sel.Close())
	})
}

// Scenario 3: transactions.
func v1Tx(ctx context.Context, s *session, r *run) {
	withV1(ctx, s, r, "capture", func(db *sql.DB) {
		r.exec(ctx, db, "CREATE TABLE tx_v1 (id INTEGER PRIMARY KEY, v TEXT)")

		tx, err := db.BeginTx(ctx, nil)
		if r.ok("begin 1", err) {
			_, err = tx.ExecContext(ctx, "INSERT INTO tx_v1 (v) VALUES (?)", "committed")
			r.ok("insert in tx 1", err)
			r.ok("commit", tx.Commit())
		}

		tx, err = db.BeginTx(ctx, nil)
		if r.ok("begin 2", err) {
			_, err = tx.ExecContext(ctx, "INSERT INTO tx_v1 (v) VALUES (?)", "rolled back")
			r.ok("insert in tx 2", err)
			rows, err := tx.QueryContext(ctx, "SELECT count(*) FROM tx_v1")
			if r.ok("count inside tx 2", err) {
				r.readAll("count inside tx 2", rows)
			}
			r.ok("rollback", tx.Rollback())
		}

		r.query(ctx, db, "SELECT id, v FROM tx_v1 ORDER BY id")
	})
}

// Scenario 4: a result set spanning many ROWS messages, and an early close.
func v1Large(ctx context.Context, s *session, r *run) {
	withV1(ctx, s, r, "capture", func(db *sql.DB) {
		r.exec(ctx, db, "CREATE TABLE large_v1 (id INTEGER PRIMARY KEY, v TEXT)")
		tx, err := db.BeginTx(ctx, nil)
		if r.ok("begin", err) {
			_, err = tx.ExecContext(ctx, `INSERT INTO large_v1 (id, v)
				WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
				SELECT x, 'row-' || x FROM c`, int64(3000))
			r.ok("insert 3000 rows", err)
			r.ok("commit", tx.Commit())
		}
		got := r.query(ctx, db, "SELECT id, v FROM large_v1 ORDER BY id")
		if len(got) != 3000 {
			r.ok("row count", fmt.Errorf("read %d rows, want 3000", len(got)))
		}

		// Read one row and close: go-dqlite interrupts the query.
		rows, err := db.QueryContext(ctx, "SELECT id, v FROM large_v1 ORDER BY id")
		if r.ok("select for early close", err) {
			if !rows.Next() {
				r.ok("first row", fmt.Errorf("no row: %v", rows.Err()))
			}
			r.ok("early rows.Close", rows.Close())
		}
		// The connection is still usable afterwards.
		r.query(ctx, db, "SELECT count(*) FROM large_v1")
	})
}

// Scenario 4b: a 100 KiB blob, in and out (its own file to keep each file
// near 200 KiB).
func v1Blob(ctx context.Context, s *session, r *run) {
	withV1(ctx, s, r, "capture", func(db *sql.DB) {
		r.exec(ctx, db, "CREATE TABLE blob_v1 (id INTEGER PRIMARY KEY, data BLOB)")
		blob := make([]byte, 100*1024)
		for i := range blob {
			blob[i] = byte(i*7 + i/251)
		}
		r.exec(ctx, db, "INSERT INTO blob_v1 (data) VALUES (?)", blob)
		got := r.query(ctx, db, "SELECT id, data FROM blob_v1")
		if len(got) != 1 {
			r.ok("blob rows", fmt.Errorf("got %d rows", len(got)))
		} else if b, _ := got[0][1].([]byte); !bytes.Equal(b, blob) {
			r.ok("blob round trip", fmt.Errorf("blob differs (len %d)", len(b)))
		}
	})
}

// Scenario 5: errors, and an empty result set.
func v1Errors(ctx context.Context, s *session, r *run) {
	withV1(ctx, s, r, "capture", func(db *sql.DB) {
		_, err := db.ExecContext(ctx, "SELEC 1")
		r.expectErr("exec syntax error", err)
		_, err = db.QueryContext(ctx, "SELEC 1")
		r.expectErr("query syntax error", err)
		_, err = db.PrepareContext(ctx, "SELEC 1")
		r.expectErr("prepare syntax error", err)

		r.exec(ctx, db, "CREATE TABLE err_v1 (id INTEGER PRIMARY KEY, u TEXT UNIQUE NOT NULL)")
		r.exec(ctx, db, "INSERT INTO err_v1 (u) VALUES (?)", "dup")
		_, err = db.ExecContext(ctx, "INSERT INTO err_v1 (u) VALUES (?)", "dup")
		r.expectErr("unique violation", err)
		_, err = db.ExecContext(ctx, "INSERT INTO err_v1 (u) VALUES (NULL)")
		r.expectErr("not null violation", err)

		_, err = db.QueryContext(ctx, "SELECT * FROM no_such_table_v1")
		r.expectErr("query no such table", err)
		_, err = db.ExecContext(ctx, "INSERT INTO no_such_table_v1 VALUES (1)")
		r.expectErr("exec no such table", err)

		_, err = db.ExecContext(ctx, "SELECT ?", int64(1), int64(2))
		r.expectErr("too many parameters", err)

		got := r.query(ctx, db, "SELECT id, u FROM err_v1 WHERE id < 0")
		if len(got) != 0 {
			r.ok("empty result", fmt.Errorf("got %d rows", len(got)))
		}
		r.query(ctx, db, "SELECT id, u FROM err_v1 ORDER BY id")
	})
}

// Scenario 6: the client package.
func v1Client(dumpDB string) func(ctx context.Context, s *session, r *run) {
	return func(ctx context.Context, s *session, r *run) {
		cli, err := client1.New(ctx, *addr, client1.WithDialFunc(s.dial))
		if !r.ok("client.New", err) {
			return
		}
		defer func() { r.ok("client close", cli.Close()) }()
		leader, err := cli.Leader(ctx)
		if r.ok("Leader", err) {
			r.logf("leader %x %s", leader.ID, leader.Address)
		}
		nodes, err := cli.Cluster(ctx)
		if r.ok("Cluster", err) {
			r.logf("cluster %v", nodes)
		}
		md, err := cli.Describe(ctx)
		if r.ok("Describe", err) {
			r.logf("describe %+v", *md)
		}
		r.ok("Weight", cli.Weight(ctx, 7))
		md, err = cli.Describe(ctx)
		if r.ok("Describe after Weight", err) {
			r.logf("describe %+v", *md)
		}
		files, err := cli.Dump(ctx, dumpDB)
		if r.ok("Dump "+dumpDB, err) {
			for _, f := range files {
				r.logf("dump file %s: %d bytes", f.Name, len(f.Data))
			}
		}
	}
}

// makeTinyDB creates a small separate database for the Dump fallback.
func makeTinyDB(ctx context.Context, s *session, r *run, name string) {
	withV1(ctx, s, r, name, func(db *sql.DB) {
		r.exec(ctx, db, "CREATE TABLE IF NOT EXISTS tiny (id INTEGER PRIMARY KEY, v TEXT)")
		r.exec(ctx, db, "INSERT INTO tiny (v) VALUES (?), (?)", "one", "two")
	})
}
