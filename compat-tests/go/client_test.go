package compat

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	client1 "github.com/canonical/go-dqlite/client"
	client3 "github.com/canonical/go-dqlite/v3/client"
)

func TestV1Client(t *testing.T) { testClient(t, v1, newClientV1) }
func TestV3Client(t *testing.T) { testClient(t, v3, newClientV3) }

// node and file are the parts of client.NodeInfo and client.File that the
// tests look at, common to both versions.
type node struct {
	ID      uint64
	Address string
	Role    string
}

type file struct {
	Name string
	Data []byte
}

// clientAPI is the client package of one go-dqlite version.
type clientAPI struct {
	leader   func(ctx context.Context) (node, error)
	cluster  func(ctx context.Context) ([]node, error)
	describe func(ctx context.Context) (weight uint64, err error)
	weight   func(ctx context.Context, w uint64) error
	dump     func(ctx context.Context, db string) ([]file, error)
	// add adds a node with role "voter", "stand-by" or "spare" (Client.Add).
	add func(ctx context.Context, n node) error
	// assign gives node id the role "voter", "stand-by" or "spare".
	assign func(ctx context.Context, id uint64, role string) error
	remove func(ctx context.Context, id uint64) error
	close  func() error
}

// clientVersion is how one go-dqlite version makes clients: of one node,
// or of the leader found through a node store.
type clientVersion struct {
	connect    func(ctx context.Context, addr string) (clientAPI, error)
	findLeader func(ctx context.Context, nodes []node) (clientAPI, error)
}

var clientsV1 = clientVersion{connect: newClientV1, findLeader: findLeaderV1}
var clientsV3 = clientVersion{connect: newClientV3, findLeader: findLeaderV3}

func newClientV1(ctx context.Context, addr string) (clientAPI, error) {
	c, err := client1.New(ctx, addr)
	if err != nil {
		return clientAPI{}, err
	}
	return wrapClientV1(c), nil
}

// findLeaderV1 is client.FindLeader with an in-memory store of nodes.
func findLeaderV1(ctx context.Context, nodes []node) (clientAPI, error) {
	store := client1.NewInmemNodeStore()
	infos := make([]client1.NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		infos = append(infos, client1.NodeInfo{ID: n.ID, Address: n.Address})
	}
	if err := store.Set(ctx, infos); err != nil {
		return clientAPI{}, err
	}
	c, err := client1.FindLeader(ctx, store)
	if err != nil {
		return clientAPI{}, err
	}
	return wrapClientV1(c), nil
}

func roleV1(role string) (client1.NodeRole, error) {
	for _, r := range []client1.NodeRole{client1.Voter, client1.StandBy, client1.Spare} {
		if r.String() == role {
			return r, nil
		}
	}
	return 0, fmt.Errorf("no role %q", role)
}

func wrapClientV1(c *client1.Client) clientAPI {
	return clientAPI{
		leader: func(ctx context.Context) (node, error) {
			n, err := c.Leader(ctx)
			if err != nil || n == nil {
				return node{}, err
			}
			return node{n.ID, n.Address, n.Role.String()}, nil
		},
		cluster: func(ctx context.Context) ([]node, error) {
			ns, err := c.Cluster(ctx)
			out := make([]node, 0, len(ns))
			for _, n := range ns {
				out = append(out, node{n.ID, n.Address, n.Role.String()})
			}
			return out, err
		},
		describe: func(ctx context.Context) (uint64, error) {
			md, err := c.Describe(ctx)
			if err != nil {
				return 0, err
			}
			return md.Weight, nil
		},
		weight: c.Weight,
		dump: func(ctx context.Context, db string) ([]file, error) {
			fs, err := c.Dump(ctx, db)
			out := make([]file, 0, len(fs))
			for _, f := range fs {
				out = append(out, file{f.Name, f.Data})
			}
			return out, err
		},
		add: func(ctx context.Context, n node) error {
			role, err := roleV1(n.Role)
			if err != nil {
				return err
			}
			return c.Add(ctx, client1.NodeInfo{ID: n.ID, Address: n.Address, Role: role})
		},
		assign: func(ctx context.Context, id uint64, role string) error {
			r, err := roleV1(role)
			if err != nil {
				return err
			}
			return c.Assign(ctx, id, r)
		},
		remove: c.Remove,
		close:  c.Close,
	}
}

func newClientV3(ctx context.Context, addr string) (clientAPI, error) {
	c, err := client3.New(ctx, addr)
	if err != nil {
		return clientAPI{}, err
	}
	return wrapClientV3(c), nil
}

// findLeaderV3 is client.FindLeader with an in-memory store of nodes.
func findLeaderV3(ctx context.Context, nodes []node) (clientAPI, error) {
	store := client3.NewInmemNodeStore()
	infos := make([]client3.NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		infos = append(infos, client3.NodeInfo{ID: n.ID, Address: n.Address})
	}
	if err := store.Set(ctx, infos); err != nil {
		return clientAPI{}, err
	}
	c, err := client3.FindLeader(ctx, store)
	if err != nil {
		return clientAPI{}, err
	}
	return wrapClientV3(c), nil
}

func roleV3(role string) (client3.NodeRole, error) {
	for _, r := range []client3.NodeRole{client3.Voter, client3.StandBy, client3.Spare} {
		if r.String() == role {
			return r, nil
		}
	}
	return 0, fmt.Errorf("no role %q", role)
}

func wrapClientV3(c *client3.Client) clientAPI {
	return clientAPI{
		leader: func(ctx context.Context) (node, error) {
			n, err := c.Leader(ctx)
			if err != nil || n == nil {
				return node{}, err
			}
			return node{n.ID, n.Address, n.Role.String()}, nil
		},
		cluster: func(ctx context.Context) ([]node, error) {
			ns, err := c.Cluster(ctx)
			out := make([]node, 0, len(ns))
			for _, n := range ns {
				out = append(out, node{n.ID, n.Address, n.Role.String()})
			}
			return out, err
		},
		describe: func(ctx context.Context) (uint64, error) {
			md, err := c.Describe(ctx)
			if err != nil {
				return 0, err
			}
			return md.Weight, nil
		},
		weight: c.Weight,
		dump: func(ctx context.Context, db string) ([]file, error) {
			fs, err := c.Dump(ctx, db)
			out := make([]file, 0, len(fs))
			for _, f := range fs {
				out = append(out, file{f.Name, f.Data})
			}
			return out, err
		},
		add: func(ctx context.Context, n node) error {
			role, err := roleV3(n.Role)
			if err != nil {
				return err
			}
			return c.Add(ctx, client3.NodeInfo{ID: n.ID, Address: n.Address, Role: role})
		},
		assign: func(ctx context.Context, id uint64, role string) error {
			r, err := roleV3(role)
			if err != nil {
				return err
			}
			return c.Assign(ctx, id, r)
		},
		remove: c.Remove,
		close:  c.Close,
	}
}

// testClient: the client package against a one-node cluster: node
// DQLITE_NODE_ID (default 1), a voter.
func testClient(t *testing.T, f flavor, connect func(context.Context, string) (clientAPI, error)) {
	ctx := testContext(t)
	addr := address(t)
	c, err := connect(ctx, addr)
	if err != nil {
		t.Fatalf("client.New(%s): %v", addr, err)
	}
	defer func() {
		if err := c.close(); err != nil {
			t.Errorf("client close: %v", err)
		}
	}()

	leader, err := c.leader(ctx)
	if err != nil {
		t.Fatalf("Leader: %v", err)
	}
	id := nodeID(t)
	if leader.ID != id || leader.Address != addr {
		t.Errorf("Leader: got id %d address %q, want id %d address %q", leader.ID, leader.Address, id, addr)
	}

	nodes, err := c.cluster(ctx)
	if err != nil {
		t.Fatalf("Cluster: %v", err)
	}
	if want := (node{id, addr, "voter"}); len(nodes) != 1 || nodes[0] != want {
		t.Errorf("Cluster: got %+v, want [%+v]", nodes, want)
	}

	before, err := c.describe(ctx)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	t.Logf("initial weight %d", before)
	for _, w := range []uint64{5, 0, 5} {
		if err := c.weight(ctx, w); err != nil {
			t.Fatalf("Weight(%d): %v", w, err)
		}
		got, err := c.describe(ctx)
		if err != nil {
			t.Fatalf("Describe after Weight(%d): %v", w, err)
		}
		if got != w {
			t.Errorf("Describe after Weight(%d): weight %d", w, got)
		}
	}

	// Dump a database with some content.
	name := dbName(t)
	db := f.open(t, name)
	db.SetMaxOpenConns(1)
	mustExec(t, ctx, db, "CREATE TABLE dumped (id INTEGER PRIMARY KEY, v TEXT)")
	mustExec(t, ctx, db, `INSERT INTO dumped (v)
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)
		SELECT 'dumped row ' || x FROM c`)
	files, err := c.dump(ctx, name)
	if err != nil {
		t.Fatalf("Dump(%s): %v", name, err)
	}
	checkDump(t, name, files)
}

// checkDump: the first file is a valid SQLite database image, the optional
// second one its WAL, and together they hold the schema.
func checkDump(t *testing.T, name string, files []file) {
	t.Helper()
	for _, f := range files {
		t.Logf("dump file %q: %d bytes", f.Name, len(f.Data))
	}
	if len(files) == 0 || len(files) > 2 {
		t.Fatalf("Dump: %d files, want the database and optionally its WAL", len(files))
	}
	main := files[0]
	if main.Name != name {
		t.Errorf("Dump: first file named %q, want %q", main.Name, name)
	}

	// Write it out and check the file on disk, as a backup tool would.
	dir := t.TempDir()
	path := filepath.Join(dir, main.Name)
	if err := os.WriteFile(path, main.Data, 0o600); err != nil {
		t.Fatalf("write dump: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read dump: %v", err)
	}
	const magic = "SQLite format 3\x00"
	if len(data) < 100 || string(data[:16]) != magic {
		n := min(len(data), 16)
		t.Fatalf("dumped database: %d bytes, header %q; want a SQLite database (%q)", len(data), data[:n], magic)
	}
	pageSize := int(binary.BigEndian.Uint16(data[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 || len(data)%pageSize != 0 {
		t.Errorf("dumped database: page size %d, %d bytes (not a whole number of pages)", pageSize, len(data))
	}

	var wal []byte
	if len(files) == 2 {
		if files[1].Name != name+"-wal" {
			t.Errorf("Dump: second file named %q, want %q", files[1].Name, name+"-wal")
		}
		wal = files[1].Data
	}
	if len(wal) > 0 {
		if m := binary.BigEndian.Uint32(wal[:4]); len(wal) < 32 || (m != 0x377f0682 && m != 0x377f0683) {
			t.Errorf("dumped WAL: %d bytes, magic %#x; want a SQLite WAL", len(wal), m)
		}
	} else {
		// No WAL: the header's page count is the whole file.
		pages := int(binary.BigEndian.Uint32(data[28:32]))
		if pages*pageSize != len(data) {
			t.Errorf("dumped database: header says %d pages of %d bytes, file has %d bytes", pages, pageSize, len(data))
		}
	}
	all := append(append([]byte{}, data...), wal...)
	for _, want := range []string{"CREATE TABLE dumped", "dumped row 1", "dumped row 500"} {
		if !bytes.Contains(all, []byte(want)) {
			t.Errorf("dump does not contain %q", want)
		}
	}
}
