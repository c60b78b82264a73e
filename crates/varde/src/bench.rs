//! `varde bench`: a load generator for the HTTP API (placeholder args; see BENCHMARKS.md).

use std::process::ExitCode;

use crate::config::anyhow_lite;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The server to drive.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

pub async fn run(_args: BenchArgs) -> anyhow_lite::Result<ExitCode> {
    Err("not built yet".into())
}
