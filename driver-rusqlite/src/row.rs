//! A result row, shared by the blocking and the async API.

use std::marker::PhantomData;
use std::sync::Arc;

use dqlite_protocol::frame::Frame;
use dqlite_protocol::response::RowsReader;

use crate::types::{FromSql, ValueRef, from_wire};
use crate::{Error, Result};

/// One row of a result, as `rusqlite::Row`: values by column index or
/// name. It owns its values (a ROWS message is decoded one at a time), so
/// the `'stmt` lifetime is only there to keep rusqlite's signatures.
#[derive(Debug, Clone)]
pub struct Row<'stmt> {
    columns: Arc<[String]>,
    values: Vec<dqlite_protocol::Value>,
    _stmt: PhantomData<&'stmt ()>,
}

impl Row<'_> {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<dqlite_protocol::Value>) -> Self {
        Self {
            columns,
            values,
            _stmt: PhantomData,
        }
    }

    /// The value of a column (by index or name) as a `T`.
    ///
    /// Errors as rusqlite's: `InvalidColumnIndex`/`InvalidColumnName`,
    /// `InvalidColumnType` when the value's type does not fit `T`,
    /// `IntegralValueOutOfRange`, `FromSqlConversionFailure`.
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let idx = idx.idx(&self.columns)?;
        let value = self.value(idx);
        T::column_result(value)
            .map_err(|e| Error::from_sql(e, idx, &self.columns[idx], value.data_type()))
    }

    /// [`get`](Self::get), panicking on error.
    ///
    /// # Panics
    ///
    /// If the column does not exist or its value does not convert.
    #[allow(clippy::expect_used)]
    pub fn get_unwrap<I: RowIndex, T: FromSql>(&self, idx: I) -> T {
        self.get(idx)
            .expect("Row::get_unwrap: the value does not convert")
    }

    /// The raw value of a column.
    pub fn get_ref<I: RowIndex>(&self, idx: I) -> Result<ValueRef<'_>> {
        let idx = idx.idx(&self.columns)?;
        Ok(self.value(idx))
    }

    /// [`get_ref`](Self::get_ref), panicking on a bad index.
    ///
    /// # Panics
    ///
    /// If the column does not exist.
    #[allow(clippy::expect_used)]
    pub fn get_ref_unwrap<I: RowIndex>(&self, idx: I) -> ValueRef<'_> {
        self.get_ref(idx)
            .expect("Row::get_ref_unwrap: no such column")
    }

    /// Number of columns.
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// Column names.
    pub fn column_names(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.columns.iter().map(String::as_str)
    }

    fn value(&self, idx: usize) -> ValueRef<'_> {
        self.values
            .get(idx)
            .map_or(ValueRef::Null, |v| from_wire(v.as_ref()))
    }
}

mod sealed {
    /// Only `usize` and `&str` index rows.
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for &str {}
}

/// A column index (`usize`) or name (`&str`, matched ignoring ASCII case).
pub trait RowIndex: sealed::Sealed {
    /// The 0-based index among `columns`.
    #[doc(hidden)]
    fn idx(&self, columns: &[String]) -> Result<usize>;
}

impl RowIndex for usize {
    fn idx(&self, columns: &[String]) -> Result<usize> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(Error::InvalidColumnIndex(*self))
        }
    }
}

impl RowIndex for &str {
    fn idx(&self, columns: &[String]) -> Result<usize> {
        column_index(columns, self)
    }
}

/// The index of a column name, ignoring ASCII case as SQLite does.
pub(crate) fn column_index(columns: &[String], name: &str) -> Result<usize> {
    columns
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::InvalidColumnName(name.to_owned()))
}

/// Decodes the rows of one ROWS message into `out`; returns the column
/// names and whether more messages follow.
pub(crate) fn decode_batch(
    frame: &Frame,
    out: &mut std::collections::VecDeque<Vec<dqlite_protocol::Value>>,
) -> Result<(Vec<String>, bool)> {
    let mut reader = RowsReader::new(&frame.body)?;
    let columns = reader.columns().iter().map(|c| (*c).to_owned()).collect();
    for row in &mut reader {
        out.push_back(
            row?.into_iter()
                .map(dqlite_protocol::ValueRef::to_owned)
                .collect(),
        );
    }
    match reader.end() {
        Some(end) => Ok((columns, end == dqlite_protocol::response::RowsEnd::Part)),
        None => Err(Error::Protocol("rows message without an end marker".into())),
    }
}

macro_rules! tuple_from_row {
    ($($field:tt $t:ident),+) => {
        impl<$($t: FromSql),+> TryFrom<&Row<'_>> for ($($t,)+) {
            type Error = Error;

            /// The first columns of the row, converted.
            fn try_from(row: &Row<'_>) -> Result<Self> {
                Ok(($(row.get::<usize, $t>($field)?,)+))
            }
        }
    };
}
tuple_from_row!(0 A);
tuple_from_row!(0 A, 1 B);
tuple_from_row!(0 A, 1 B, 2 C);
tuple_from_row!(0 A, 1 B, 2 C, 3 D);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
tuple_from_row!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);

#[cfg(test)]
mod tests {
    use super::*;
    use dqlite_protocol::Value as W;

    fn row() -> Row<'static> {
        Row::new(
            vec!["id".to_owned(), "Name".to_owned(), "at".to_owned()].into(),
            vec![
                W::Integer(7),
                W::Text(b"x".to_vec()),
                W::Iso8601(Vec::new()),
            ],
        )
    }

    #[test]
    fn get_by_index_and_name() {
        let row = row();
        assert_eq!(row.get::<_, i64>(0).unwrap(), 7);
        assert_eq!(row.get::<_, String>("name").unwrap(), "x");
        assert_eq!(row.get::<_, Option<String>>("at").unwrap(), None);
        assert!(matches!(
            row.get::<_, i64>(3),
            Err(Error::InvalidColumnIndex(3))
        ));
        assert!(matches!(
            row.get::<_, i64>("nope"),
            Err(Error::InvalidColumnName(n)) if n == "nope"
        ));
        assert!(matches!(
            row.get::<_, i64>(1),
            Err(Error::InvalidColumnType(1, n, crate::types::Type::Text)) if n == "Name"
        ));
        assert!(matches!(
            row.get::<_, u8>(0).map_err(|e| e.to_string()),
            Ok(7)
        ));
        let (id, name): (i64, String) = (&row).try_into().unwrap();
        assert_eq!((id, name.as_str()), (7, "x"));
    }
}
