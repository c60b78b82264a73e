use varde_domain::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The record changed since the caller read it (optimistic concurrency).
    #[error("the record was changed by someone else (version {current})")]
    Conflict { current: i64 },
    /// A unique value is taken; `field` names the input field it came from.
    #[error("{field} is already in use")]
    Duplicate { field: &'static str },
    /// A referenced row does not exist.
    #[error("{field} refers to nothing")]
    UnknownReference { field: &'static str },
    /// The row is referred to by others and cannot go; the text says by what.
    #[error("{0}")]
    InUse(String),
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database gave way to another writer (PostgreSQL's deadlock or
    /// serialization failure): nothing was written, and the same write may
    /// well succeed if run again.
    #[error("the database was busy with another write: {0}")]
    Busy(String),
    #[error("database: {0}")]
    Database(String),
    /// Stored data that the program cannot read back: a bug or tampering.
    #[error("corrupt data in {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            // deadlock_detected, serialization_failure (SQLSTATE class 40).
            sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")) => {
                StoreError::Busy(db.to_string())
            }
            other => StoreError::Database(other.to_string()),
        }
    }
}

impl StoreError {
    /// Maps a unique-constraint violation to the field it protects.
    pub(crate) fn unique(e: sqlx::Error, field: &'static str) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Duplicate { field };
            }
        }
        e.into()
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(what.to_string())
    }
}
