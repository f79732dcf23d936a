//! The workspace's structure: inside the server, its C API and the codec,
//! no source file imports one that imports it back, directly or through
//! others (issue 16). A cycle means two files that cannot be understood,
//! tested or moved one without the other.
//!
//! Each crate's `src/` is read as text. A file is a module (`lib.rs` the
//! crate root, `x/mod.rs` the module `x`); its imports are the modules it
//! names: `crate::a::b` paths, `super::` and `self::` paths, and paths
//! through its own submodules (`child::item`, which includes a parent's
//! `pub use child::Item`). A path names the deepest module file it
//! reaches. Comments and inline `#[cfg(test)] mod tests` blocks do not
//! count; binaries (`main.rs`, `bin/`) are crates of their own and are
//! left out.

#![allow(clippy::unwrap_used)] // Tests panic on purpose.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// A module: its path from the crate root (empty for the root).
type Module = Vec<String>;

/// Every library source file under `dir`, by module.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(src: &Path, dir: &Path, out: &mut BTreeMap<Module, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(src).unwrap();
            if path.is_dir() {
                if relative != Path::new("bin") {
                    walk(src, &path, out);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || relative == Path::new("main.rs") {
                continue;
            }
            let mut module: Module = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                module.pop();
            }
            out.insert(module, path);
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The source without comments and without an inline test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string literal (a URL) is not a comment.
            Some(at) if line[..at].matches('"').count() % 2 == 0 => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// module -> the modules it imports.
fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules = modules(src);
    let deepest = |path: &[String]| -> Module {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|m| modules.contains_key(m))
            .unwrap_or_default()
    };
    let paths = Regex::new(
        r"\b((?:crate|super|self)(?:::(?:super|[A-Za-z_][A-Za-z0-9_]*))*)(?:::\{([^}]*)\})?",
    )
    .unwrap();
    let child = Regex::new(r"\b([a-z_][a-z0-9_]*)::").unwrap();
    // `pub(crate)`, `pub(super)`: visibility, not a path.
    let visibility = Regex::new(r"pub\((?:crate|super|self|in [^)]*)\)").unwrap();
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let text = code(&std::fs::read_to_string(file).unwrap());
        let text = visibility.replace_all(&text, "pub");
        let mut imports = BTreeSet::new();
        for found in paths.captures_iter(&text) {
            let mut segments = found[1].split("::").map(str::to_owned);
            let mut path: Module = match segments.next().as_deref() {
                Some("crate") => Vec::new(),
                Some("super") => module[..module.len().saturating_sub(1)].to_vec(),
                _ => module.clone(),
            };
            for segment in segments {
                match segment.as_str() {
                    "super" => {
                        path.pop();
                    }
                    "self" => {}
                    _ => path.push(segment),
                }
            }
            let group: Vec<&str> = found.get(2).map_or(Vec::new(), |g| {
                g.as_str()
                    .split(',')
                    .map(|item| item.trim().split("::").next().unwrap_or_default())
                    .filter(|item| !item.is_empty())
                    .collect()
            });
            if group.is_empty() {
                imports.insert(deepest(&path));
            }
            for item in group {
                let mut full = path.clone();
                full.push(item.to_owned());
                imports.insert(deepest(&full));
            }
        }
        for found in child.captures_iter(&text) {
            let mut submodule = module.clone();
            submodule.push(found[1].to_owned());
            if modules.contains_key(&submodule) {
                imports.insert(submodule);
            }
        }
        imports.remove(module);
        graph.insert(module.clone(), imports);
    }
    graph
}

/// A cycle of `graph`, if it has one: its modules, the first repeated at
/// the end.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn from(
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        path: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        let last = path.last().unwrap().clone();
        for next in graph.get(&last).into_iter().flatten() {
            if let Some(at) = path.iter().position(|p| p == next) {
                let mut cycle = path[at..].to_vec();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if !done.contains(next) {
                path.push(next.clone());
                if let Some(cycle) = from(graph, path, done) {
                    return Some(cycle);
                }
                path.pop();
            }
        }
        done.insert(last);
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| from(graph, &mut vec![start.clone()], &mut done))
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "(crate root)".to_owned()
    } else {
        module.join("::")
    }
}

fn assert_acyclic(crate_src: &str) -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_src);
    let graph = graph(&src);
    if let Some(cycle) = find_cycle(&graph) {
        let names: Vec<String> = cycle.iter().map(name).collect();
        panic!("import cycle in {crate_src}: {}", names.join(" -> "));
    }
    graph
}

fn module(path: &str) -> Module {
    path.split("::").map(str::to_owned).collect()
}

#[test]
fn the_server_has_no_import_cycle() {
    let graph = assert_acyclic("server/src");
    // It sees the imports it must (else it would pass on anything).
    assert!(graph[&module("node::start")].contains(&module("net")));
    assert!(graph[&module("net")].contains(&module("gateway")));
    assert!(graph[&module("vfs::state")].contains(&module("vfs::frames")));
}

#[test]
fn the_c_api_has_no_import_cycle() {
    let graph = assert_acyclic("server/capi/src");
    assert!(graph[&module("api")].contains(&module("handle")));
}

#[test]
fn the_codec_has_no_import_cycle() {
    let graph = assert_acyclic("protocol/src");
    assert!(graph[&module("request")].contains(&module("codes")));
}

#[test]
fn the_cycle_search_finds_cycles() {
    let graph: BTreeMap<Module, BTreeSet<Module>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(from, to)| (module(from), BTreeSet::from([module(to)])))
        .collect();
    assert_eq!(
        find_cycle(&graph).unwrap(),
        [module("a"), module("b"), module("c"), module("a")]
    );
    let parent_and_child = [
        (module("vfs"), BTreeSet::from([module("vfs::state")])),
        (module("vfs::state"), BTreeSet::from([module("vfs")])),
    ]
    .into_iter()
    .collect();
    assert!(find_cycle(&parent_and_child).is_some());
}

#[test]
fn imports_are_read_from_paths_and_submodules() {
    let dir = tempfile_dir();
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\npub use a::Thing; // use crate::c;\npub(crate) fn f() {}\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "mod inner;\nuse super::b::{self, Other};\nconst URL: &str = \"x://y\"; use inner::X;\n",
    )
    .unwrap();
    std::fs::write(src.join("a/inner.rs"), "use crate::a::Thing;\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "#[cfg(test)]\nmod tests {\n use crate::a;\n}\n",
    )
    .unwrap();
    std::fs::write(src.join("main.rs"), "use crate::a;\n").unwrap();
    let graph = graph(&src);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(graph[&Vec::new()], BTreeSet::from([module("a")]));
    assert_eq!(
        graph[&module("a")],
        BTreeSet::from([module("b"), module("a::inner")])
    );
    assert_eq!(graph[&module("a::inner")], BTreeSet::from([module("a")]));
    assert!(graph[&module("b")].is_empty());
    assert_eq!(graph.len(), 4, "main.rs is a crate of its own");
    assert_eq!(
        find_cycle(&graph).unwrap(),
        [module("a"), module("a::inner"), module("a")]
    );
}

/// A fresh directory under the target's temporary directory.
fn tempfile_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "structure-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
