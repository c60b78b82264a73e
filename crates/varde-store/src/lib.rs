//! Varde's storage: the only code that knows SQL.
//!
//! One [`Store`] serves SQLite (embedded default) and PostgreSQL (scale-out)
//! through sqlx's `Any` driver, with portable SQL written once. Engine
//! differences stay in this crate: numbering, full-text search, job claiming
//! and how writes are committed (see [`db`]).

pub mod audit;
pub mod calendars;
pub mod catalog;
pub mod cmdb;
pub mod cmdb_import;
mod db;
pub mod directory;
pub mod error;
pub mod filters;
pub mod idempotency;
pub mod import;
pub mod incidents;
pub mod jobs;
pub mod knowledge;
pub mod problems;
mod records;
pub mod recurring;
mod schema;
pub mod sla;
mod sql;
pub mod testing;

pub use db::{Engine, Store, StoreOptions};
pub use error::StoreError;

/// Microseconds since the Unix epoch, UTC: how every instant is stored.
pub fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// Stored instants (microseconds) written as RFC 3339, as the API writes
/// every instant, for the store types the API returns as they are.
pub mod rfc3339 {
    /// An RFC 3339 instant from stored microseconds (empty if out of range).
    pub fn text(micros: i64) -> String {
        jiff::Timestamp::from_microsecond(micros).map(|t| t.to_string()).unwrap_or_default()
    }

    pub fn instant<S: serde::Serializer>(micros: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*micros))
    }

    pub fn optional<S: serde::Serializer>(micros: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match micros {
            Some(m) => s.serialize_str(&text(*m)),
            None => s.serialize_none(),
        }
    }
}
