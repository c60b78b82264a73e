//! Configuration, in layers: built-in defaults < an optional TOML file <
//! `VARDE_*` environment variables < command-line flags. Unknown keys in the
//! file are refused, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use varde_store::StoreOptions;

/// The options every subcommand that opens the database shares.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// Where Varde keeps its SQLite database (and config file, if any).
    #[arg(long, env = "VARDE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user:pass@host/db); without it Varde uses SQLite in the data directory.
    #[arg(long, env = "VARDE_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// A TOML file with settings (default: DATA_DIR/varde.toml if it exists).
    #[arg(long, env = "VARDE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
}

/// What the optional file may say.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub max_connections: Option<u32>,
    pub max_attachment_bytes: Option<usize>,
    pub session_hours: Option<i64>,
    pub secure_cookies: Option<bool>,
    pub log_format: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub store: StoreOptions,
    pub listen: SocketAddr,
    pub max_attachment_bytes: usize,
    pub session_hours: i64,
    /// Mark cookies `Secure` (set when Varde is served over HTTPS).
    pub secure_cookies: bool,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl DbArgs {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| PathBuf::from("varde-data"))
    }

    fn file(&self, data_dir: &Path) -> anyhow_lite::Result<FileConfig> {
        let (path, required) = match &self.config {
            Some(p) => (p.clone(), true),
            None => (data_dir.join("varde.toml"), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()).into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(FileConfig::default()),
            Err(e) => Err(format!("{}: {e}", path.display()).into()),
        }
    }

    /// Resolves the layers into one configuration; `listen` is the flag or env value, if any.
    pub fn resolve(&self, listen: Option<&str>) -> anyhow_lite::Result<Config> {
        let data_dir = self.data_dir();
        let file = self.file(&data_dir)?;
        let url = match self.database_url.clone().or(file.database_url) {
            Some(u) if !u.is_empty() => u,
            _ => {
                std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
                StoreOptions::sqlite_file(&data_dir.join("varde.db")).url
            }
        };
        let listen = listen.map(str::to_string).or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen.parse().map_err(|e| format!("listen address {listen:?}: {e}"))?;
        Ok(Config {
            data_dir,
            store: StoreOptions { url, max_connections: file.max_connections.unwrap_or(16) },
            listen,
            max_attachment_bytes: file.max_attachment_bytes.unwrap_or(10 * 1024 * 1024),
            session_hours: file.session_hours.unwrap_or(12),
            secure_cookies: file.secure_cookies.unwrap_or(false),
        })
    }
}

/// A string error for start-up problems, printed to the operator as-is.
pub mod anyhow_lite {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_are_overridden_by_flags_and_unknown_keys_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("varde.toml"), "listen = \"127.0.0.1:9000\"\nsession_hours = 3\n").unwrap();
        let args = DbArgs { data_dir: Some(dir.path().to_path_buf()), database_url: None, config: None };
        let c = args.resolve(None).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.session_hours, 3);
        assert!(c.store.url.starts_with("sqlite://"));
        assert_eq!(args.resolve(Some("127.0.0.1:9100")).unwrap().listen.port(), 9100);
        std::fs::write(dir.path().join("varde.toml"), "lisen = \"x\"\n").unwrap();
        assert!(args.resolve(None).unwrap_err().to_string().contains("unknown field"));
    }
}
