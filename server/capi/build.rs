//! Gives the shared library the SONAME of the C library it replaces, so
//! that programs linked against Debian's libdqlite.so.0 load ours.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdqlite.so.0");
    println!("cargo:rerun-if-changed=build.rs");
}
