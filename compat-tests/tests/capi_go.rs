//! go-dqlite v3's own tests, built with cgo against our `dqlite.h` and
//! `libdqlite.so.0` (`server/capi`) instead of the C library: the node
//! bindings, the `app` package (bootstrap, joining, roles, handover, TLS
//! proxy, external connections), the `database/sql` driver and the client.
//!
//! The module comes from the Go module cache (compat-tests/go pins
//! go-dqlite v3.0.4; CI downloads it), copied to a temporary directory
//! because the cache is read-only. Every test must pass except those in
//! [`KNOWN_FAILURES`], each listed with its reason; a listed test that
//! starts passing fails this test too, so the list stays true.
//!
//! Knobs: `CI` (a missing `go` fails instead of skipping),
//! `DQLITE_COMPAT_GO_TIMEOUT_SECS` (default 900: the whole `go test` run),
//! `DQLITE_COMPAT_GO_RUN` (a `-run` pattern, for working on one test),
//! `DQLITE_COMPAT_GO_LOG` (a file to keep `go test -json`'s output in).

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dqlite_compat_tests::{env_secs, require_tool};

/// The go-dqlite version compat-tests/go pins.
const MODULE: &str = "github.com/canonical/go-dqlite/v3@v3.0.4";

/// Packages whose tests run against our library.
const PACKAGES: [&str; 5] = [
    "./internal/bindings/",
    "./app/",
    "./driver/",
    "./client/",
    ".",
];

/// Tests expected to fail, with the reason (full `go test` names).
const KNOWN_FAILURES: &[(&str, &str)] = &[(
    "driver/Test_ZeroColumns",
    "QUERY of a statement without result columns (CREATE TABLE) fails with \
         \"statement has no result columns: send it with EXEC\" instead of \
         latest dqlite's empty 0-column ROWS, which go-dqlite 1.11.x clients \
         cannot read (README: deliberate differences)",
)];

/// Our library laid out as `lib/libdqlite.so.0` and `include/dqlite.h`.
fn staged_library() -> (tempfile::TempDir, PathBuf) {
    let exe = std::env::current_exe().unwrap();
    let built = dqlite::dist::built_library(exe.parent().unwrap())
        .expect("libdqlite.so is built with the workspace (package dqlite-capi)");
    let tree = tempfile::tempdir().unwrap();
    let lib = dqlite::dist::stage(&built, tree.path()).unwrap();
    (tree, lib)
}

fn go_output(go: &Path, args: &[&str]) -> String {
    let out = Command::new(go).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "go {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Copies the module out of the read-only module cache.
fn module_copy(go: &Path, dest: &Path) -> PathBuf {
    let cache = PathBuf::from(go_output(go, &["env", "GOMODCACHE"]));
    let source = cache.join(MODULE);
    assert!(
        source.is_dir(),
        "{} is missing: run `go mod download` in compat-tests/go",
        source.display()
    );
    let copy = dest.join("go-dqlite");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&source)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    copy
}

#[test]
fn go_dqlite_v3_tests_pass_on_our_library() {
    let Some(go) = require_tool("go", "DQLITE_COMPAT_GO", "go") else {
        return;
    };
    let (tree, lib) = staged_library();
    let module = module_copy(&go, tree.path());
    let include = tree.path().join("include");
    let timeout = env_secs("DQLITE_COMPAT_GO_TIMEOUT_SECS", Duration::from_secs(900));
    let mut args = vec![
        "test".to_owned(),
        "-json".to_owned(),
        "-count=1".to_owned(),
        "-p=1".to_owned(),
        format!("-timeout={}s", timeout.as_secs()),
    ];
    if let Ok(pattern) = std::env::var("DQLITE_COMPAT_GO_RUN") {
        args.push(format!("-run={pattern}"));
    }
    args.extend(PACKAGES.iter().map(|p| (*p).to_owned()));
    let log_path = tree.path().join("go-test.json");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(&go)
        .args(&args)
        .current_dir(&module)
        .env("CGO_ENABLED", "1")
        .env("CGO_CFLAGS", format!("-I{}", include.display()))
        .env(
            "CGO_LDFLAGS",
            format!("-L{} -Wl,-rpath,{}", lib.display(), lib.display()),
        )
        .env("LD_LIBRARY_PATH", &lib)
        .env("GOFLAGS", "-mod=mod")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // go test enforces its own timeout; this one also covers the build.
    let deadline = Instant::now() + timeout + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "go test did not finish in time; output in {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let output = std::fs::read_to_string(&log_path).unwrap();
    if let Some(keep) = std::env::var_os("DQLITE_COMPAT_GO_LOG") {
        std::fs::write(keep, &output).unwrap();
    }
    let results = outcomes(&output);
    let passed = results.values().filter(|o| o.as_str() == "pass").count();
    let skipped = results.values().filter(|o| o.as_str() == "skip").count();
    let failed: Vec<&String> = results
        .iter()
        .filter(|(_, o)| o.as_str() == "fail")
        .map(|(name, _)| name)
        .collect();
    println!(
        "go-dqlite v3 tests on our library: {passed} passed, {} failed, {skipped} skipped",
        failed.len()
    );
    // A package whose tests failed fails too; that counts only when none
    // of its tests did (a build error, a crash).
    let failed_tests_in = |package: &str| {
        failed
            .iter()
            .any(|name| !name.ends_with("/(package)") && name.starts_with(&format!("{package}/")))
    };
    let unexpected: Vec<&&String> = failed
        .iter()
        .filter(|name| {
            !KNOWN_FAILURES
                .iter()
                .any(|(known, _)| *known == name.as_str())
        })
        .filter(|name| {
            name.strip_suffix("/(package)")
                .is_none_or(|package| !failed_tests_in(package))
        })
        .collect();
    let fixed: Vec<&str> = KNOWN_FAILURES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| results.get(*name).is_some_and(|o| o == "pass"))
        .collect();
    if !unexpected.is_empty() || !fixed.is_empty() || (passed == 0) {
        panic!(
            "unexpected failures: {unexpected:?}; listed as failing but passed: {fixed:?}; \
             go test exited with {status}\n{}",
            failure_output(&output, &unexpected)
        );
    }
}

/// Final outcome per test (`package/TestName`, subtests included) from
/// `go test -json` lines.
fn outcomes(json: &str) -> BTreeMap<String, String> {
    let mut results = BTreeMap::new();
    for line in json.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let action = event["Action"].as_str().unwrap_or_default();
        if !matches!(action, "pass" | "fail" | "skip") {
            continue;
        }
        let package = event["Package"].as_str().unwrap_or_default();
        let package = package.trim_start_matches("github.com/canonical/go-dqlite/v3");
        let name = match event["Test"].as_str() {
            Some(test) => format!("{}/{test}", package.trim_start_matches('/')),
            // A package-level failure (a build error) counts as a test.
            None if action == "fail" => format!("{}/(package)", package.trim_start_matches('/')),
            None => continue,
        };
        results.insert(name, action.to_owned());
    }
    results
}

/// The output lines of the given failed tests (and build errors).
fn failure_output(json: &str, failed: &[&&String]) -> String {
    let mut text = String::new();
    for line in json.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            text.push_str(line);
            text.push('\n');
            continue;
        };
        if event["Action"].as_str() != Some("output") {
            continue;
        }
        let test = event["Test"].as_str().unwrap_or("(package)");
        if failed.iter().any(|f| f.ends_with(&format!("/{test}"))) || event["Test"].is_null() {
            text.push_str(event["Output"].as_str().unwrap_or_default());
        }
    }
    let keep = text.len().saturating_sub(60_000);
    text[text.ceil_char_boundary(keep)..].to_owned()
}
