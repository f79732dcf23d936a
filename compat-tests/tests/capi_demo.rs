//! Drop-in test of `libdqlite.so.0` built from our node (`server/capi`):
//! Debian's unmodified `dqlite-demo` (go-dqlite 1.11.5's `app` package,
//! dynamically linked to libdqlite.so.0) runs a three-node cluster on our
//! library through `LD_LIBRARY_PATH`.
//!
//! Skipped with a notice when `dqlite-demo` is missing, unless `CI` is set
//! (`DQLITE_COMPAT_DEMO` names another binary).

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use dqlite_compat_tests::demo_cluster::DemoCluster;
use dqlite_compat_tests::{DEFAULT_DEMO, require_tool};

/// Limit for writes while the cluster fails over.
const FAILOVER: Duration = Duration::from_secs(30);

/// Our library laid out as `lib/libdqlite.so.0` in a temporary tree.
fn staged_library() -> (tempfile::TempDir, PathBuf) {
    let exe = std::env::current_exe().unwrap();
    let built = dqlite::dist::built_library(exe.parent().unwrap())
        .expect("libdqlite.so is built with the workspace (package dqlite-capi)");
    let tree = tempfile::tempdir().unwrap();
    let lib = dqlite::dist::stage(&built, tree.path()).unwrap();
    (tree, lib)
}

#[test]
fn dqlite_demo_cluster_runs_on_our_library() {
    let Some(demo) = require_tool("dqlite-demo", "DQLITE_COMPAT_DEMO", DEFAULT_DEMO) else {
        return;
    };
    let (_tree, lib) = staged_library();
    let ours = lib.join(dqlite::dist::SONAME);

    // The dynamic loader resolves the demo's libdqlite.so.0 to ours.
    let ldd = Command::new("ldd")
        .arg(&demo)
        .env("LD_LIBRARY_PATH", &lib)
        .output()
        .unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout).into_owned();
    let line = ldd
        .lines()
        .find(|l| l.contains("libdqlite.so.0"))
        .expect("dqlite-demo links libdqlite.so.0");
    assert!(line.contains(&ours.display().to_string()), "ldd: {line}");

    let mut cluster = DemoCluster::new(&demo, Some(&lib));
    for _ in 0..3 {
        cluster.add().unwrap_or_else(|e| panic!("{e}"));
    }
    for i in 0..3 {
        assert!(
            cluster.has_mapped(i, &ours).unwrap(),
            "node {i} did not load our library"
        );
    }

    // Writes through any node reach the leader; reads through any node
    // see them.
    for k in 0..10 {
        cluster
            .put(k % 3, &format!("k{k}"), &format!("v{k}"), FAILOVER)
            .unwrap();
    }
    for k in 0..10 {
        assert_eq!(
            cluster.get((k + 1) % 3, &format!("k{k}")).unwrap(),
            format!("v{k}")
        );
    }

    // The nodes promote themselves to voters (go-dqlite's app does it
    // through ASSIGN); then the cluster survives its leader's death.
    let leader = cluster.wait_leader(FAILOVER).unwrap();
    wait_voters(&cluster, 3);
    cluster.kill(leader);
    let survivor = (leader + 1) % 3;
    cluster
        .put(survivor, "after-kill", "yes", FAILOVER)
        .unwrap();
    for k in 0..10 {
        assert_eq!(
            cluster.get(survivor, &format!("k{k}")).unwrap(),
            format!("v{k}")
        );
    }
    let other = (leader + 2) % 3;
    assert_eq!(cluster.get(other, "after-kill").unwrap(), "yes");

    // A clean shutdown of the survivors (SIGTERM: handover, then close),
    // then every node restarts on its data.
    for i in [survivor, other] {
        assert!(
            cluster.terminate(i).unwrap(),
            "node {i} failed to exit cleanly:\n{}",
            cluster.log_text(i)
        );
    }
    for i in 0..3 {
        cluster.spawn(i).unwrap();
    }
    for i in 0..3 {
        cluster.wait_ready(i).unwrap_or_else(|e| panic!("{e}"));
    }
    cluster.wait_leader(FAILOVER).unwrap();
    for i in 0..3 {
        cluster
            .put(i, &format!("restart{i}"), "ok", FAILOVER)
            .unwrap();
    }
    for i in 0..3 {
        for k in 0..10 {
            assert_eq!(cluster.get(i, &format!("k{k}")).unwrap(), format!("v{k}"));
        }
        assert_eq!(cluster.get(i, "after-kill").unwrap(), "yes");
        assert_eq!(cluster.get(i, "restart2").unwrap(), "ok");
    }
}

/// Waits until the dqlite shell's `.cluster` lists `n` voters, if the
/// shell is installed.
fn wait_voters(cluster: &DemoCluster, n: usize) {
    let Some(shell) = require_tool("dqlite shell", "DQLITE_COMPAT_SHELL", "dqlite") else {
        return;
    };
    let deadline = std::time::Instant::now() + FAILOVER;
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        let out = Command::new(&shell)
            .arg("-s")
            .arg(cluster.nodes[0].db.to_string())
            .args(["demo", ".cluster"])
            .output()
            .unwrap();
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if last.lines().filter(|l| l.contains("voter")).count() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("fewer than {n} voters after {FAILOVER:?}:\n{last}");
}
