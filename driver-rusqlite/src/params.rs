//! Parameters: the sealed [`Params`] trait, implemented for the same
//! shapes as rusqlite's (tuples, arrays, slices, `params!`,
//! `named_params!`, [`params_from_iter`]).
//!
//! dqlite binds by position only, so names are resolved here, against the
//! numbering the client-side scanner gave the statement's parameters.

use crate::types::{ToSql, to_wire};
use crate::{Error, Result};
use dqlite_client::sql::ParamLayout;

mod sealed {
    /// Only this crate implements [`Params`](super::Params).
    pub trait Sealed {}
    /// Only this crate implements [`BindIndex`](super::BindIndex).
    pub trait SealedIndex {}
}
use sealed::{Sealed, SealedIndex};

/// Values for a statement's parameters, as `rusqlite::Params`.
///
/// Implemented for `()` and `[]` (no parameters), tuples of up to 16
/// [`ToSql`] values, arrays `[T; N]` and `&[&T; N]` (N ≤ 32), `&[&dyn ToSql]`
/// (what [`params!`](crate::params) builds), `&[(name, value)]` (what
/// [`named_params!`](crate::named_params) builds) and [`ParamsFromIter`].
pub trait Params: Sealed {
    /// Resolves the values against a statement's parameters.
    #[doc(hidden)]
    fn __bind_in(self, binder: &mut Binder<'_>) -> Result<()>;
}

/// Where a named or numbered parameter goes: a 1-based index (`usize`) or
/// a name with its prefix (`":name"`, `"@name"`, `"$name"`, `"?3"`).
pub trait BindIndex: SealedIndex + Copy {
    /// The 1-based index.
    #[doc(hidden)]
    fn idx(&self, binder: &Binder<'_>) -> Result<usize>;
}

impl SealedIndex for usize {}
impl BindIndex for usize {
    fn idx(&self, _: &Binder<'_>) -> Result<usize> {
        Ok(*self)
    }
}

impl SealedIndex for &str {}
impl BindIndex for &str {
    fn idx(&self, binder: &Binder<'_>) -> Result<usize> {
        binder
            .layout
            .index_of(self)
            .ok_or_else(|| Error::InvalidParameterName((*self).to_owned()))
    }
}

/// Collects the wire values of one execution.
#[doc(hidden)]
#[derive(Debug)]
pub struct Binder<'a> {
    layout: &'a ParamLayout,
    /// The statement's parameter count (the server's, when known).
    count: usize,
    values: Vec<dqlite_protocol::Value>,
}

impl<'a> Binder<'a> {
    pub(crate) fn new(layout: &'a ParamLayout, count: usize) -> Self {
        Self {
            layout,
            count,
            values: vec![dqlite_protocol::Value::Null; count],
        }
    }

    /// The values, one per parameter (unbound ones NULL).
    pub(crate) fn finish(self) -> Vec<dqlite_protocol::Value> {
        self.values
    }

    /// Binds `value` at a 1-based index.
    fn bind(&mut self, index: usize, value: &dyn ToSql) -> Result<()> {
        let output = value.to_sql()?;
        let wire = to_wire(output.value_ref());
        if let dqlite_protocol::Value::Text(t) = &wire
            && t.contains(&0)
        {
            return Err(Error::ToSqlConversionFailure(
                "text parameter contains a NUL byte, which the dqlite wire cannot carry".into(),
            ));
        }
        match index.checked_sub(1).and_then(|i| self.values.get_mut(i)) {
            Some(slot) => {
                *slot = wire;
                Ok(())
            }
            None => Err(Error::InvalidParameterName(format!("?{index}"))),
        }
    }

    /// Binds positional values 1, 2, … and checks their number.
    fn positional<I>(&mut self, values: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: ToSql,
    {
        let mut given = 0;
        for value in values {
            given += 1;
            if given <= self.count {
                self.bind(given, &value)?;
            }
        }
        if given == self.count {
            Ok(())
        } else {
            Err(Error::InvalidParameterCount(given, self.count))
        }
    }

    fn named<S: BindIndex, T: ToSql>(&mut self, values: &[(S, T)]) -> Result<()> {
        for (name, value) in values {
            let index = name.idx(self)?;
            self.bind(index, value)?;
        }
        Ok(())
    }

    fn expect(&self, n: usize) -> Result<()> {
        if n == self.count {
            Ok(())
        } else {
            Err(Error::InvalidParameterCount(n, self.count))
        }
    }
}

impl Sealed for () {}
impl Params for () {
    fn __bind_in(self, binder: &mut Binder<'_>) -> Result<()> {
        binder.expect(0)
    }
}

impl Sealed for [&(dyn ToSql + Send + Sync); 0] {}
impl Params for [&(dyn ToSql + Send + Sync); 0] {
    fn __bind_in(self, binder: &mut Binder<'_>) -> Result<()> {
        binder.expect(0)
    }
}

impl Sealed for &[&dyn ToSql] {}
impl Params for &[&dyn ToSql] {
    fn __bind_in(self, binder: &mut Binder<'_>) -> Result<()> {
        binder.positional(self.iter())
    }
}

impl<S: BindIndex, T: ToSql> Sealed for &[(S, T)] {}
impl<S: BindIndex, T: ToSql> Params for &[(S, T)] {
    fn __bind_in(self, binder: &mut Binder<'_>) -> Result<()> {
        binder.named(self)
    }
}

macro_rules! tuple_params {
    ($count:literal: $($field:tt $t:ident),+) => {
        impl<$($t: ToSql),+> Sealed for ($($t,)+) {}
        impl<$($t: ToSql),+> Params for ($($t,)+) {
            fn __bind_in(self, binder: &mut Binder<'_>) -> Result<()> {
                binder.expect($count)?;
                $(binder.bind($field + 1, &self.$field)?;)+
                Ok(())
            }
        }
    };
}
tuple_params!(1: 0 A);
tuple_params!(2: 0 A, 1 B);
tuple_params!(3: 0 A, 1 B, 2 C);
tuple_params!(4: 0 A, 1 B, 2 C, 3 D);
tuple_params!(5: 0 A, 1 B, 2 C, 3 D, 4 E);
tuple_params!(6: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
tuple_params!(7: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
tuple_params!(8: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);
tuple_params!(9: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I);
tuple_params!(10: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J);
tuple_params!(11: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K);
tuple_params!(12: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L);
tuple_params!(13: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M);
tuple_params!(14: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M, 13 N);
tuple_params!(15: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M, 13 N, 14 O);
tuple_params!(16: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L, 12 M, 13 N, 14 O, 15 P);

macro_rules! array_params {
    ($($n:literal)+) => {$(
        impl<T: ToSql + ?Sized> Sealed for &[&T; $n] {}
        impl<T: ToSql + ?Sized> Params for &[&T; $n] {
            fn __bind_in(self, binder: &mut Binder<'_>) -> Result<()> {
                binder.positional(self.iter())
            }
        }
        impl<S: BindIndex, T: ToSql + ?Sized> Sealed for &[(S, &T); $n] {}
        impl<S: BindIndex, T: ToSql + ?Sized> Params for &[(S, &T); $n] {
            fn __bind_in(self, binder: &mut Binder<'_>) -> Result<()> {
                binder.named(&self[..])
            }
        }
        impl<T: ToSql> Sealed for [T; $n] {}
        impl<T: ToSql> Params for [T; $n] {
            fn __bind_in(self, binder: &mut Binder<'_>) -> Result<()> {
                binder.positional(self.iter())
            }
        }
    )+};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);

/// Positional parameters from an iterator, as `rusqlite::ParamsFromIter`.
#[derive(Clone, Debug)]
pub struct ParamsFromIter<I>(I);

/// Positional parameters from any iterator of [`ToSql`] values.
pub fn params_from_iter<I>(iter: I) -> ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToSql,
{
    ParamsFromIter(iter)
}

impl<I> Sealed for ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToSql,
{
}

impl<I> Params for ParamsFromIter<I>
where
    I: IntoIterator,
    I::Item: ToSql,
{
    fn __bind_in(self, binder: &mut Binder<'_>) -> Result<()> {
        binder.positional(self.0)
    }
}

/// Resolves `params` for a statement whose parameters are `layout`, with
/// `count` parameters in all.
pub(crate) fn bind<P: Params>(
    params: P,
    layout: &ParamLayout,
    count: usize,
) -> Result<Vec<dqlite_protocol::Value>> {
    let mut binder = Binder::new(layout, count);
    params.__bind_in(&mut binder)?;
    Ok(binder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dqlite_client::sql::SqlInfo;
    use dqlite_protocol::Value as W;

    fn bound<P: Params>(sql: &str, params: P) -> Result<Vec<W>> {
        let info = SqlInfo::new(sql);
        bind(params, &info.params, info.params.count)
    }

    #[test]
    fn every_shape_binds() {
        let sql = "SELECT ?, ?";
        let expected = vec![W::Integer(1), W::Text(b"a".to_vec())];
        assert_eq!(bound(sql, (1, "a")).unwrap(), expected);
        assert_eq!(bound(sql, crate::params![1, "a"]).unwrap(), expected);
        assert_eq!(
            bound("SELECT ?, ?", [1, 2]).unwrap(),
            vec![W::Integer(1), W::Integer(2)]
        );
        assert_eq!(
            bound("SELECT ?, ?", params_from_iter(vec![3, 4])).unwrap(),
            vec![W::Integer(3), W::Integer(4)]
        );
        assert_eq!(bound("SELECT 1", []).unwrap(), vec![]);
        assert_eq!(bound("SELECT 1", ()).unwrap(), vec![]);
    }

    #[test]
    fn names_resolve_to_positions() {
        let sql = "INSERT INTO t VALUES (:b, @a, $c, :b, ?7)";
        let values = bound(sql, crate::named_params! {"@a": 1, ":b": "x", "?7": 7.5}).unwrap();
        assert_eq!(values.len(), 7);
        assert_eq!(values[0], W::Text(b"x".to_vec()));
        assert_eq!(values[1], W::Integer(1));
        assert_eq!(values[2], W::Null);
        assert_eq!(values[6], W::Float(7.5));
        assert!(matches!(
            bound(sql, crate::named_params! {":nope": 1}),
            Err(Error::InvalidParameterName(n)) if n == ":nope"
        ));
    }

    #[test]
    fn counts_are_checked() {
        assert!(matches!(
            bound("SELECT ?, ?", [1]),
            Err(Error::InvalidParameterCount(1, 2))
        ));
        assert!(matches!(
            bound("SELECT ?", (1, 2)),
            Err(Error::InvalidParameterCount(2, 1))
        ));
        assert!(matches!(
            bound("SELECT ?", ["a\0b"]),
            Err(Error::ToSqlConversionFailure(_))
        ));
    }
}
