//! A tiny builder for dynamic SQL with `$n` placeholders, which both engines
//! understand, and the bind values that go with it.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::{Query, QueryAs};
use sqlx::{Any, AnyConnection};

use crate::StoreError;

/// Whether a row with this id exists in `table` (one of our own table names).
pub(crate) async fn exists(conn: &mut AnyConnection, table: &str, id: i64) -> Result<bool, StoreError> {
    let n: i64 =
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE id = $1")).bind(id).fetch_one(conn).await?;
    Ok(n > 0)
}

/// An update or delete that touched no row found nothing to act on.
pub(crate) fn found(rows_affected: u64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Adds the pair `(a, b)` to a two-column membership table (group members,
/// watchers) unless it is there; says whether it was added. Both engines,
/// no `ON CONFLICT` dialect needed: writes to one record are serialised.
pub(crate) async fn insert_pair(
    conn: &mut AnyConnection,
    table: &str,
    (col_a, col_b): (&str, &str),
    a: i64,
    b: i64,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {col_a} = $1 AND {col_b} = $2"))
        .bind(a)
        .bind(b)
        .fetch_one(&mut *conn)
        .await?;
    if n > 0 {
        return Ok(false);
    }
    sqlx::query(&format!("INSERT INTO {table} ({col_a}, {col_b}) VALUES ($1, $2)"))
        .bind(a)
        .bind(b)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    Text(String),
    /// An integer that may be NULL (optional references).
    OptInt(Option<i64>),
}

#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql { text: text.to_string(), args: Vec::new() }
    }
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    /// Appends a placeholder for `arg`.
    pub fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }
    /// Appends `($1, $2, ...)` for the values: the right side of an `IN`.
    pub fn bind_list(&mut self, args: impl IntoIterator<Item = Arg>) -> &mut Self {
        self.text.push('(');
        for (n, a) in args.into_iter().enumerate() {
            if n > 0 {
                self.text.push_str(", ");
            }
            self.bind(a);
        }
        self.text.push(')');
        self
    }
    pub fn query_as<T>(&self) -> QueryAs<'_, Any, T, AnyArguments<'_>>
    where
        T: for<'r> sqlx::FromRow<'r, AnyRow>,
    {
        let mut q = sqlx::query_as(&self.text);
        for a in &self.args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_str()),
                Arg::OptInt(v) => q.bind(*v),
            };
        }
        q
    }
    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.as_str()),
                Arg::OptInt(v) => q.bind(*v),
            };
        }
        q
    }
}
