package main

import (
	"context"
	"database/sql"
	"strings"
	"time"

	client3 "github.com/canonical/go-dqlite/v3/client"
	driver3 "github.com/canonical/go-dqlite/v3/driver"
)

func openV3(ctx context.Context, s *session, dbname string) (*sql.DB, error) {
	store := client3.NewInmemNodeStore()
	if err := store.Set(ctx, []client3.NodeInfo{{Address: *addr}}); err != nil {
		return nil, err
	}
	drv, err := driver3.New(store,
		driver3.WithDialFunc(s.dial),
		driver3.WithConnectionTimeout(10*time.Second),
		driver3.WithContextTimeout(20*time.Second),
		driver3.WithRetryLimit(5),
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

// Scenario 7: the v3 driver, scenario 1 condensed, plus 300 parameters.
func v3Driver(ctx context.Context, s *session, r *run) {
	db, err := openV3(ctx, s, "capture")
	if !r.ok("open", err) {
		return
	}
	defer func() { r.ok("close", db.Close()) }()
	r.ok("ping", db.PingContext(ctx))
	r.exec(ctx, db, "CREATE TABLE types_v3 "+typesTable)
	for _, row := range typesRows() {
		r.exec(ctx, db, "INSERT INTO types_v3 (i, r, t, b, dt, d, ts, bo) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row...)
	}
	r.query(ctx, db, "SELECT id, i, r, t, b, dt, d, ts, bo FROM types_v3 ORDER BY id")

	stmt, err := db.PrepareContext(ctx, "SELECT id, t FROM types_v3 WHERE id > ? ORDER BY id")
	if r.ok("prepare", err) {
		rows, err := stmt.QueryContext(ctx, int64(3))
		if r.ok("query prepared", err) {
			r.readAll("prepared", rows)
		}
		r.ok("close stmt", stmt.Close())
	}

	// 255 parameters: the largest schema-0 tuple.
	r.query(ctx, db, placeholders(255), ints(255)...)

	// 300 parameters: go-dqlite v3 sends a schema-1 tuple (uint32 count),
	// which libdqlite 1.11.1 does not understand: it answers FAILURE.
	_, err = db.QueryContext(ctx, placeholders(300), ints(300)...)
	r.expectErr("query with 300 parameters (schema-1 tuple)", err)
	_, err = db.ExecContext(ctx, "INSERT INTO types_v3 (i) VALUES (?1 + ?300)", ints(300)...)
	r.expectErr("exec with 300 parameters (schema-1 tuple)", err)

	// The connection still works afterwards.
	r.query(ctx, db, "SELECT count(*) FROM types_v3")
}

// placeholders returns "SELECT ?, ?, ..." with n parameters.
func placeholders(n int) string {
	return "SELECT " + strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func ints(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

// Scenario 8: the v3 client package.
func v3Client(ctx context.Context, s *session, r *run) {
	cli, err := client3.New(ctx, *addr, client3.WithDialFunc(s.dial))
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
	r.ok("Weight", cli.Weight(ctx, 3))
	md, err = cli.Describe(ctx)
	if r.ok("Describe after Weight", err) {
		r.logf("describe %+v", *md)
	}
}
