//! Application services: the operations a person or program asks Varde to do,
//! with their rights checks, shared by the REST API and the web UI so that
//! no rule lives in a handler.

pub mod directory;
pub mod incidents;

use serde::{Deserialize, Deserializer};

/// For JSON merge patch: tells an absent field (`None`) from an explicit
/// `null` (`Some(None)`).
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
