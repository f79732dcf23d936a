//! `dqlite-capi-dist [--keep-debug-info] DEST`: lays out the built
//! `libdqlite.so` as `DEST/lib/libdqlite.so.0` (stripped, its debug
//! information in `DEST/lib/.debug/`, unless `--keep-debug-info`),
//! `DEST/include/dqlite.h` and `DEST/lib/pkgconfig/dqlite.pc`. Build first
//! with `cargo build --release -p dqlite-capi`, then run
//! `cargo run --release -p dqlite-capi --bin dqlite-capi-dist -- DEST`.

use std::path::PathBuf;
use std::process::ExitCode;

// The layout code alone: this program needs none of the node.
#[path = "../dist.rs"]
mod dist;

fn main() -> ExitCode {
    let mut args: Vec<_> = std::env::args_os().skip(1).collect();
    let keep_debug = args.first().is_some_and(|a| a == "--keep-debug-info");
    if keep_debug {
        args.remove(0);
    }
    let [dest] = args.as_slice() else {
        eprintln!("usage: dqlite-capi-dist [--keep-debug-info] DEST");
        return ExitCode::from(2);
    };
    let dest = PathBuf::from(dest);
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from));
    let Some(built) = exe_dir.as_deref().and_then(dist::built_library) else {
        eprintln!(
            "libdqlite.so is not next to this program: run `cargo build -p dqlite-capi` in the same profile first"
        );
        return ExitCode::FAILURE;
    };
    let staged = dist::stage(&built, &dest).and_then(|lib| {
        if !keep_debug {
            dist::strip(&lib)?;
        }
        Ok(lib)
    });
    match staged {
        Ok(lib) => {
            println!("{}", lib.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot lay out {}: {e}", dest.display());
            ExitCode::FAILURE
        }
    }
}
