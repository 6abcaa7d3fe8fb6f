//! The `roster` command: `serve` runs the service; the other subcommands are
//! operator tools over the same database.

mod config;
mod operator;
mod transfer;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{CommandFactory as _, Parser, Subcommand};
use figment::Figment;
use figment::providers::Serialized;
use roster_core::service::Verification;
use roster_core::store::Store;
use roster_core::{CoreError, Roster};
use roster_store::sqlite::{SqliteOptions, Synchronous};
use tracing_subscriber::EnvFilter;

use config::Config;

/// mimalloc instead of the system's malloc: per request 12 % fewer
/// instructions for a GET by id and 10 % fewer for a page of 50 (callgrind;
/// docs/PERFORMANCE.md, 2026-12-01 later), mostly the small allocations of
/// building and dropping rows and responses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "roster",
    version,
    about = "Self-hosted user and access management"
)]
struct Cli {
    /// Configuration file (TOML); missing is fine.
    #[arg(
        long,
        global = true,
        env = "ROSTER_CONFIG",
        default_value = "roster.toml"
    )]
    config: PathBuf,
    /// Database URL, e.g. sqlite://roster.db (overrides ROSTER_DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve {
        /// Address to listen on (overrides ROSTER_LISTEN).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Create the database and apply migrations, then exit.
    Migrate,
    /// Write the whole database as JSON lines (backup, or a move to another
    /// database).
    ///
    /// Every stored entity: containers, roles, users with their password
    /// hashes and TOTP secrets, groups, memberships, assignments, API keys
    /// (as hashes), token signing secrets, revoked tokens and the audit
    /// chain. The output holds secrets: keep it like the database itself
    /// (--output creates the file readable by its owner only, mode 0600).
    /// Export a database no server is writing to.
    Export {
        /// Write to FILE (created with mode 0600) instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Load a file written by `roster export` into an empty database.
    ///
    /// The database (any --database-url) is created and migrated if
    /// needed; one that holds users, groups, audit events or anything else
    /// an import would bring is refused with exit status 2. No admin is
    /// created. The audit chain is verified afterwards (exit 1 if broken).
    Import {
        /// The export file, or `-` for standard input.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
    },
    /// Create, list, show, disable and enable users; set passwords.
    Users {
        #[command(subcommand)]
        command: operator::UsersCommand,
    },
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        command: operator::KeysCommand,
    },
    /// List roles and give them to users.
    Roles {
        #[command(subcommand)]
        command: operator::RolesCommand,
    },
    /// Write a consistent copy of a SQLite database to FILE while the server
    /// keeps running (PostgreSQL: use pg_dump).
    Backup {
        /// The copy to write; must not exist.
        file: PathBuf,
    },
    /// Exit 0 when a running server's GET /healthz answers 200, 1 otherwise
    /// (for container health checks).
    Healthcheck {
        /// The server, e.g. http://127.0.0.1:8080 (default: the configured
        /// listen address).
        #[arg(long)]
        url: Option<String>,
    },
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to standard output.
    Man,
    /// Operator tools for tokens.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Operator tools for the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Adds a new token signing secret. Running servers sign with it within
    /// a minute; tokens signed by earlier secrets stay valid until they expire.
    RotateKey,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Checks the hash chain of the whole audit log; exits 1 if a record was
    /// edited, removed or inserted.
    Verify,
}

/// Errors are one line on standard error and exit status 1: never a
/// backtrace, whatever `RUST_BACKTRACE` says.
fn main() {
    if let Err(e) = run() {
        eprintln!("roster: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Neither needs the configuration or a database.
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "roster",
                &mut std::io::stdout(),
            );
            return Ok(());
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            return Ok(());
        }
        _ => {}
    }
    let mut overrides = serde_json::Map::new();
    if let Some(url) = &cli.database_url {
        overrides.insert("database_url".into(), url.clone().into());
    }
    if let Command::Serve { listen: Some(l) } = &cli.command {
        overrides.insert("listen".into(), l.clone().into());
    }
    let config = Config::load(&cli.config, Figment::from(Serialized::defaults(overrides)))
        .context("invalid configuration")?;
    // The operator's commands report on standard output; the log says
    // only what went wrong.
    let quiet = matches!(
        cli.command,
        Command::Users { .. }
            | Command::Keys { .. }
            | Command::Roles { .. }
            | Command::Backup { .. }
            | Command::Healthcheck { .. }
    );
    init_logging(&config.log_format, if quiet { "warn" } else { "info" });
    for var in Config::unknown_variables() {
        tracing::warn!(variable = %var, "ignoring unknown ROSTER_ variable");
    }
    if let Command::Healthcheck { url } = cli.command {
        return operator::healthcheck(url, &config.listen);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve(config).await,
            Command::Migrate => {
                close(open_store(&config).await?).await;
                eprintln!("database ready: {}", config.redacted_database_url());
                Ok(())
            }
            Command::Export { output } => transfer::export(config, output).await,
            Command::Users { command } => {
                let op = operator::Operator::open(&config).await?;
                let result = op.users(command).await;
                op.close().await;
                result
            }
            Command::Keys { command } => {
                let op = operator::Operator::open(&config).await?;
                let result = op.keys(command).await;
                op.close().await;
                result
            }
            Command::Roles { command } => {
                let op = operator::Operator::open(&config).await?;
                let result = op.roles(command).await;
                op.close().await;
                result
            }
            Command::Backup { file } => {
                operator::refuse_backup_of(&config.database_url)?;
                let op = operator::Operator::open(&config).await?;
                let result = op.backup(&file).await;
                op.close().await;
                result
            }
            Command::Healthcheck { .. } | Command::Completions { .. } | Command::Man => {
                unreachable!("handled before the runtime starts")
            }
            Command::Import { file } => transfer::import(config, file).await,
            Command::Audit {
                command: AuditCommand::Verify,
            } => verify_audit(config).await,
            Command::Tokens {
                command: TokensCommand::RotateKey,
            } => {
                let store = open_store(&config).await?;
                let roster = Roster::new(store.clone(), config.core())
                    .await
                    .map_err(describe)?;
                let kid = roster.rotate_signing_key().await.map_err(describe)?;
                close(store).await;
                println!("new token signing key {kid} in force");
                Ok(())
            }
        }
    });
    // A blocking read still running (a long list aborted at the shutdown
    // deadline) must not keep the process from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

fn init_logging(format: &str, default_level: &str) {
    let filter = EnvFilter::try_from_env("ROSTER_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let synchronous = match config.sqlite_synchronous.to_ascii_lowercase().as_str() {
        "full" => Synchronous::Full,
        "normal" => Synchronous::Normal,
        other => bail!("sqlite_synchronous must be full or normal, not {other:?}"),
    };
    let options = roster_store::Options {
        sqlite: SqliteOptions {
            synchronous,
            ..Default::default()
        },
        postgres: roster_store::PgOptions {
            pool_size: config.postgres_pool_size,
        },
    };
    Ok(roster_store::open(&config.database_url, options).await?)
}

/// Checkpoints the WAL into the database and closes it, so that a clean
/// stop leaves a self-contained file behind.
async fn close(store: Arc<dyn Store>) {
    if let Err(e) = tokio::task::spawn_blocking(move || store.close()).await {
        tracing::warn!(error = %e, "closing the database failed");
    }
}

fn describe(e: CoreError) -> anyhow::Error {
    match e {
        CoreError::Invalid(errors) => anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        CoreError::Conflict(e) => anyhow::anyhow!("{}: {}", e.field, e.message),
        other => anyhow::anyhow!("{other}"),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let store = open_store(&config).await?;
    // Read back from the database, not echoed from the configuration.
    let durability = store
        .durability_report()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(%durability, "database durability settings");
    let mut roster = Roster::new(store.clone(), config.core())
        .await
        .map_err(describe)?;
    match config.mail()? {
        Some(mail) => {
            let mailer = roster_server::mail::SmtpMailer::new(&mail).map_err(anyhow::Error::msg)?;
            tracing::info!(smtp = %roster_server::mail::redact_url(&mail.smtp_url), from = %mail.from, "mail is on");
            roster = roster.with_mailer(Arc::new(mailer));
        }
        None => tracing::info!(
            "mail is off (no ROSTER_SMTP_URL): invitations, password reset and verification answer 503"
        ),
    }
    let roster = Arc::new(roster);
    if let Some(key) = roster
        .bootstrap(config.admin_api_key.clone(), config.admin_password.clone())
        .await
        .map_err(describe)?
    {
        // Shown once, on the terminal only; it is stored as a hash.
        eprintln!(
            "\nCreated user `admin` with an API key. Store it now; it is not shown again:\n\n    {}\n",
            key.expose()
        );
    }
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(address = %listener.local_addr()?, database = %config.redacted_database_url(), "roster listening");
    // Pick up signing keys rotated by other nodes or the CLI.
    let refresher = roster.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = refresher.refresh_signing_keys().await {
                tracing::warn!(error = %e, "could not refresh token signing keys");
            }
            if let Err(e) = refresher.housekeeping().await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
        }
    });
    // Change events: queued from the audit chain, delivered to webhooks.
    let settings = roster.webhook_settings();
    if settings.allow_private {
        tracing::warn!(
            "webhooks may deliver to http:// and private addresses (ROSTER_WEBHOOKS_ALLOW_PRIVATE)"
        );
    }
    roster_server::webhooks::start(roster.clone()).map_err(anyhow::Error::msg)?;
    let http = config.http();
    let app = roster_server::app(roster, http.clone());
    roster_server::serve_with(listener, app, http, shutdown).await?;
    close(store).await;
    tracing::info!("roster stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives
/// while the server is still starting is not lost.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let ctrl_c = tokio::signal::ctrl_c();
    Ok(async move {
        #[cfg(unix)]
        let term = term.recv();
        #[cfg(not(unix))]
        let term = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}

async fn verify_audit(config: Config) -> anyhow::Result<()> {
    // Read-only: checking the trail must not migrate, seed or otherwise
    // change the database it checks.
    let store = roster_store::open_read_only(&config.database_url).await?;
    match roster_core::service::verify_audit_chain(store.as_ref())
        .await
        .map_err(describe)?
    {
        Verification::Intact { events } => {
            println!("audit log intact: {events} events, hash chain verified");
            Ok(())
        }
        Verification::Broken(b) => {
            println!("audit log TAMPERED at event {}: {}", b.seq, b.reason);
            std::process::exit(1);
        }
    }
}
