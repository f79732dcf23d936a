//! A small SQL scanner, run on the client because dqlite binds parameters
//! by position only: it finds the parameters (numbering `:name`, `@name`,
//! `$name`, `?` and `?NNN` as SQLite does), splits the text into statements
//! and tells what each statement does to the transaction state.
//!
//! It skips string literals, quoted identifiers (`"…"`, `` `…` ``, `[…]`)
//! and comments, and treats the body of `CREATE TRIGGER … END` as one
//! statement, as `sqlite3_complete` does.

use std::ops::Range;

/// What the client needs to know about one SQL text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SqlInfo {
    /// The parameters of the whole text.
    pub params: ParamLayout,
    /// The statements, in order; empty statements are left out.
    pub statements: Vec<StatementInfo>,
}

impl SqlInfo {
    /// Scans `sql`.
    pub fn new(sql: &str) -> Self {
        scan(sql)
    }

    /// Whether every statement only reads (so that sending it again after
    /// a lost connection is harmless).
    pub fn is_read_only(&self) -> bool {
        self.statements.iter().all(|s| {
            matches!(
                s.kind,
                StmtKind::Read | StmtKind::Begin | StmtKind::Rollback
            )
        })
    }

    /// Whether the first statement is a query whose columns can be listed
    /// without running it (`SELECT`, `VALUES`, `WITH`).
    pub fn first_is_select(&self) -> bool {
        self.statements.first().is_some_and(|s| s.select_like)
    }
}

/// One statement of an SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementInfo {
    /// What it does to the transaction state.
    pub kind: StmtKind,
    /// From its first to the end of its last token (no `;`, no trailing comment).
    pub span: Range<usize>,
    /// Starts with `SELECT`, `VALUES` or `WITH`.
    pub select_like: bool,
    /// Its first word, upper-cased (empty if it starts otherwise).
    pub keyword: String,
    /// Has a `RETURNING` clause (outside a trigger body).
    pub returning: bool,
    /// Has an `INSERT`, `UPDATE`, `DELETE` or `REPLACE` (outside a
    /// trigger body): for `WITH …`, whether it ends in a write.
    pub dml: bool,
}

impl StatementInfo {
    /// Whether the statement produces rows, as far as its text tells:
    /// queries (`SELECT`, `VALUES`, `WITH`, `EXPLAIN`), writes with
    /// `RETURNING`, and `PRAGMA`s that do not assign (`sql` is the text the
    /// statement was scanned from).
    pub fn returns_rows(&self, sql: &str) -> bool {
        if self.keyword == "WITH" && self.dml {
            return self.returning;
        }
        self.select_like
            || self.kind == StmtKind::Read
            || self.returning
            || (self.keyword == "PRAGMA"
                && !sql.get(self.span.clone()).is_some_and(|s| s.contains('=')))
    }
}

/// The effect of a statement on the connection's transaction state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StmtKind {
    /// `BEGIN …`.
    Begin,
    /// `COMMIT` or `END`.
    Commit,
    /// `ROLLBACK` (of the whole transaction).
    Rollback,
    /// `ROLLBACK TO name`.
    RollbackTo(String),
    /// `SAVEPOINT name`.
    Savepoint(String),
    /// `RELEASE name`.
    Release(String),
    /// `SELECT`, `VALUES`, `EXPLAIN`: reads only.
    Read,
    /// Anything else.
    Other,
}

/// The parameters of an SQL text, numbered as SQLite numbers them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParamLayout {
    /// The highest parameter index (`sqlite3_bind_parameter_count`).
    pub count: usize,
    /// Named and numbered parameters (`:a`, `@a`, `$a`, `?3`), with their
    /// index; names keep their prefix character.
    pub names: Vec<(String, usize)>,
}

impl ParamLayout {
    /// The 1-based index of a parameter name, prefix included.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().find(|(n, _)| n == name).map(|(_, i)| *i)
    }

    /// The name of the parameter at a 1-based index, if it has one.
    pub fn name_of(&self, index: usize) -> Option<&str> {
        self.names
            .iter()
            .find(|(_, i)| *i == index)
            .map(|(n, _)| n.as_str())
    }

    fn add(&mut self, name: Option<&str>, number: Option<usize>) {
        if let Some(name) = name
            && self.index_of(name).is_some()
        {
            return;
        }
        let index = match number {
            Some(n) => n,
            None => self.count + 1,
        };
        self.count = self.count.max(index);
        if let Some(name) = name {
            self.names.push((name.to_owned(), index));
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word: keyword or identifier.
    Word(String),
    /// A quoted identifier, unquoted.
    Quoted(String),
    /// A literal or operator: nothing the scanner cares about.
    Other,
    Semicolon,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Finds the end of a quoted run starting at `start` (the opening quote)
/// where the closing quote is doubled to escape it. Returns the index after
/// the closing quote (or the end of the text) and the unescaped content.
fn quoted(bytes: &[u8], start: usize, close: u8) -> (usize, Vec<u8>) {
    let mut content = Vec::new();
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == close {
            if close != b']' && bytes.get(i + 1) == Some(&close) {
                content.push(close);
                i += 2;
                continue;
            }
            return (i + 1, content);
        }
        content.push(bytes[i]);
        i += 1;
    }
    (i, content)
}

struct Pending {
    start: Option<usize>,
    end: usize,
    idents: Vec<(String, bool)>,
    in_trigger: bool,
    last_was_end: bool,
    returning: bool,
    dml: bool,
}

impl Pending {
    fn new() -> Self {
        Self {
            start: None,
            end: 0,
            idents: Vec::new(),
            in_trigger: false,
            last_was_end: false,
            returning: false,
            dml: false,
        }
    }

    fn token(&mut self, token: &Token, range: Range<usize>) {
        self.start.get_or_insert(range.start);
        self.end = range.end;
        self.last_was_end = matches!(token, Token::Word(w) if w.eq_ignore_ascii_case("END"));
        if !self.in_trigger
            && let Token::Word(w) = token
        {
            let w = w.to_ascii_uppercase();
            self.returning |= w == "RETURNING";
            self.dml |= matches!(w.as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLACE");
        }
        let ident = match token {
            Token::Word(w) => Some((w.clone(), true)),
            Token::Quoted(q) => Some((q.clone(), false)),
            _ => None,
        };
        if self.idents.len() < 6 {
            // Keep the first few identifiers, and a placeholder for anything
            // else so that positions stay meaningful.
            self.idents.push(ident.unwrap_or_default());
        }
        if self.idents.len() <= 3 {
            let words: Vec<String> = self
                .idents
                .iter()
                .map(|(w, bare)| {
                    if *bare {
                        w.to_ascii_uppercase()
                    } else {
                        String::new()
                    }
                })
                .collect();
            self.in_trigger = matches!(
                words
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice(),
                ["CREATE", "TRIGGER", ..] | ["CREATE", "TEMP" | "TEMPORARY", "TRIGGER"]
            );
        }
    }

    fn finish(&mut self, out: &mut Vec<StatementInfo>) {
        if let Some(start) = self.start {
            out.push(StatementInfo {
                kind: kind(&self.idents),
                span: start..self.end,
                select_like: self.idents.first().is_some_and(|(w, bare)| {
                    *bare
                        && ["SELECT", "VALUES", "WITH"]
                            .iter()
                            .any(|k| w.eq_ignore_ascii_case(k))
                }),
                keyword: self
                    .idents
                    .first()
                    .filter(|(_, bare)| *bare)
                    .map(|(w, _)| w.to_ascii_uppercase())
                    .unwrap_or_default(),
                returning: self.returning,
                dml: self.dml,
            });
        }
        *self = Self::new();
    }
}

fn kind(idents: &[(String, bool)]) -> StmtKind {
    let word = |i: usize| {
        idents
            .get(i)
            .filter(|(_, bare)| *bare)
            .map(|(w, _)| w.to_ascii_uppercase())
            .unwrap_or_default()
    };
    // The savepoint name after an optional SAVEPOINT keyword at position i.
    let name_at = |i: usize| {
        let i = if word(i) == "SAVEPOINT" { i + 1 } else { i };
        idents.get(i).map(|(w, _)| w.clone()).unwrap_or_default()
    };
    match word(0).as_str() {
        "BEGIN" => StmtKind::Begin,
        "COMMIT" | "END" => StmtKind::Commit,
        "ROLLBACK" => {
            let to = if word(1) == "TO" {
                Some(2)
            } else if word(1) == "TRANSACTION" && word(2) == "TO" {
                Some(3)
            } else {
                None
            };
            match to {
                Some(i) => StmtKind::RollbackTo(name_at(i)),
                None => StmtKind::Rollback,
            }
        }
        "SAVEPOINT" => StmtKind::Savepoint(name_at(1)),
        "RELEASE" => StmtKind::Release(name_at(1)),
        "SELECT" | "VALUES" | "EXPLAIN" => StmtKind::Read,
        _ => StmtKind::Other,
    }
}

fn scan(sql: &str) -> SqlInfo {
    let bytes = sql.as_bytes();
    let mut info = SqlInfo::default();
    let mut pending = Pending::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let token = match b {
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
                continue;
            }
            b'\'' => {
                i = quoted(bytes, i, b'\'').0;
                Token::Other
            }
            b'"' | b'`' | b'[' => {
                let close = if b == b'[' { b']' } else { b };
                let (end, content) = quoted(bytes, i, close);
                i = end;
                Token::Quoted(String::from_utf8_lossy(&content).into_owned())
            }
            b'?' => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i > start + 1 {
                    let number = sql[start + 1..i].parse::<usize>().ok();
                    info.params.add(Some(&sql[start..i]), number);
                } else {
                    info.params.add(None, None);
                }
                Token::Other
            }
            b':' | b'@' | b'$' if bytes.get(i + 1).is_some_and(|&c| is_ident_byte(c)) => {
                i += 1;
                while i < bytes.len() && is_ident_byte(bytes[i]) {
                    i += 1;
                }
                info.params.add(Some(&sql[start..i]), None);
                Token::Other
            }
            b';' => {
                i += 1;
                if pending.in_trigger && !pending.last_was_end {
                    pending.token(&Token::Semicolon, start..i);
                } else {
                    pending.finish(&mut info.statements);
                }
                continue;
            }
            b if b.is_ascii_digit() => {
                while i < bytes.len() && (is_ident_byte(bytes[i]) || bytes[i] == b'.') {
                    i += 1;
                }
                Token::Other
            }
            b if is_ident_byte(b) => {
                while i < bytes.len() && is_ident_byte(bytes[i]) {
                    i += 1;
                }
                Token::Word(sql[start..i].to_owned())
            }
            _ => {
                // One character; step over a whole UTF-8 sequence.
                i += 1;
                while i < bytes.len() && !sql.is_char_boundary(i) {
                    i += 1;
                }
                Token::Other
            }
        };
        pending.token(&token, start..i);
    }
    pending.finish(&mut info.statements);
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(sql: &str) -> (usize, Vec<(&'static str, usize)>) {
        let info = SqlInfo::new(sql);
        let names = info
            .params
            .names
            .iter()
            .map(|(n, i)| (&*n.clone().leak(), *i))
            .collect();
        (info.params.count, names)
    }

    #[test]
    fn parameters_are_numbered_as_sqlite_numbers_them() {
        assert_eq!(params("SELECT ?, ?"), (2, vec![]));
        assert_eq!(
            params("SELECT :a, @b, $c, :a"),
            (3, vec![(":a", 1), ("@b", 2), ("$c", 3)])
        );
        assert_eq!(params("SELECT ?5, ?"), (6, vec![("?5", 5)]));
        assert_eq!(
            params("SELECT ?2, :x, ?1"),
            (3, vec![("?2", 2), (":x", 3), ("?1", 1)])
        );
        // Literals, quoted identifiers and comments hide look-alikes.
        assert_eq!(
            params("SELECT '?', \":x\", `@y`, [$z], ? -- :c ?\n /* ?9 */ FROM t"),
            (1, vec![])
        );
        assert_eq!(params("SELECT 'it''s ?', ?"), (1, vec![]));
        assert_eq!(params("SELECT x'00', :é"), (1, vec![(":é", 1)]));
        // "::" and a lone ":" are not parameters.
        assert_eq!(params("SELECT 1 : 2"), (0, vec![]));
    }

    #[test]
    fn statements_and_their_effect_on_transactions() {
        let kinds = |sql: &str| -> Vec<StmtKind> {
            SqlInfo::new(sql)
                .statements
                .into_iter()
                .map(|s| s.kind)
                .collect()
        };
        assert_eq!(kinds("  ;; -- nothing\n"), vec![]);
        assert_eq!(
            kinds("BEGIN IMMEDIATE; INSERT INTO t VALUES(';'); COMMIT"),
            vec![StmtKind::Begin, StmtKind::Other, StmtKind::Commit]
        );
        assert_eq!(
            kinds(
                "SAVEPOINT sp1; ROLLBACK TO SAVEPOINT sp1; RELEASE \"sp1\"; ROLLBACK TRANSACTION; END"
            ),
            vec![
                StmtKind::Savepoint("sp1".into()),
                StmtKind::RollbackTo("sp1".into()),
                StmtKind::Release("sp1".into()),
                StmtKind::Rollback,
                StmtKind::Commit
            ]
        );
        assert_eq!(
            kinds("select 1; values (2)"),
            vec![StmtKind::Read, StmtKind::Read]
        );
        // A trigger body is one statement.
        let trigger = "CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN \
                       INSERT INTO u VALUES (1); DELETE FROM v; END; SELECT 1";
        assert_eq!(kinds(trigger), vec![StmtKind::Other, StmtKind::Read]);
    }

    #[test]
    fn which_statements_return_rows() {
        let rows = |sql: &str| -> Vec<bool> {
            let info = SqlInfo::new(sql);
            info.statements
                .iter()
                .map(|s| s.returns_rows(sql))
                .collect()
        };
        assert_eq!(
            rows("SELECT 1; values (1); WITH x AS (SELECT 1) SELECT * FROM x"),
            [true; 3]
        );
        assert_eq!(rows("explain query plan select 1"), [true]);
        assert_eq!(
            rows("INSERT INTO t VALUES (1) RETURNING id; DELETE FROM t returning *"),
            [true, true]
        );
        assert_eq!(
            rows("INSERT INTO t VALUES ('RETURNING'); UPDATE \"returning\" SET x = 1"),
            [false, false]
        );
        assert_eq!(
            rows("PRAGMA table_info(t); PRAGMA foreign_keys = ON"),
            [true, false]
        );
        assert_eq!(rows("CREATE TABLE t (x); BEGIN; COMMIT"), [false; 3]);
        assert_eq!(
            rows(
                "WITH n(i) AS (SELECT 1) INSERT INTO t SELECT i FROM n; \
                 WITH n(i) AS (SELECT 1) DELETE FROM t WHERE x IN n RETURNING x; \
                 WITH n(i) AS (SELECT 1) SELECT i FROM n"
            ),
            [false, true, true]
        );
        let info = SqlInfo::new("  pragma user_version");
        assert_eq!(info.statements[0].keyword, "PRAGMA");
    }

    #[test]
    fn spans_leave_out_separators_and_trailing_comments() {
        let sql = "  SELECT a FROM t -- trailing\n ; ";
        let info = SqlInfo::new(sql);
        assert_eq!(&sql[info.statements[0].span.clone()], "SELECT a FROM t");
        assert!(info.first_is_select());
        assert!(info.is_read_only());
        assert!(!SqlInfo::new("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x").is_read_only());
    }
}
