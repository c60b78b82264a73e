//! `varde demo`: a realistic desk to look at.

use varde_store::Store;

use crate::config::anyhow_lite;

pub async fn fill(_store: &Store, _incidents: usize) -> anyhow_lite::Result<()> {
    Err("not built yet".into())
}
