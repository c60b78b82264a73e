//! What every request handler shares.

use std::sync::Arc;

use varde_store::Store;

use crate::auth::Throttle;
use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub throttle: Arc<Throttle>,
}

impl AppState {
    pub fn new(store: Store, config: Config) -> Self {
        AppState { store, config: Arc::new(config), throttle: Arc::new(Throttle::default()) }
    }
}
