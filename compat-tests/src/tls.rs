//! Mutual TLS for the compatibility tests: the cluster certificate made
//! with `openssl` as the README's "Secure cluster" section says, and the
//! Go TLS scenarios (`go/tls_test.go`) against node processes running
//! with it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use dqlite_server::tls::TlsFiles;

use crate::faults::FaultCluster;

/// Environment variable holding the cluster certificate (PEM) for the Go
/// TLS scenarios.
pub const TLS_CERT_ENV: &str = "DQLITE_TLS_CERT";
/// Environment variable holding the cluster certificate's key (PEM).
pub const TLS_KEY_ENV: &str = "DQLITE_TLS_KEY";

/// Default of `DQLITE_COMPAT_OPENSSL`.
pub const DEFAULT_OPENSSL: &str = "/usr/bin/openssl";

/// The `openssl` tool (`DQLITE_COMPAT_OPENSSL`, default
/// `/usr/bin/openssl`); `None` after a skip message when it is missing,
/// unless `CI` is set.
///
/// # Panics
///
/// If it is missing and `CI` (or `DQLITE_REQUIRE_TOOLS`) is set.
pub fn openssl_or_skip() -> Option<PathBuf> {
    crate::require_tool("openssl", "DQLITE_COMPAT_OPENSSL", DEFAULT_OPENSSL)
}

/// Makes `cluster.crt` and `cluster.key` in `dir` as the README says: one
/// self-signed certificate (`openssl req -x509`, so marked `CA:TRUE`)
/// with the DNS name `dqlite`, shared by every node and client, as LXD's
/// cluster certificate.
///
/// # Panics
///
/// If `openssl` fails.
pub fn cluster_certificate(openssl: &Path, dir: &Path) -> TlsFiles {
    let files = TlsFiles {
        cert: dir.join("cluster.crt"),
        key: dir.join("cluster.key"),
        ca: None,
        admin_ca: None,
    };
    let out = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650"])
        .args([
            "-subj",
            "/CN=dqlite",
            "-addext",
            "subjectAltName=DNS:dqlite",
        ])
        .arg("-keyout")
        .arg(&files.key)
        .arg("-out")
        .arg(&files.cert)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", openssl.display()));
    assert!(
        out.status.success(),
        "openssl req -x509 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    files
}

/// Runs Go TLS scenario `name` (e.g. `TestV3TLSClusterFailover`, from
/// `go/tls_test.go`) against three fresh `node_binary`
/// (`dqlite-compat-node`) processes running mutual TLS with one cluster
/// certificate (see [`cluster_certificate`]), each behind a proxy of a
/// [`FaultCluster`], with the Go tests built into `out_dir`. The Go test
/// gets the nodes' addresses in `DQLITE_CLUSTER`, the certificate and its
/// key in [`TLS_CERT_ENV`] and [`TLS_KEY_ENV`], and asks for `kill <id>`
/// (SIGKILL, by this process) through files in `DQLITE_HANDSHAKE` (see
/// [`FaultCluster::handle`]). Node logs go to a report directory under
/// `out_dir/tls/`, kept and named when the test fails. Prints the Go
/// output; skips (or, with `CI`, fails) without Go or `openssl`.
///
/// # Panics
///
/// If the cluster does not start, a node dies without being killed, or
/// the Go test fails, skips, does not run, or times out.
pub fn run_go_tls_test(out_dir: &str, name: &str, node_binary: &str) {
    let Some(binary) = crate::go_binary_or_skip(out_dir) else {
        return;
    };
    let Some(openssl) = openssl_or_skip() else {
        return;
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let report = Path::new(out_dir)
        .join("tls")
        .join(format!("{name}-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&report)
        .unwrap_or_else(|e| panic!("creating {}: {e}", report.display()));
    let files = cluster_certificate(&openssl, &report);
    let node_args: Vec<OsString> = vec![
        "--tls-cert".into(),
        files.cert.clone().into(),
        "--tls-key".into(),
        files.key.clone().into(),
    ];
    let started = std::time::Instant::now();
    let mut cluster = FaultCluster::start_with_args(Path::new(node_binary), 3, &report, &node_args);
    eprintln!(
        "started 3 TLS node processes behind proxies {:?} in {:.1?}; logs in {}",
        cluster.addresses(),
        started.elapsed(),
        report.display()
    );
    let env = [
        ("DQLITE_CLUSTER", cluster.addresses().join(",")),
        (TLS_CERT_ENV, files.cert.display().to_string()),
        (TLS_KEY_ENV, files.key.display().to_string()),
    ];
    let (out, elapsed) = crate::run_go_process(binary, name, &env, &mut |step, argument| {
        cluster.handle(step, argument)
    });
    let exited = cluster.exited();
    drop(cluster);
    let passed = out.status.success() && exited.is_empty();
    if !passed {
        eprintln!("FAILED: node logs are kept in {}", report.display());
    }
    assert!(
        exited.is_empty(),
        "nodes died without being killed: {exited:?}\n{}",
        out.transcript()
    );
    crate::check_go_output(name, &out, elapsed);
    // The harness sets everything the scenario needs: a skip is a failure.
    assert!(
        out.stdout.contains(&format!("--- PASS: {name} ")),
        "Go test {name} did not pass (skipped?)\n{}",
        out.transcript()
    );
    let _ = std::fs::remove_dir_all(&report);
}
