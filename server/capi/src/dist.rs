//! Laying out a build of the library the way C and cgo builds expect it:
//! `lib/libdqlite.so.0` (the SONAME) with the `libdqlite.so` link,
//! `include/dqlite.h` and `lib/pkgconfig/dqlite.pc`.

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
