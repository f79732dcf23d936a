//! [`DqliteArguments`]: the values bound to a query, and how they reach
//! the statement's parameters.

use dqlite_client::sql::ParamLayout;
use dqlite_protocol::Value;
use sqlx_core::arguments::Arguments;
use sqlx_core::encode::{Encode, IsNull};
use sqlx_core::error::{BoxDynError, Error};
use sqlx_core::types::Type;

use crate::Dqlite;

/// The encoded values of a query's arguments, in the order they were
/// bound.
#[derive(Debug, Default, Clone)]
pub struct DqliteArgumentBuffer {
    pub(crate) values: Vec<Value>,
}

impl DqliteArgumentBuffer {
    pub(crate) fn push(&mut self, value: Value) {
        self.values.push(value);
    }
}

/// The arguments of a query (`sqlx::query(..).bind(..)`).
#[derive(Debug, Default, Clone)]
pub struct DqliteArguments {
    pub(crate) buffer: DqliteArgumentBuffer,
}

impl Arguments for DqliteArguments {
    type Database = Dqlite;

    fn reserve(&mut self, additional: usize, _size: usize) {
        self.buffer.values.reserve(additional);
    }

    fn add<'t, T>(&mut self, value: T) -> Result<(), BoxDynError>
    where
        T: Encode<'t, Dqlite> + Type<Dqlite>,
    {
        let before = self.buffer.values.len();
        match value.encode(&mut self.buffer) {
            Ok(IsNull::Yes) => {
                self.buffer.values.truncate(before);
                self.buffer.push(Value::Null);
            }
            Ok(IsNull::No) if self.buffer.values.len() == before + 1 => {}
            Ok(IsNull::No) => {
                self.buffer.values.truncate(before);
                return Err("an Encode implementation must write exactly one value".into());
            }
            Err(e) => {
                self.buffer.values.truncate(before);
                return Err(e);
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.buffer.values.len()
    }
}

/// Orders the arguments for the wire, which binds by position only.
///
/// `?`, `?NNN`, `:name`, `@name` and `$name` take the argument of the
/// parameter's SQLite index (`?`s in order). `$1`, `$2`, … (the numbered
/// style sqlx users know from PostgreSQL) take argument N, wherever and
/// however often they appear; SQLite itself numbers them by first
/// appearance, so they are re-ordered here.
pub(crate) fn bind(layout: &ParamLayout, args: Vec<Value>) -> Result<Vec<Value>, Error> {
    let mut wanted = layout.count;
    let mut numbered = Vec::with_capacity(layout.count);
    for index in 1..=layout.count {
        let source = layout
            .name_of(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(index);
        wanted = wanted.max(source);
        numbered.push(source);
    }
    if args.len() != wanted {
        return Err(Error::InvalidArgument(format!(
            "the statement takes {wanted} argument(s), {} given",
            args.len()
        )));
    }
    if numbered.iter().enumerate().all(|(i, n)| *n == i + 1) {
        return Ok(args);
    }
    Ok(numbered.into_iter().map(|n| args[n - 1].clone()).collect())
}

#[cfg(test)]
mod tests {
    use dqlite_client::sql::SqlInfo;

    use super::*;

    fn ints(values: &[i64]) -> Vec<Value> {
        values.iter().map(|v| Value::Integer(*v)).collect()
    }

    fn bound(sql: &str, args: &[i64]) -> Result<Vec<Value>, Error> {
        bind(&SqlInfo::new(sql).params, ints(args))
    }

    #[test]
    fn positional_and_named_parameters_take_arguments_in_sqlite_order() {
        assert_eq!(bound("SELECT ?, ?", &[1, 2]).unwrap(), ints(&[1, 2]));
        assert_eq!(bound("SELECT ?2, ?1", &[1, 2]).unwrap(), ints(&[1, 2]));
        assert_eq!(bound("SELECT :a, :b, :a", &[1, 2]).unwrap(), ints(&[1, 2]));
    }

    #[test]
    fn dollar_numbers_pick_their_argument() {
        // SQLite numbers $2 as parameter 1 here; the wire gets argument 2 first.
        assert_eq!(
            bound("SELECT $2, $1, $2", &[10, 20]).unwrap(),
            ints(&[20, 10])
        );
        // Only $3 is used: the first two arguments must still be given.
        assert_eq!(bound("SELECT $3", &[1, 2, 3]).unwrap(), ints(&[3]));
    }

    #[test]
    fn argument_counts_must_match() {
        assert!(matches!(
            bound("SELECT ?, ?", &[1]),
            Err(Error::InvalidArgument(_))
        ));
        assert!(bound("SELECT 1", &[1]).is_err());
        assert!(bound("SELECT $2", &[1]).is_err());
        assert_eq!(bound("SELECT 1", &[]).unwrap(), ints(&[]));
    }
}
