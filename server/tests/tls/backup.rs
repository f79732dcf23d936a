//! `dqlite-server backup` and `restore` against a cluster started with
//! `--tls-cert`/`--tls-key`: with the `--tls-*` flags they work and the
//! restored database reaches every node; without them the backup fails,
//! says why, and writes nothing.

use super::*;
use dqlite_protocol::request::Dump;
use std::process::Output;

/// Runs `dqlite-server ARGS` to completion (off the runtime's threads).
async fn run(args: Vec<String>) -> Output {
    let bin = env!("CARGO_BIN_EXE_dqlite-server");
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    });
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the subcommand ended within 60 s")
        .unwrap()
}

/// The values of column `x` of table `t` in the SQLite file `path`.
fn column_x(path: &Path) -> rusqlite::Result<Vec<i64>> {
    let conn = rusqlite::Connection::open(path)?;
    let mut stmt = conn.prepare("SELECT x FROM t ORDER BY rowid")?;
    stmt.query_map([], |row| row.get(0))?.collect()
}

/// Node `address`'s own copy of database `db` (DUMP answers from local
/// state, followers included), written to `path`; `false` if it has none.
async fn local_copy(
    address: &str,
    config: Arc<rustls::ClientConfig>,
    db: &str,
    path: &Path,
) -> bool {
    let Some(mut stream) = tls_dial(address, config).await else {
        return false;
    };
    let dump = Dump { name: db.into() };
    match call(&mut stream, dump).await {
        Some(Response::Files(files)) if files.files.first().is_some_and(|f| !f.data.is_empty()) => {
            std::fs::write(path, &files.files[0].data).unwrap();
            true
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_with_the_tls_flags() {
    let dirs = tempfile::tempdir().unwrap();
    let pair = Pair::self_signed();
    let (cert, key) = pair.write(dirs.path(), "cluster");
    let client = pair.client(None);
    let (addresses, _nodes) = three_nodes(
        dirs.path(),
        |_| vec![cert.clone(), key.clone()],
        client.clone(),
    )
    .await;
    assert!(write(&addresses, &client, "INSERT INTO t VALUES (2), (3)").await);

    let servers = addresses.join(",");
    let out = dirs.path().join("app.db");
    let words = |words: &[&str]| -> Vec<String> { words.iter().map(|w| (*w).to_owned()).collect() };
    let tls = words(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let backup = |out: &Path, tls: &[String]| {
        let mut args = words(&[
            "backup",
            "--servers",
            &servers,
            "--db",
            "app",
            "--timeout",
            "20",
        ]);
        args.extend(words(&["--out", out.to_str().unwrap()]));
        args.extend_from_slice(tls);
        args
    };

    // Without the TLS flags: refused by every node, a clear error, no file.
    let plain = run(backup(&out, &[])).await;
    assert_eq!(plain.status.code(), Some(1), "{plain:?}");
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(
        stderr.contains("cannot back up database \"app\"") && stderr.contains("--tls-cert"),
        "{stderr}"
    );
    assert!(!out.exists(), "a failed backup left {}", out.display());
    let leftovers = std::fs::read_dir(dirs.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("app.db")
        })
        .count();
    assert_eq!(leftovers, 0, "a failed backup left files behind");

    // With them: the three rows, in a file SQLite opens and checks.
    let done = run(backup(&out, &tls)).await;
    assert!(done.status.success(), "{done:?}");
    assert_eq!(column_x(&out).unwrap(), [1, 2, 3]);
    let check: String = rusqlite::Connection::open(&out)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");

    // Restored into another database over TLS, it reaches every node.
    let mut restore = words(&["restore", "--servers", &servers, "--db", "copy"]);
    restore.extend(tls.iter().cloned());
    restore.push(out.to_str().unwrap().to_owned());
    let restored = run(restore).await;
    assert!(restored.status.success(), "{restored:?}");
    let stdout = String::from_utf8_lossy(&restored.stdout);
    assert!(stdout.contains("1 tables, 3 rows"), "{stdout}");
    for (i, address) in addresses.iter().enumerate() {
        let copy = dirs.path().join(format!("copy-{i}.db"));
        let replicated = || async {
            local_copy(address, client.clone(), "copy", &copy).await
                && column_x(&copy).is_ok_and(|x| x == [1, 2, 3])
        };
        assert!(
            eventually(replicated).await,
            "node {address} holds the rows"
        );
    }
}
