//! The shared library as C hosts see it: its exported symbols, its SONAME,
//! and a C program compiled against `include/dqlite.h` alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use dqlite::dist;

/// The built library, staged as hosts expect it, in a temporary tree.
fn staged() -> (tempfile::TempDir, PathBuf) {
    let exe = std::env::current_exe().expect("test binary path");
    let built = dist::built_library(exe.parent().expect("deps directory"))
        .expect("cargo builds libdqlite.so before the tests");
    let tree = tempfile::tempdir().expect("temporary directory");
    let lib = dist::stage(&built, tree.path()).expect("stage the library");
    (tree, lib)
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Names the header declares with `DQLITE_API`.
fn declared() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let header = dist::HEADER;
    let mut rest = header;
    while let Some(at) = rest.find("DQLITE_API ") {
        rest = &rest[at + "DQLITE_API ".len()..];
        let declaration = &rest[..rest.find(';').expect("declaration ends")];
        let name_end = declaration.find('(').unwrap_or(declaration.len());
        let name = declaration[..name_end]
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .expect("a name");
        if name.starts_with("dqlite_") {
            names.insert(name.to_owned());
        }
    }
    names
}

#[test]
fn exports_are_exactly_the_header_declarations() {
    let (_tree, lib) = staged();
    let so = lib.join(dist::SONAME);
    let listing = run(Command::new("nm").args(["-D", "--defined-only"]).arg(&so));
    let exported: BTreeSet<String> = listing
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .map(str::to_owned)
        .collect();
    let declared = declared();
    // 27 node functions, the two version symbols, the nine 1.11 VFS ones.
    assert_eq!(declared.len(), 38, "header parse found {declared:?}");
    let ours: BTreeSet<String> = exported
        .iter()
        .filter(|n| n.starts_with("dqlite_"))
        .cloned()
        .collect();
    assert_eq!(
        ours, declared,
        "exported dqlite_* symbols differ from dqlite.h"
    );
    // Nothing else of ours leaks: above all no sqlite3_* of the bundled
    // SQLite, which would interpose on the host's.
    let others: Vec<&String> = exported
        .iter()
        .filter(|n| !n.starts_with("dqlite_"))
        .collect();
    assert!(
        others.iter().all(|n| !n.starts_with("sqlite3")),
        "SQLite symbols exported: {others:?}"
    );
    assert!(others.len() <= 2, "unexpected exports: {others:?}");
}

#[test]
fn soname_is_that_of_the_c_library() {
    let (_tree, lib) = staged();
    let dynamic = run(Command::new("readelf")
        .arg("-d")
        .arg(lib.join(dist::SONAME)));
    assert!(
        dynamic
            .lines()
            .any(|l| l.contains("(SONAME)") && l.contains("[libdqlite.so.0]")),
        "{dynamic}"
    );
}

/// Compiles `tests/c/NAME.c` against the staged tree.
fn compile(tree: &Path, lib: &Path, name: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(format!("{name}.c"));
    let exe = tree.join(name);
    run(Command::new("cc")
        .args(["-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(&source)
        .arg(format!("-I{}", tree.join("include").display()))
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-ldqlite"));
    exe
}

#[test]
fn a_c_program_drives_a_node_through_the_header() {
    let (tree, lib) = staged();
    let exe = compile(tree.path(), &lib, "smoke");
    let data = tempfile::tempdir().expect("data directory");
    let out = run(Command::new(&exe).arg(data.path()));
    assert_eq!(out.trim(), "ok");
    // The program ran on our library, not on another libdqlite.so.0.
    let ldd = run(Command::new("ldd").arg(&exe));
    let line = ldd
        .lines()
        .find(|l| l.contains("libdqlite.so.0"))
        .expect("linked to libdqlite.so.0");
    assert!(line.contains(&lib.display().to_string()), "{line}");
}

#[test]
fn pkg_config_describes_the_staged_tree() {
    let (tree, lib) = staged();
    let pkg_config = |args: &[&str]| {
        run(Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", lib.join("pkgconfig"))
            .args(args)
            .arg("dqlite"))
    };
    assert_eq!(pkg_config(&["--modversion"]).trim(), "1.18.6");
    let flags = pkg_config(&["--cflags", "--libs"]);
    assert!(
        flags.contains(&format!("-I{}", tree.path().join("include").display())),
        "{flags}"
    );
    assert!(flags.contains(&format!("-L{}", lib.display())), "{flags}");
    assert!(flags.contains("-ldqlite"), "{flags}");
}

#[test]
fn the_distributed_library_is_stripped_with_its_debug_information_apart() {
    let (_tree, lib) = staged();
    let so = lib.join(dist::SONAME);
    let exports = |path: &Path| run(Command::new("nm").args(["-D", "--defined-only"]).arg(path));
    let before_size = std::fs::metadata(&so).unwrap().len();
    let before_exports = exports(&so);
    dist::strip(&lib).unwrap();
    let after_size = std::fs::metadata(&so).unwrap().len();
    // The same interface, without the debug information.
    assert_eq!(exports(&so), before_exports);
    assert!(
        after_size * 4 < before_size,
        "{after_size} bytes stripped, {before_size} before"
    );
    let sections = run(Command::new("readelf").arg("-S").arg(&so));
    assert!(!sections.contains(".debug_info"), "{sections}");
    assert!(sections.contains(".gnu_debuglink"), "{sections}");
    let debug = lib.join(dist::DEBUG_FILE);
    let debug_sections = run(Command::new("readelf").arg("-S").arg(&debug));
    assert!(debug_sections.contains(".debug_info"));
    // And it still works: the C program runs against the stripped library.
    let tree = lib.parent().unwrap();
    let program = compile(tree, &lib, "smoke");
    let data = tempfile::tempdir().expect("data directory");
    assert_eq!(run(Command::new(&program).arg(data.path())).trim(), "ok");
}
