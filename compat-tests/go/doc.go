// Package compat holds compatibility tests that drive real go-dqlite clients
// (github.com/canonical/go-dqlite 1.11.x and github.com/canonical/go-dqlite/v3)
// against a running dqlite node.
//
// The tests live in the _test.go files; this file only documents the package.
// They read the node's address from the environment variable DQLITE_ADDRESS
// and fail (they do not skip) when it is missing (the cluster scenarios
// excepted, see below). Normally they are run by the Rust harness in
// ../tests/go.rs, which starts the Rust server in-process, builds this
// package once with
//
//	CGO_ENABLED=0 go test -c -tags nosqlite3 -o <dir>/dqlite-compat.test
//
// and runs each TestXxx in its own process. To run them by hand against any
// node (the Rust server binary, or the C dqlite server):
//
//	DQLITE_ADDRESS=127.0.0.1:9001 CGO_ENABLED=0 go test -tags nosqlite3 -v ./...
//
// Environment: DQLITE_ADDRESS (required) is the node's host:port;
// DQLITE_NODE_ID (default 1) is its id, checked by the client tests (the C
// dqlite-demo derives a large id from its address); DQLITE_COMPAT_KNOWN_BUGS,
// when non-empty, runs the tests marked as known server bugs (see
// knownServerBug) instead of skipping them.
//
// Every test uses database names of its own (see dbName), so the tests can
// share one node. Every scenario exists twice, TestV1Xxx for go-dqlite 1.11.x
// and TestV3Xxx for go-dqlite v3, sharing one implementation (see flavor).
//
// The cluster scenarios (cluster_test.go, TestV1Cluster... and
// TestV3Cluster...) need a cluster rather than one node: they read the
// members' addresses from DQLITE_CLUSTER (comma-separated; node ids 1, 2,
// 3... in that order) and, for the membership scenarios, the address of a
// running node that is not a member yet from DQLITE_NEW_NODE (its id is the
// number of members plus one); they skip when these are not set. Those that
// need the cluster acted upon (its leader stopped, its members' copies of a
// database compared) ask the harness through files in the directory
// DQLITE_HANDSHAKE (see askHarness) and skip without it. The Rust harness
// in ../tests/cluster.rs sets all three. By hand, against a cluster started
// as the top-level README shows:
//
//	DQLITE_CLUSTER=127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003 CGO_ENABLED=0 \
//		go test -tags nosqlite3 -v -run ClusterClient ./...
//
// The fault scenario (linearizability_test.go, TestV3LinearizableUnderFaults)
// also reads DQLITE_CLUSTER and needs the harness in ../tests/linearizability.rs,
// which runs the nodes as processes behind proxies so that it can kill them
// and cut their links; it writes what explains a failure (porcupine's
// visualization, the history) into DQLITE_REPORT_DIR.
//
// The TLS scenario (tls_test.go, TestV3TLSClusterFailover) reads
// DQLITE_CLUSTER and the nodes' shared cluster certificate and key from
// DQLITE_TLS_CERT and DQLITE_TLS_KEY, and asks the harness in
// ../tests/go_tls.rs to kill the leader.
//
// A test that fails because the server misbehaves (not because of the test)
// is kept and marked with t.Skip("SERVER BUG: ...") until the server is fixed.
package compat
