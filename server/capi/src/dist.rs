//! Laying out a build of the library the way C and cgo builds expect it:
//! `lib/libdqlite.so.0` (the SONAME) with the `libdqlite.so` link,
//! `include/dqlite.h` and `lib/pkgconfig/dqlite.pc`; and stripping it,
//! with its debug information kept apart (`lib/.debug/`), as
//! distributions ship libraries.

use std::io;
use std::path::{Path, PathBuf};

/// The header C hosts compile against.
pub const HEADER: &str = include_str!("../include/dqlite.h");

/// File name cargo gives the shared library.
pub const BUILT_NAME: &str = "libdqlite.so";

/// The SONAME programs linked against dqlite look for.
pub const SONAME: &str = "libdqlite.so.0";

/// Where cargo put the shared library, given the directory of a binary it
/// built in the same profile (`target/<profile>` or its `deps`).
pub fn built_library(exe_dir: &Path) -> Option<PathBuf> {
    let candidates = [exe_dir.join(BUILT_NAME), exe_dir.parent()?.join(BUILT_NAME)];
    candidates.into_iter().find(|p| p.is_file())
}

/// Copies the library `built` into `dest` with the header and a pkg-config
/// file; returns `dest/lib`.
pub fn stage(built: &Path, dest: &Path) -> io::Result<PathBuf> {
    let lib = dest.join("lib");
    let include = dest.join("include");
    let pkgconfig = lib.join("pkgconfig");
    for dir in [&lib, &include, &pkgconfig] {
        std::fs::create_dir_all(dir)?;
    }
    let so = lib.join(SONAME);
    // Copy to a temporary name and rename: a running program may have the
    // old file mapped.
    let tmp = lib.join(format!(".{SONAME}.tmp"));
    std::fs::copy(built, &tmp)?;
    std::fs::rename(&tmp, &so)?;
    let link = lib.join(BUILT_NAME);
    match std::fs::remove_file(&link) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(SONAME, &link)?;
    std::fs::write(include.join("dqlite.h"), HEADER)?;
    std::fs::write(pkgconfig.join("dqlite.pc"), pkg_config(dest))?;
    Ok(lib)
}

/// The pkg-config description of a staged tree at `prefix`.
pub fn pkg_config(prefix: &Path) -> String {
    format!(
        "prefix={}\n\
         libdir=${{prefix}}/lib\n\
         includedir=${{prefix}}/include\n\
         \n\
         Name: dqlite\n\
         Description: dqlite-rs node behind the dqlite C API\n\
         Version: 1.18.6\n\
         Libs: -L${{libdir}} -ldqlite\n\
         Cflags: -I${{includedir}}\n",
        prefix.display()
    )
}

/// Where [`strip`] puts the debug information of the staged library.
pub const DEBUG_FILE: &str = ".debug/libdqlite.so.0.debug";

/// Strips the library staged in `lib` (see [`stage`]), keeping its debug
/// information in `lib/.debug/libdqlite.so.0.debug`, which the stripped
/// library names (`.gnu_debuglink`) so that debuggers find it. Uses
/// binutils' `objcopy`.
pub fn strip(lib: &Path) -> io::Result<()> {
    let so = lib.join(SONAME);
    let debug = lib.join(DEBUG_FILE);
    if let Some(dir) = debug.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let objcopy = |args: &[&std::ffi::OsStr]| -> io::Result<()> {
        let status = std::process::Command::new("objcopy").args(args).status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("objcopy {args:?}: {status}")))
        }
    };
    objcopy(&[
        "--only-keep-debug".as_ref(),
        so.as_os_str(),
        debug.as_os_str(),
    ])?;
    let link = format!("--add-gnu-debuglink={}", debug.display());
    objcopy(&["--strip-unneeded".as_ref(), link.as_ref(), so.as_os_str()])
}
