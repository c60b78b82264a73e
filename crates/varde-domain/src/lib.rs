//! Varde's domain: the rules of IT service management, free of I/O.
//!
//! Everything here is plain data and pure functions, so that the rules can be
//! tested exhaustively and every later practice (requests, problems, changes)
//! shares the same record kernel.

pub mod access;
pub mod cmdb;
pub mod error;
pub mod incident;
pub mod knowledge;
pub mod priority;
pub mod problem;
pub mod record;
pub mod recurring;
pub mod search;
pub mod sla;
pub mod text;

pub use error::{DomainError, FieldError};
