//! The Debian `dqlite` shell (go-dqlite 1.11.5) against our server: DDL,
//! inserts, a select, `.cluster`, `.leader`, an SQL error, and an
//! interactive session on stdin; and the same shell dialing a node on an
//! abstract Unix socket (`-s @name`, which go-dqlite dials as one).
//!
//! Knobs (environment variables; details in the crate documentation):
//!
//! - `CI` (default unset): a missing shell fails instead of skipping.
//! - `DQLITE_COMPAT_SHELL` (default `/usr/bin/dqlite`): the shell binary.
//! - `DQLITE_COMPAT_TIMEOUT_SECS` (default 120): limit for one shell run.
//! - `DQLITE_COMPAT_ADDRESS` (default unset): use this running node instead
//!   of starting one.
//! - `DQLITE_COMPAT_NODE_ID` (default 1): with `DQLITE_COMPAT_ADDRESS`, that
//!   node's id.
//! - `DQLITE_COMPAT_LOG` (default unset): `tracing` filter for server logs.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use dqlite_compat_tests::{DEFAULT_SHELL, Output, Server, require_tool, shell};

/// Runs one shell command on database `db` and returns its stdout; fails
/// unless it succeeded with nothing on stderr.
fn ok(dqlite: &Path, address: &str, db: &str, command: &str) -> String {
    let out = shell(dqlite, ["-s", address, db, command], None);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "dqlite {command:?}\n{}",
        out.transcript()
    );
    out.stdout
}

fn failed(dqlite: &Path, address: &str, db: &str, command: &str) -> Output {
    let out = shell(dqlite, ["-s", address, db, command], None);
    assert!(
        !out.status.success(),
        "dqlite {command:?} should fail\n{}",
        out.transcript()
    );
    out
}

#[test]
fn dqlite_shell() {
    let Some(dqlite) = require_tool("the dqlite shell", "DQLITE_COMPAT_SHELL", DEFAULT_SHELL)
    else {
        return;
    };
    let server = Server::start();
    let address = server.address();
    let id = server.id(); // `.cluster` prints it in hex
    // A database name of its own, in case DQLITE_COMPAT_ADDRESS is shared.
    let db = format!(
        "shell_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );

    let run = |command: &str| ok(&dqlite, address, &db, command);
    assert_eq!(
        run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, r REAL, n)"),
        ""
    );
    assert_eq!(
        run("INSERT INTO t (v, r, n) VALUES ('hello', 1.5, NULL), ('wörld ✓', -2, 7)"),
        ""
    );
    assert_eq!(
        run("SELECT id, v, r, n FROM t ORDER BY id"),
        "1|hello|1.5|<nil>\n2|wörld ✓|-2|7\n"
    );
    // Several statements in one command.
    assert_eq!(
        run("INSERT INTO t (v) VALUES ('three'); SELECT count(*) FROM t"),
        "3\n"
    );
    assert_eq!(run(".cluster"), format!("{id:x}|{address}|voter\n"));
    assert_eq!(run(".leader"), format!("{address}\n"));

    let out = failed(&dqlite, address, &db, "SELEC 1");
    assert!(
        out.stderr.contains(r#"near "SELEC": syntax error"#),
        "{}",
        out.transcript()
    );
    let out = failed(&dqlite, address, &db, "SELECT * FROM nosuch");
    assert!(
        out.stderr.contains("no such table: nosuch"),
        "{}",
        out.transcript()
    );

    // Interactive: commands on stdin, one prompt per line read.
    let out = shell(
        &dqlite,
        ["-s", address, db.as_str()],
        Some("SELECT v FROM t WHERE id = 2;\n.leader\n.cluster\n"),
    );
    assert!(out.status.success(), "{}", out.transcript());
    assert_eq!(
        out.stdout,
        format!("dqlite> wörld ✓\ndqlite> {address}\ndqlite> {id:x}|{address}|voter\ndqlite> ")
    );
}

/// go-dqlite dials an address starting with `@` as an abstract Unix
/// socket: the shell reaches a node listening on one as
/// `dqlite-server --address @name` does (a separate process of the same
/// user, which the node lets in).
#[test]
fn dqlite_shell_over_an_abstract_socket() {
    let Some(dqlite) = require_tool("the dqlite shell", "DQLITE_COMPAT_SHELL", DEFAULT_SHELL)
    else {
        return;
    };
    let name = format!("@dqlite-compat-shell-{}", std::process::id());
    let server = Server::start_in_process_on(&name);
    assert_eq!(server.address(), name);
    let run = |command: &str| ok(&dqlite, &name, "unix", command);
    assert_eq!(run("CREATE TABLE t (v TEXT)"), "");
    assert_eq!(run("INSERT INTO t VALUES ('over @name')"), "");
    assert_eq!(run("SELECT v FROM t"), "over @name\n");
    assert_eq!(run(".leader"), format!("{name}\n"));
    assert_eq!(run(".cluster"), format!("1|{name}|voter\n"));
}
