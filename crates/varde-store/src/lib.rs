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
