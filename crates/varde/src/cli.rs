//! The operator's command line: `varde serve`, `varde admin ...`,
//! `varde backup`, `varde demo`, `varde healthcheck`, `varde bench`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use varde_store::Store;

use crate::config::{anyhow_lite, DbArgs};
use crate::service::directory::{self, CreateUser};
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(name = "varde", version, about = "Varde: IT service management in one binary")]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: web UI, REST API and background jobs.
    Serve {
        /// Address and port to listen on.
        #[arg(long, env = "VARDE_LISTEN")]
        listen: Option<String>,
        /// Fill an empty database with demo data first.
        #[arg(long)]
        demo: bool,
    },
    /// Bring the database schema to this version's and exit.
    Migrate,
    /// Manage users and tokens.
    #[command(subcommand)]
    Admin(Admin),
    /// Write a consistent copy of the SQLite database while Varde runs.
    Backup {
        #[arg(long)]
        to: PathBuf,
    },
    /// Fill the database with a realistic demo desk.
    Demo {
        /// How many incidents to make.
        #[arg(long, default_value_t = 3000)]
        incidents: usize,
        /// The random seed: the same seed makes the same desk.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Add the demo even if the database already has incidents.
        #[arg(long)]
        force: bool,
    },
    /// Ask a running server whether it is healthy (exit 0) or not (exit 1).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Drive a running server's API with concurrent clients and report throughput and latency.
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Create a user; with --password-stdin the password is read from standard input.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// requester, agent or admin.
        #[arg(long)]
        role: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API token for a user and print it.
    CreateToken {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("varde: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("varde: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("VARDE_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let json = std::env::var("VARDE_LOG_FORMAT").map(|v| v == "json").unwrap_or(false);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open(db: &DbArgs) -> anyhow_lite::Result<(Store, crate::config::Config)> {
    let config = db.resolve(None)?;
    let store = Store::open(&config.store).await?;
    Ok((store, config))
}

async fn run(cli: Cli) -> anyhow_lite::Result<ExitCode> {
    match cli.command {
        Command::Serve { listen, demo } => {
            let config = cli.db.resolve(listen.as_deref())?;
            let started = std::time::Instant::now();
            let store = Store::open(&config.store).await?;
            ensure_admin(&store).await?;
            if demo
                && store
                    .list_incidents(
                        varde_store::incidents::Scope::All,
                        &Default::default(),
                        Default::default(),
                        None,
                        1,
                    )
                    .await?
                    .is_empty()
            {
                crate::demo::fill(&store, 3000).await?;
            }
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
            tracing::info!(listen = %config.listen, database = %describe(&config), ready_ms = started.elapsed().as_millis() as u64, "Varde is ready");
            eprintln!("Varde is ready on http://{}", config.listen);
            crate::server::serve(AppState::new(store, config), listener).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            open(&cli.db).await?;
            eprintln!("the schema is up to date");
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(Admin::CreateUser { email, name, role, password_stdin }) => {
            let (store, _) = open(&cli.db).await?;
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                Some(s.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let input = CreateUser { email, name, role, organisation_id: None, password };
            match directory::create_user(&store, None, input).await {
                Ok(u) => {
                    println!("created user {} ({}) with id {}", u.email, u.role.as_str(), u.id);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    let p = e.problem();
                    eprintln!("varde: {}", p.detail);
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Admin(Admin::CreateToken { email, name }) => {
            let (store, _) = open(&cli.db).await?;
            let user = store
                .user_by_email(&email.trim().to_lowercase())
                .await
                .map_err(|_| format!("no user with e-mail {email}"))?;
            let (_, secret) = directory::create_token(&store, user.id, &name).await.map_err(|e| e.problem().detail)?;
            println!("{secret}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { to } => {
            let (store, _) = open(&cli.db).await?;
            store.backup_to(&to).await?;
            eprintln!("backup written to {}", to.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { incidents, seed, force } => {
            let (store, _) = open(&cli.db).await?;
            let desk = crate::demo::fill_with(&store, incidents, seed, force).await?;
            crate::demo::print_logins(&desk);
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { url } => {
            let ok = reqwest::get(format!("{}/healthz", url.trim_end_matches('/')))
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            println!("{}", if ok { "healthy" } else { "unhealthy" });
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Bench(args) => crate::bench::run(args, &cli.db).await,
    }
}

fn describe(config: &crate::config::Config) -> String {
    if config.store.url.starts_with("sqlite:") {
        format!("SQLite in {}", config.data_dir.display())
    } else {
        "PostgreSQL".to_string()
    }
}

/// On first start with no users, makes an administrator with a one-time
/// password and prints it once.
async fn ensure_admin(store: &Store) -> anyhow_lite::Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let password = crate::auth::random_token()[..20].to_string();
    let input = CreateUser {
        email: "admin@varde.local".into(),
        name: "Administrator".into(),
        role: "admin".into(),
        organisation_id: None,
        password: Some(password.clone()),
    };
    directory::create_user(store, None, input).await.map_err(|e| e.problem().detail)?;
    eprintln!("\n  First start: created the administrator\n    e-mail:   admin@varde.local\n    password: {password}\n  Log in and change this password (it is not shown again).\n");
    Ok(())
}
