//! [`DqliteColumn`]: a result column.

use sqlx_core::column::Column;
use sqlx_core::ext::ustr::UStr;

use crate::{Dqlite, DqliteTypeInfo};

/// A column of a result set or of a prepared statement.
///
/// Its type is the type of its value in the first row of the result (dqlite
/// sends a type with every value, not per column), or NULL when no row has
/// been seen, as for a statement that was only prepared.
#[derive(Debug, Clone)]
pub struct DqliteColumn {
    pub(crate) name: UStr,
    pub(crate) ordinal: usize,
    pub(crate) type_info: DqliteTypeInfo,
}

impl Column for DqliteColumn {
    type Database = Dqlite;

    fn ordinal(&self) -> usize {
        self.ordinal
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn type_info(&self) -> &DqliteTypeInfo {
        &self.type_info
    }
}
