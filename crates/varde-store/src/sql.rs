//! A tiny builder for dynamic SQL with `$n` placeholders, which both engines
//! understand, and the bind values that go with it.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::{Query, QueryAs};
use sqlx::{Any, AnyConnection};

use crate::{Engine, StoreError};

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

/// A write guarded by the version `read` that touched no row lost the race:
/// the row has moved past `read`.
pub(crate) fn versioned(rows_affected: u64, read: i64) -> Result<(), StoreError> {
    if rows_affected == 0 {
        Err(StoreError::Conflict { current: read + 1 })
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

/// The SQL type of a column of [`json_rows`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum JsonCol {
    Int,
    Text,
}

/// A subquery, for a FROM clause, that yields one row per element of the
/// JSON array of arrays bound at `$param`, with `cols` named in order
/// (`[[1, "a"], [2, null]]` with `[("id", Int), ("state", Text)]`).
///
/// Set-wise writes of thousands of rows use it instead of a multi-row
/// VALUES list: the statement text stays the same, so it is prepared once,
/// and the rows cost one bound parameter. Measured on the SLA recompute
/// (BENCHMARKS.md): SQLite parsed a fresh 500-row VALUES statement every
/// time, and that dominated the write.
pub(crate) fn json_rows(engine: Engine, param: usize, cols: &[(&str, JsonCol)]) -> String {
    let mut out = String::from("(SELECT ");
    for (n, (name, ty)) in cols.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        out.push_str(&match (engine, ty) {
            (Engine::Sqlite, _) => format!("value->>{n} AS {name}"),
            (Engine::Postgres, JsonCol::Int) => format!("CAST(value->>{n} AS BIGINT) AS {name}"),
            (Engine::Postgres, JsonCol::Text) => format!("value->>{n} AS {name}"),
        });
    }
    out.push_str(&match engine {
        Engine::Sqlite => format!(" FROM json_each(${param}))"),
        Engine::Postgres => format!(" FROM jsonb_array_elements(CAST(${param} AS JSONB)) AS e(value))"),
    });
    out
}

/// The engine behind a connection, for the few statements whose dialects
/// differ (see [`json_rows`]).
pub(crate) fn engine_of(conn: &AnyConnection) -> Engine {
    if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        Engine::Postgres
    } else {
        Engine::Sqlite
    }
}

/// The bound parameter of [`json_rows`]: rows as a JSON array of arrays
/// (a tuple serialises as an array, `None` as null).
pub(crate) fn json_param<T: serde::Serialize>(rows: &[T]) -> String {
    serde_json::to_string(rows).expect("rows of numbers and text serialise")
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
