//! [`DqliteRow`]: one row of a result set, owned, so that a stream can
//! hand it out while the next ROWS message is being read.

use std::fmt;
use std::sync::Arc;

use sqlx_core::HashMap;
use sqlx_core::column::ColumnIndex;
use sqlx_core::error::Error;
use sqlx_core::ext::ustr::UStr;
use sqlx_core::row::Row;

use crate::value::DqliteValue;
use crate::{Dqlite, DqliteColumn, DqliteValueRef};

/// The columns of one result set, shared by its rows.
#[derive(Debug, Default)]
pub(crate) struct Columns {
    pub columns: Vec<DqliteColumn>,
    pub by_name: Arc<HashMap<UStr, usize>>,
}

impl Columns {
    pub fn new(columns: Vec<DqliteColumn>) -> Self {
        let mut by_name = HashMap::with_capacity(columns.len());
        for column in &columns {
            // The first column of a name wins, as in SQLite's API.
            by_name.entry(column.name.clone()).or_insert(column.ordinal);
        }
        Self {
            columns,
            by_name: Arc::new(by_name),
        }
    }
}

/// A row of a result set.
pub struct DqliteRow {
    pub(crate) values: Box<[DqliteValue]>,
    pub(crate) columns: Arc<Columns>,
}

impl Row for DqliteRow {
    type Database = Dqlite;

    fn columns(&self) -> &[DqliteColumn] {
        &self.columns.columns
    }

    fn try_get_raw<I>(&self, index: I) -> Result<DqliteValueRef<'_>, Error>
    where
        I: ColumnIndex<Self>,
    {
        let index = index.index(self)?;
        self.values
            .get(index)
            .map(DqliteValueRef)
            .ok_or(Error::ColumnIndexOutOfBounds {
                index,
                len: self.values.len(),
            })
    }
}

impl ColumnIndex<DqliteRow> for &'_ str {
    fn index(&self, row: &DqliteRow) -> Result<usize, Error> {
        row.columns
            .by_name
            .get(*self)
            .copied()
            .ok_or_else(|| Error::ColumnNotFound((*self).to_owned()))
    }
}

impl fmt::Debug for DqliteRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (column, value) in self.columns.columns.iter().zip(self.values.iter()) {
            map.entry(&&*column.name, &value.data);
        }
        map.finish()
    }
}
