//! SQL execution: one executor thread per database owns every SQLite
//! connection of that database (the VFS requires it, see [`crate::vfs`]).

pub(crate) mod executor;
pub(crate) mod rows;
pub(crate) mod split;
