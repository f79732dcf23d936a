//! `dqlite-capi-dist DEST`: lays out the built `libdqlite.so` as
//! `DEST/lib/libdqlite.so.0`, `DEST/include/dqlite.h` and
//! `DEST/lib/pkgconfig/dqlite.pc`. Build first with
//! `cargo build --release -p dqlite-capi`, then run
//! `cargo run --release -p dqlite-capi --bin dqlite-capi-dist -- DEST`.

use std::path::PathBuf;
use std::process::ExitCode;

// The layout code alone: this program needs none of the node.
#[path = "../dist.rs"]
mod dist;

fn main() -> ExitCode {
    let Some(dest) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: dqlite-capi-dist DEST");
        return ExitCode::from(2);
    };
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from));
    let Some(built) = exe_dir.as_deref().and_then(dist::built_library) else {
        eprintln!(
            "libdqlite.so is not next to this program: run `cargo build -p dqlite-capi` in the same profile first"
        );
        return ExitCode::FAILURE;
    };
    match dist::stage(&built, &dest) {
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
