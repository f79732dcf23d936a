package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"math"
	"time"
)

// run is the state of one scenario: it logs every step and keeps the
// unexpected errors. Expected errors (the error scenarios, the 300-parameter
// query against a 1.11.1 server) are logged but not counted.
type run struct {
	name       string
	unexpected []string
}

func (r *run) ok(step string, err error) bool {
	if err != nil {
		r.unexpected = append(r.unexpected, fmt.Sprintf("%s: %v", step, err))
		log.Printf("[%s] %s: UNEXPECTED ERROR: %v", r.name, step, err)
		return false
	}
	if *verbose {
		log.Printf("[%s] %s: ok", r.name, step)
	}
	return true
}

func (r *run) expectErr(step string, err error) {
	if err == nil {
		r.unexpected = append(r.unexpected, step+": expected an error, got none")
		log.Printf("[%s] %s: UNEXPECTED SUCCESS", r.name, step)
		return
	}
	log.Printf("[%s] %s: expected error: %v", r.name, step, err)
}

// exec runs one statement through db.ExecContext.
func (r *run) exec(ctx context.Context, db *sql.DB, query string, args ...any) {
	_, err := db.ExecContext(ctx, query, args...)
	r.ok(abbrev(query), err)
}

// query runs a query and reads every row; it returns the rows read.
func (r *run) query(ctx context.Context, db *sql.DB, query string, args ...any) [][]any {
	rows, err := db.QueryContext(ctx, query, args...)
	if !r.ok(abbrev(query), err) {
		return nil
	}
	return r.readAll(abbrev(query), rows)
}

func (r *run) readAll(step string, rows *sql.Rows) [][]any {
	defer rows.Close()
	cols, err := rows.Columns()
	if !r.ok(step+" columns", err) {
		return nil
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if !r.ok(step+" scan", rows.Scan(ptrs...)) {
			return out
		}
		out = append(out, vals)
	}
	r.ok(step+" iterate", rows.Err())
	if *verbose {
		for i, row := range out {
			if i >= 5 {
				log.Printf("[%s]   ... %d rows", r.name, len(out))
				break
			}
			log.Printf("[%s]   %v", r.name, describe(row))
		}
	}
	return out
}

func describe(row []any) string {
	s := "("
	for i, v := range row {
		if i > 0 {
			s += ", "
		}
		switch x := v.(type) {
		case []byte:
			if len(x) > 16 {
				s += fmt.Sprintf("[]byte(len %d)", len(x))
			} else {
				s += fmt.Sprintf("%#v", x)
			}
		case string:
			if len(x) > 40 {
				s += fmt.Sprintf("string(len %d)", len(x))
			} else {
				s += fmt.Sprintf("%q", x)
			}
		default:
			s += fmt.Sprintf("%T(%v)", v, v)
		}
	}
	return s + ")"
}

func abbrev(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// Values used by the type scenarios.
var (
	unicodeText = "héllo ✓ 日本"
	negZero     = math.Copysign(0, -1)
	time1       = time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)
	time2       = time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("", 3600))
	time3       = time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)
	blobBytes   = []byte{0x00, 0x01, 0x02, 0xfe, 0xff}
)

const typesTable = `(
	id INTEGER PRIMARY KEY,
	i INTEGER,
	r REAL,
	t TEXT,
	b BLOB,
	dt DATETIME,
	d DATE,
	ts TIMESTAMP,
	bo BOOLEAN
)`

// typesRows are the rows of the type scenarios, one Go type per column:
// int64, float64, string, []byte, time.Time (x3), bool; nil anywhere.
func typesRows() [][]any {
	return [][]any{
		{int64(1), float64(1.5), unicodeText, blobBytes, time1, time3, time2, true},
		{int64(math.MinInt64), math.Inf(1), "", []byte{}, time2, time1, time3, false},
		{int64(math.MaxInt64), negZero, "plain", []byte{0x42}, time3, time2, time1, true},
		{int64(0), math.NaN(), "nan row", []byte(nil), time1, time1, time1, false},
		{int64(-1), math.Inf(-1), "x", blobBytes, nil, nil, nil, nil},
		{nil, nil, nil, nil, nil, nil, nil, nil}, // the NULL row
	}
}

// maxRecording is the size above which a scenario's file is considered too
// big for a committed fixture.
const maxRecording = 200 * 1024

func (r *run) logf(format string, a ...any) {
	if *verbose {
		log.Printf("["+r.name+"] "+format, a...)
	}
}
