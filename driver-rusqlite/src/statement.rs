//! Blocking prepared statements and result sets.

use std::ops::{Deref, DerefMut};

use crate::params::Params;
use crate::row::Row;
use crate::{Connection, Error, Result, asynchronous};

/// A statement prepared on the server, as `rusqlite::Statement`: finalized
/// when dropped, prepared again by itself after a change of leader.
#[derive(Debug)]
pub struct Statement<'conn> {
    conn: &'conn Connection,
    inner: Inner<'conn>,
}

/// A plain statement, or one that goes back to the cache.
#[derive(Debug)]
enum Inner<'conn> {
    Plain(asynchronous::Statement<'conn>),
    Cached(asynchronous::CachedStatement<'conn>),
}

impl<'conn> Deref for Inner<'conn> {
    type Target = asynchronous::Statement<'conn>;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Plain(s) => s,
            Self::Cached(s) => s,
        }
    }
}

impl DerefMut for Inner<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Self::Plain(s) => s,
            Self::Cached(s) => s,
        }
    }
}

impl<'conn> Statement<'conn> {
    pub(crate) fn new(conn: &'conn Connection, inner: asynchronous::Statement<'conn>) -> Self {
        Self {
            conn,
            inner: Inner::Plain(inner),
        }
    }

    /// Runs the statement; returns the number of rows changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.block_on(self.inner.execute(params))
    }

    /// Runs an INSERT and returns the new rowid.
    pub fn insert<P: Params>(&mut self, params: P) -> Result<i64> {
        self.conn.block_on(self.inner.insert(params))
    }

    /// Runs the query; its rows are streamed one ROWS message at a time.
    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows<'_>> {
        let conn = self.conn;
        let inner = conn.block_on(self.inner.query(params))?;
        Ok(Rows { conn, inner })
    }

    /// Runs the query and maps each row with `f`.
    pub fn query_map<T, P, F>(&mut self, params: P, f: F) -> Result<MappedRows<'_, F>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        Ok(self.query(params)?.mapped(f))
    }

    /// Runs the query and maps each row with a fallible `f`.
    pub fn query_and_then<T, E, P, F>(&mut self, params: P, f: F) -> Result<AndThenRows<'_, F>>
    where
        P: Params,
        E: From<Error>,
        F: FnMut(&Row<'_>) -> Result<T, E>,
    {
        Ok(self.query(params)?.and_then(f))
    }

    /// Whether the query returns at least one row.
    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        Ok(self.query(params)?.next()?.is_some())
    }

    /// The first row through `f`; `QueryReturnedNoRows` if there is none.
    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.conn.block_on(self.inner.query_row(params, f))
    }

    /// The only row through `f`; `QueryReturnedMoreThanOneRow` if there are more.
    pub fn query_one<T, P, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.conn.block_on(self.inner.query_one(params, f))
    }

    /// Column names (known at prepare time for queries, else after the
    /// first query).
    pub fn column_names(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.inner.column_names()
    }

    /// Number of columns.
    pub fn column_count(&self) -> usize {
        self.inner.column_count()
    }

    /// The name of column `col`.
    pub fn column_name(&self, col: usize) -> Result<&str> {
        self.inner.column_name(col)
    }

    /// The index of the column named `name`.
    pub fn column_index(&self, name: &str) -> Result<usize> {
        self.inner.column_index(name)
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.inner.parameter_count()
    }

    /// The 1-based index of a named parameter.
    pub fn parameter_index(&self, name: &str) -> Result<Option<usize>> {
        self.inner.parameter_index(name)
    }

    /// The name of the parameter at a 1-based index.
    pub fn parameter_name(&self, index: usize) -> Option<&str> {
        self.inner.parameter_name(index)
    }

    /// The SQL text the statement was prepared from.
    pub fn sql(&self) -> &str {
        self.inner.sql()
    }

    /// Finalizes the statement now, reporting errors.
    pub fn finalize(self) -> Result<()> {
        match self.inner {
            Inner::Plain(inner) => self.conn.block_on(inner.finalize()),
            // Not back into the cache: finalized with the next request.
            Inner::Cached(inner) => {
                inner.discard();
                Ok(())
            }
        }
    }
}

/// A statement from [`Connection::prepare_cached`]; goes back to the cache
/// when dropped.
#[derive(Debug)]
pub struct CachedStatement<'conn> {
    stmt: Statement<'conn>,
}

impl<'conn> CachedStatement<'conn> {
    pub(crate) fn new(
        conn: &'conn Connection,
        inner: asynchronous::CachedStatement<'conn>,
    ) -> Self {
        Self {
            stmt: Statement {
                conn,
                inner: Inner::Cached(inner),
            },
        }
    }

    /// Drops the statement instead of returning it to the cache.
    pub fn discard(self) {
        if let Inner::Cached(inner) = self.stmt.inner {
            inner.discard();
        }
    }
}

impl<'conn> Deref for CachedStatement<'conn> {
    type Target = Statement<'conn>;

    fn deref(&self) -> &Statement<'conn> {
        &self.stmt
    }
}

impl DerefMut for CachedStatement<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.stmt
    }
}

/// The rows of a query, as `rusqlite::Rows`: `next` reads them one at a
/// time, fetching one ROWS message from the server whenever the previous
/// one is used up. Dropping it early stops the query on the server.
#[derive(Debug)]
pub struct Rows<'stmt> {
    conn: &'stmt Connection,
    inner: asynchronous::Rows<'stmt>,
}

impl<'stmt> Rows<'stmt> {
    /// The next row, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<&Row<'stmt>>> {
        self.conn.block_on(self.inner.next())
    }

    /// Maps each row with `f`, as an iterator.
    pub fn mapped<F, T>(self, f: F) -> MappedRows<'stmt, F>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        MappedRows { rows: self, map: f }
    }

    /// Maps each row with a fallible `f`, as an iterator.
    pub fn and_then<F, T, E>(self, f: F) -> AndThenRows<'stmt, F>
    where
        E: From<Error>,
        F: FnMut(&Row<'_>) -> Result<T, E>,
    {
        AndThenRows { rows: self, map: f }
    }

    /// Column names of the result.
    pub fn column_names(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.inner.column_names()
    }
}

/// An iterator of rows mapped by a closure ([`Statement::query_map`]).
#[derive(Debug)]
pub struct MappedRows<'stmt, F> {
    rows: Rows<'stmt>,
    map: F,
}

impl<T, F> Iterator for MappedRows<'_, F>
where
    F: FnMut(&Row<'_>) -> Result<T>,
{
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match self.rows.next() {
            Ok(Some(row)) => Some((self.map)(row)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// An iterator of rows mapped by a fallible closure
/// ([`Statement::query_and_then`]).
#[derive(Debug)]
pub struct AndThenRows<'stmt, F> {
    rows: Rows<'stmt>,
    map: F,
}

impl<T, E, F> Iterator for AndThenRows<'_, F>
where
    E: From<Error>,
    F: FnMut(&Row<'_>) -> Result<T, E>,
{
    type Item = Result<T, E>;

    fn next(&mut self) -> Option<Result<T, E>> {
        match self.rows.next() {
            Ok(Some(row)) => Some((self.map)(row)),
            Ok(None) => None,
            Err(e) => Some(Err(E::from(e))),
        }
    }
}
