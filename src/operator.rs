//! The operator's daily commands: users, API keys, roles and backups, run
//! against the database directly (like `migrate`) through the core's
//! services, with the operator as the audit trail's actor `cli`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use roster_core::access::{Holder, RoleRef};
use roster_core::service::{Ctx, NewKey, UserKey};
use roster_core::store::Store;
use roster_core::user::{CreateUser, Patch, User, UserDraft, UserPatch, UserQuery};
use roster_core::{CoreError, Roster, Secret};
use roster_server::faces::native::access::RoleOut;
use roster_server::faces::native::dto::UserOut;
use roster_server::faces::native::keys::ApiKeyOut;
use uuid::Uuid;

use crate::config::Config;

/// How read commands print what they found.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    #[default]
    Text,
    /// JSON, in the native API's shapes (`/api/v1`).
    Json,
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Creates a user (without a password: see `set-password`).
    Create {
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Home container, by name; the root when absent.
        #[arg(long, value_name = "NAME")]
        container: Option<String>,
    },
    /// Lists users in creation order, every one unless --limit is given.
    List {
        /// At most this many users.
        #[arg(long)]
        limit: Option<u64>,
        /// Only users created after the one with this integer id (seq).
        #[arg(long, value_name = "SEQ")]
        after: Option<i64>,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Shows one user.
    Show {
        username: String,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Disables a user: its credentials stop working at once.
    Disable { username: String },
    /// Enables a disabled user.
    Enable { username: String },
    /// Sets a user's password, read from a prompt on a terminal, else the
    /// first line of standard input (never from the command line).
    SetPassword { username: String },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Creates an API key for a user and prints its secret, once.
    Create {
        #[arg(long, value_name = "USERNAME")]
        user: String,
        #[arg(long)]
        name: String,
        /// Restrict the key to this role's privileges.
        #[arg(long)]
        role: Option<String>,
    },
    /// Lists API keys (never their secrets): everyone's, or one user's.
    List {
        #[arg(long, value_name = "USERNAME")]
        user: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Revokes an API key by its id.
    Revoke { id: Uuid },
}

#[derive(Subcommand)]
pub enum RolesCommand {
    /// Gives a user a role, over everything or within one container.
    Assign {
        #[arg(long, value_name = "USERNAME")]
        user: String,
        #[arg(long)]
        role: String,
        /// Only within this container (by name) and below it.
        #[arg(long, value_name = "NAME")]
        container: Option<String>,
    },
    /// Lists the roles and their privileges.
    List {
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// The core over the configured database, with the operator's context.
pub struct Operator {
    pub store: Arc<dyn Store>,
    pub roster: Roster,
    pub ctx: Ctx,
}

impl Operator {
    /// Opens the configured database, which must already exist: an
    /// operator's typo should not create an empty one.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        if let roster_store::Backend::Sqlite(path) =
            roster_store::Backend::of(&config.database_url)?
            && !path.exists()
        {
            bail!(
                "no database at {} (create it with `roster migrate`)",
                path.display()
            );
        }
        let store = crate::open_store(config).await?;
        let roster = Roster::new(store.clone(), config.core())
            .await
            .map_err(crate::describe)?;
        Ok(Self {
            store,
            roster,
            ctx: Ctx::operator(),
        })
    }

    pub async fn close(self) {
        crate::close(self.store).await;
    }

    async fn user(&self, username: &str) -> anyhow::Result<User> {
        match self
            .roster
            .find_user(&self.ctx, UserKey::Username(username.to_string()))
            .await
        {
            Err(CoreError::NotFound(_)) => bail!("no user named {username:?}"),
            other => other.map_err(crate::describe),
        }
    }

    async fn container(&self, name: &str) -> anyhow::Result<Uuid> {
        let found = self
            .roster
            .containers_named(&self.ctx, name)
            .await
            .map_err(crate::describe)?;
        match found.as_slice() {
            [one] => Ok(one.id),
            [] => bail!("no container named {name:?}"),
            _ => bail!("{} containers are named {name:?}", found.len()),
        }
    }

    async fn role(&self, name: &str) -> anyhow::Result<roster_core::access::Role> {
        match self
            .roster
            .get_role(&self.ctx, RoleRef::Name(name.to_string()))
            .await
        {
            Err(CoreError::NotFound(_)) => bail!("no role named {name:?}"),
            other => other.map_err(crate::describe),
        }
    }

    pub async fn users(&self, command: UsersCommand) -> anyhow::Result<()> {
        match command {
            UsersCommand::Create {
                username,
                email,
                container,
            } => {
                let container_id = match container {
                    Some(name) => Some(self.container(&name).await?),
                    None => None,
                };
                let created = self
                    .roster
                    .create_user(
                        &self.ctx,
                        CreateUser {
                            profile: UserDraft {
                                username,
                                email,
                                active: true,
                                ..Default::default()
                            },
                            password: None,
                            idempotency: None,
                            container_id,
                            sites: Vec::new(),
                            groups: Vec::new(),
                            roles: Vec::new(),
                            min_password_length: None,
                            rules: None,
                        },
                    )
                    .await
                    .map_err(crate::describe)?;
                let u = created.user;
                println!(
                    "created user {} (id {}, seq {})",
                    u.profile.username, u.id, u.seq
                );
            }
            UsersCommand::List {
                limit,
                after,
                output,
            } => self.list_users(limit, after, output).await?,
            UsersCommand::Show { username, output } => {
                let user = self.user(&username).await?;
                match output {
                    Output::Json => print_json(&UserOut::from(user))?,
                    Output::Text => {
                        let u = UserOut::from(user);
                        let rows: Vec<(&str, String)> = vec![
                            ("id", u.id.to_string()),
                            ("seq", u.seq.to_string()),
                            ("username", u.username),
                            ("email", u.email.unwrap_or_default()),
                            ("display name", u.display_name.unwrap_or_default()),
                            ("active", u.active.to_string()),
                            ("locked", u.locked.to_string()),
                            ("password set", u.has_password.to_string()),
                            ("mfa enrolled", u.mfa_enrolled.to_string()),
                            ("container", u.container_id.to_string()),
                            ("created", rfc3339(u.created_at)),
                            ("updated", rfc3339(u.updated_at)),
                            (
                                "last login",
                                u.last_login_at.map(rfc3339).unwrap_or_default(),
                            ),
                        ];
                        for (k, v) in rows {
                            println!("{k:<13} {v}");
                        }
                    }
                }
            }
            UsersCommand::Disable { username } => self.set_active(&username, false).await?,
            UsersCommand::Enable { username } => self.set_active(&username, true).await?,
            UsersCommand::SetPassword { username } => {
                let user = self.user(&username).await?;
                let password = read_password(&username)?;
                self.roster
                    .set_password(&self.ctx, user.id, &password)
                    .await
                    .map_err(crate::describe)?;
                println!("password of {} set", user.profile.username);
            }
        }
        Ok(())
    }

    async fn set_active(&self, username: &str, active: bool) -> anyhow::Result<()> {
        let user = self.user(username).await?;
        let patch = UserPatch {
            active: Patch::Set(active),
            ..Default::default()
        };
        self.roster
            .update_user(&self.ctx, user.id, patch, None, None)
            .await
            .map_err(crate::describe)?;
        let state = if active { "enabled" } else { "disabled" };
        println!("user {} {state}", user.profile.username);
        Ok(())
    }

    /// Pages through the users (keyset, so the thousandth page costs what
    /// the first does), printing each page as it comes.
    async fn list_users(
        &self,
        limit: Option<u64>,
        after: Option<i64>,
        output: Output,
    ) -> anyhow::Result<()> {
        const PAGE: u64 = 1000;
        let bar = counter("users");
        let mut out = std::io::stdout().lock();
        let mut printed = 0u64;
        let mut query = UserQuery {
            after_seq: after,
            ..Default::default()
        };
        if let Output::Json = output {
            write!(out, "[")?;
        } else {
            writeln!(
                out,
                "{:>8}  {:<24} {:<32} active",
                "seq", "username", "email"
            )?;
        }
        loop {
            let want = limit.map_or(PAGE, |l| (l - printed).min(PAGE));
            if want == 0 {
                break;
            }
            query.limit = u32::try_from(want).unwrap_or(u32::MAX);
            let page = self
                .roster
                .list_users(&self.ctx, query.clone())
                .await
                .map_err(crate::describe)?;
            for user in page.items {
                match output {
                    Output::Json => {
                        let sep = if printed == 0 { "\n  " } else { ",\n  " };
                        write!(out, "{sep}{}", serde_json::to_string(&UserOut::from(user))?)?;
                    }
                    Output::Text => {
                        let p = &user.profile;
                        writeln!(
                            out,
                            "{:>8}  {:<24} {:<32} {}",
                            user.seq,
                            p.username,
                            p.email.as_deref().unwrap_or("-"),
                            if p.active { "yes" } else { "no" }
                        )?;
                    }
                }
                printed += 1;
                bar.inc(1);
            }
            match page.next {
                Some(n) => query.after_seq = Some(n),
                None => break,
            }
        }
        if let Output::Json = output {
            writeln!(out, "{}]", if printed == 0 { "" } else { "\n" })?;
        }
        bar.finish_and_clear();
        eprintln!("{printed} user{}", if printed == 1 { "" } else { "s" });
        Ok(())
    }

    pub async fn keys(&self, command: KeysCommand) -> anyhow::Result<()> {
        match command {
            KeysCommand::Create { user, name, role } => {
                let owner = self.user(&user).await?;
                let role_id = match role {
                    Some(r) => Some(self.role(&r).await?.id),
                    None => None,
                };
                let (info, secret) = self
                    .roster
                    .create_key(
                        &self.ctx,
                        NewKey {
                            name,
                            user_id: Some(owner.id),
                            role_id,
                            expires_at: None,
                        },
                    )
                    .await
                    .map_err(crate::describe)?;
                eprintln!(
                    "created API key {} for {}; its secret is shown this once:",
                    info.id, owner.profile.username
                );
                println!("{}", secret.expose());
            }
            KeysCommand::List { user, output } => {
                let (owner, everyone) = match user {
                    Some(u) => (Some(self.user(&u).await?.id), false),
                    None => (None, true),
                };
                let keys = self
                    .roster
                    .list_keys(&self.ctx, owner, everyone)
                    .await
                    .map_err(crate::describe)?;
                match output {
                    Output::Json => {
                        let keys: Vec<ApiKeyOut> = keys.into_iter().map(Into::into).collect();
                        print_json(&keys)?;
                    }
                    Output::Text => {
                        println!(
                            "{:<36}  {:<36}  {:<20} {:<12} state",
                            "id", "user id", "name", "prefix"
                        );
                        for k in keys {
                            let state = if k.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "active"
                            };
                            println!(
                                "{:<36}  {:<36}  {:<20} {:<12} {state}",
                                k.id, k.user_id, k.name, k.prefix
                            );
                        }
                    }
                }
            }
            KeysCommand::Revoke { id } => {
                match self.roster.revoke_key(&self.ctx, id).await {
                    Err(CoreError::NotFound(_)) => bail!("no API key with id {id}"),
                    other => other.map_err(crate::describe)?,
                }
                println!("API key {id} revoked");
            }
        }
        Ok(())
    }

    pub async fn roles(&self, command: RolesCommand) -> anyhow::Result<()> {
        match command {
            RolesCommand::Assign {
                user,
                role,
                container,
            } => {
                let holder = self.user(&user).await?;
                let role = self.role(&role).await?;
                let containers = match &container {
                    Some(name) => vec![self.container(name).await?],
                    None => Vec::new(),
                };
                self.roster
                    .assign_role(
                        &self.ctx,
                        Holder::User(holder.id),
                        RoleRef::Id(role.id),
                        containers.is_empty(),
                        containers,
                    )
                    .await
                    .map_err(crate::describe)?;
                let over = container.map_or("every object".to_string(), |c| format!("{c:?}"));
                println!(
                    "role {} given to {} over {over}",
                    role.name, holder.profile.username
                );
            }
            RolesCommand::List { output } => {
                let roles = self
                    .roster
                    .list_roles(&self.ctx)
                    .await
                    .map_err(crate::describe)?;
                match output {
                    Output::Json => {
                        let roles: Vec<RoleOut> = roles.into_iter().map(Into::into).collect();
                        print_json(&roles)?;
                    }
                    Output::Text => {
                        for r in roles {
                            let privileges: Vec<&str> =
                                r.privileges.iter().map(|p| p.as_str()).collect();
                            let privileges = if privileges.is_empty() {
                                "-".to_string()
                            } else {
                                privileges.join(" ")
                            };
                            println!("{:<24} {privileges}", r.name);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// A consistent copy of the running database, taken online.
    pub async fn backup(&self, file: &Path) -> anyhow::Result<()> {
        if !self.store.can_backup() {
            bail!("backup copies SQLite databases only; for PostgreSQL use pg_dump");
        }
        if file.exists() {
            bail!("{} exists; roster backup writes a new file", file.display());
        }
        let bar = spinner(&format!("backing up to {}", file.display()));
        let started = std::time::Instant::now();
        self.store
            .backup_into(file)
            .await
            .map_err(|e| anyhow!("backup to {} failed: {e}", file.display()))?;
        bar.finish_and_clear();
        let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        println!(
            "backup written to {} ({size} bytes in {:.1} s)",
            file.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// `roster backup` on PostgreSQL says what to use instead, before opening
/// anything.
pub fn refuse_backup_of(database_url: &str) -> anyhow::Result<()> {
    if let roster_store::Backend::Postgres(_) = roster_store::Backend::of(database_url)? {
        bail!("backup copies SQLite databases only; for PostgreSQL use pg_dump");
    }
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A running count on standard error when it is a terminal; nothing
/// otherwise (the caller prints the total).
fn counter(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {{pos}} {what}"))
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}

fn spinner(message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// From a prompt (twice) on a terminal, else the first line of standard
/// input. Never from the command line, where other users of the machine
/// could read it.
fn read_password(username: &str) -> anyhow::Result<Secret> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {username}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        return Ok(Secret::new(first));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(Secret::new(password.to_string()))
}

/// `roster healthcheck`: GET /healthz on a running server, exit status 0
/// when it answers 200. A plain blocking HTTP/1.1 request: no client
/// library for one line.
pub fn healthcheck(url: Option<String>, listen: &str) -> anyhow::Result<()> {
    use std::io::Read as _;
    let (authority, path) = match &url {
        Some(u) => {
            let rest = u.strip_prefix("http://").ok_or_else(|| {
                anyhow!("healthcheck URLs are http://HOST:PORT[/PATH], not {u:?}")
            })?;
            match rest.split_once('/') {
                Some((a, p)) if !p.is_empty() => (a.to_string(), format!("/{p}")),
                Some((a, _)) => (a.to_string(), "/healthz".to_string()),
                None => (rest.to_string(), "/healthz".to_string()),
            }
        }
        None => (local_address(listen), "/healthz".to_string()),
    };
    let timeout = std::time::Duration::from_secs(5);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&authority)
        .with_context(|| format!("cannot resolve {authority}"))?
        .next()
        .ok_or_else(|| anyhow!("cannot resolve {authority}"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("unhealthy: cannot connect to {authority}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: roster-healthcheck\r\n\r\n"
    )?;
    let mut head = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut head)
        .with_context(|| format!("unhealthy: no answer from {authority}"))?;
    let status_line = String::from_utf8_lossy(&head);
    let status = status_line.split_whitespace().nth(1).unwrap_or("no status");
    if status == "200" {
        println!("healthy: {authority}{path} answered 200");
        Ok(())
    } else {
        bail!("unhealthy: {authority}{path} answered {status}")
    }
}

/// Where to reach a server listening on `listen` from this machine: an
/// unspecified address (0.0.0.0, ::) is reached on loopback.
fn local_address(listen: &str) -> String {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => {
            let ip: std::net::IpAddr = if a.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            std::net::SocketAddr::new(ip, a.port()).to_string()
        }
        _ => listen.to_string(),
    }
}
