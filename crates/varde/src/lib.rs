//! Varde: IT service management in one binary.
//!
//! Layers: `varde_domain` (rules), `varde_store` (SQL), and here the
//! application services, the REST API, the web UI, the job runner and the
//! operator's command line.

pub mod api;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod demo;
pub mod demo_knowledge;
pub mod error;
pub mod jobs;
pub mod server;
pub mod service;
pub mod state;
pub mod ui;
