//! Configuration: defaults < `roster.toml` < `ROSTER_*` environment < flags.

use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use roster_core::RosterConfig;
use roster_core::Secret;
use roster_core::password::{HashCost, PasswordPolicy};
use roster_server::HttpConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    /// API key of the bootstrap `admin` user (at least 32 characters).
    #[serde(skip_serializing)]
    pub admin_api_key: Option<Secret>,
    /// Password of the bootstrap `admin` user.
    #[serde(skip_serializing)]
    pub admin_password: Option<Secret>,
    pub body_limit: usize,
    /// Seconds a client has to send a request's headers (and to start the
    /// next request on a kept-alive connection).
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may sit with nothing moving before it is closed.
    pub idle_timeout_secs: u64,
    /// Largest request line plus headers, in bytes (431 above).
    pub max_header_bytes: usize,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Seconds requests in flight get after SIGTERM before connections are closed.
    pub shutdown_timeout_secs: u64,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    pub password_min_length: usize,
    pub password_max_length: usize,
    pub password_reject_common: bool,
    pub hash_memory_kib: u32,
    pub hash_iterations: u32,
    pub hash_workers: usize,
    pub hash_queue: usize,
    /// Milliseconds of expected wait up to which password hashing is queued.
    pub hash_budget_ms: u64,
    pub token_ttl_secs: u64,
    /// Seconds a token is still accepted after its `exp` (clock skew between
    /// nodes); 0 keeps a token's life exactly `expires_in`.
    pub token_leeway_secs: u64,
    /// Aria Operations tokens lapse after this long unused.
    pub aria_token_idle_secs: u64,
    pub auth_cache_ttl_secs: u64,
    /// Failed logins in a row that lock an account.
    pub lockout_threshold: u32,
    /// How long a lock lasts, in seconds.
    pub lockout_secs: u64,
    /// Logins (and other secret checks) one client address may start per
    /// second, and in a burst, before any hashing; 0 turns this off.
    pub login_rate_per_sec: u32,
    pub login_burst: u32,
    /// Days after which soft-deleted users are purged; 0: never.
    pub user_purge_after_days: u32,
    /// `full` (default: every acknowledged write is on disk) or `normal`.
    pub sqlite_synchronous: String,
    /// Connections one node keeps to PostgreSQL at most.
    pub postgres_pool_size: usize,
    /// `text` (default) or `json`.
    pub log_format: String,
    /// SMTP server for invitations, password reset and verification mail:
    /// `smtp://host:port`, `smtp://host?tls=starttls`, `smtps://host`, with
    /// `user:password@` for authentication. Unset: those flows are off.
    #[serde(skip_serializing)]
    pub smtp_url: Option<Secret>,
    /// Sender of roster's mail, `roster@example.com` or `Name <addr>`.
    pub smtp_from: Option<String>,
    /// Base URL of the links in mails, e.g. `https://roster.example.com`.
    pub public_url: Option<String>,
    /// A directory of mail templates replacing the embedded ones.
    pub mail_templates: Option<String>,
    /// Lifetime of invitation links, in seconds (72 h).
    pub invite_ttl_secs: u64,
    /// Lifetime of password reset links, in seconds (30 min).
    pub reset_ttl_secs: u64,
    /// Lifetime of email verification links, in seconds (72 h).
    pub verify_ttl_secs: u64,
    /// Let webhooks use `http://` and loopback, private and link-local
    /// addresses (tests, private networks). Off: `https://` to public
    /// addresses only.
    pub webhooks_allow_private: bool,
    /// Milliseconds before a failed delivery's first retry; each next wait
    /// doubles (plus jitter), up to an hour.
    pub webhook_retry_base_ms: u64,
    /// Attempts before a delivery is marked failed.
    pub webhook_max_attempts: u32,
    /// Seconds each delivery attempt may take.
    pub webhook_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        let core = RosterConfig::default();
        let http = HttpConfig::default();
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://roster.db".into(),
            admin_api_key: None,
            admin_password: None,
            body_limit: http.body_limit,
            header_read_timeout_secs: http.header_read_timeout.as_secs(),
            idle_timeout_secs: http.idle_timeout.as_secs(),
            max_header_bytes: http.max_header_bytes,
            max_connections: http.max_connections,
            shutdown_timeout_secs: http.shutdown_timeout.as_secs(),
            rate_limit_per_second: http.rate_limit_per_second,
            rate_limit_burst: http.rate_limit_burst,
            password_min_length: core.password_policy.min_length,
            password_max_length: core.password_policy.max_length,
            password_reject_common: core.password_policy.reject_common,
            hash_memory_kib: core.hash_cost.memory_kib,
            hash_iterations: core.hash_cost.iterations,
            hash_workers: core.hash_workers,
            hash_queue: core.hash_queue,
            hash_budget_ms: u64::try_from(core.hash_budget.as_millis()).unwrap_or(u64::MAX),
            token_ttl_secs: core.token_ttl_secs,
            token_leeway_secs: core.token_leeway_secs,
            aria_token_idle_secs: http.aria_token_idle_secs,
            auth_cache_ttl_secs: core.auth_cache_ttl.as_secs(),
            lockout_threshold: core.lockout.threshold,
            lockout_secs: core.lockout.lock_secs,
            login_rate_per_sec: core.login_rate_per_sec,
            login_burst: core.login_burst,
            user_purge_after_days: core.user_purge_after_days,
            sqlite_synchronous: "full".into(),
            postgres_pool_size: roster_store::PgOptions::default().pool_size,
            log_format: "text".into(),
            smtp_url: None,
            smtp_from: None,
            public_url: None,
            mail_templates: None,
            invite_ttl_secs: core.links.invite_ttl_secs,
            reset_ttl_secs: core.links.reset_ttl_secs,
            verify_ttl_secs: core.links.verify_ttl_secs,
            webhooks_allow_private: core.webhooks.allow_private,
            webhook_retry_base_ms: u64::try_from(core.webhooks.retry_base.as_millis())
                .unwrap_or(u64::MAX),
            webhook_max_attempts: core.webhooks.max_attempts,
            webhook_timeout_secs: core.webhooks.timeout.as_secs(),
        }
    }
}

/// Variables read by something other than `Config` itself.
const OTHER_VARIABLES: &[&str] = &["ROSTER_CONFIG", "ROSTER_LOG", "ROSTER_TEST_POSTGRES_URL"];

impl Config {
    pub fn load(file: &Path, overrides: Figment) -> Result<Self, Box<figment::Error>> {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(Env::prefixed("ROSTER_").ignore(&["CONFIG", "LOG", "TEST_POSTGRES_URL"]))
            .merge(overrides)
            .extract()
            .map_err(Box::new)
    }

    /// The database URL with any password in it masked, for logs.
    pub fn redacted_database_url(&self) -> String {
        redact_url(&self.database_url)
    }

    /// `ROSTER_*` variables that configure nothing: likely typos.
    pub fn unknown_variables() -> Vec<String> {
        let known: Vec<String> = serde_json::to_value(Config::default())
            .ok()
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default();
        std::env::vars()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("ROSTER_"))
            .filter(|k| !OTHER_VARIABLES.contains(&k.as_str()))
            .filter(|k| {
                let name = k["ROSTER_".len()..].to_ascii_lowercase();
                name != "admin_api_key"
                    && name != "admin_password"
                    && name != "smtp_url"
                    && !known.contains(&name)
            })
            .collect()
    }

    pub fn core(&self) -> RosterConfig {
        RosterConfig {
            password_policy: PasswordPolicy {
                min_length: self.password_min_length,
                max_length: self.password_max_length,
                reject_common: self.password_reject_common,
            },
            hash_cost: HashCost {
                memory_kib: self.hash_memory_kib,
                iterations: self.hash_iterations,
                parallelism: 1,
            },
            hash_workers: self.hash_workers,
            hash_queue: self.hash_queue,
            hash_budget: Duration::from_millis(self.hash_budget_ms),
            token_ttl_secs: self.token_ttl_secs,
            token_leeway_secs: self.token_leeway_secs,
            auth_cache_ttl: Duration::from_secs(self.auth_cache_ttl_secs),
            lockout: roster_core::lockout::LockoutPolicy::new(
                self.lockout_threshold,
                self.lockout_secs,
            ),
            login_rate_per_sec: self.login_rate_per_sec,
            login_burst: self.login_burst,
            user_purge_after_days: self.user_purge_after_days,
            links: roster_core::service::LinkSettings {
                invite_ttl_secs: self.invite_ttl_secs,
                reset_ttl_secs: self.reset_ttl_secs,
                verify_ttl_secs: self.verify_ttl_secs,
                ..Default::default()
            },
            webhooks: roster_core::webhook::WebhookSettings {
                allow_private: self.webhooks_allow_private,
                retry_base: Duration::from_millis(self.webhook_retry_base_ms.max(1)),
                max_attempts: self.webhook_max_attempts.max(1),
                timeout: Duration::from_secs(self.webhook_timeout_secs.max(1)),
                ..Default::default()
            },
        }
    }

    /// The mail settings, when SMTP is configured; an error names what is
    /// missing when only part of it is.
    pub fn mail(&self) -> anyhow::Result<Option<roster_server::mail::MailConfig>> {
        let Some(url) = &self.smtp_url else {
            return Ok(None);
        };
        let from = self
            .smtp_from
            .clone()
            .ok_or_else(|| anyhow::anyhow!("ROSTER_SMTP_URL is set: set ROSTER_SMTP_FROM too"))?;
        let public_url = self
            .public_url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("ROSTER_SMTP_URL is set: set ROSTER_PUBLIC_URL too"))?;
        Ok(Some(roster_server::mail::MailConfig {
            smtp_url: url.expose().to_string(),
            from,
            public_url,
            templates: self.mail_templates.as_ref().map(std::path::PathBuf::from),
        }))
    }

    pub fn http(&self) -> HttpConfig {
        HttpConfig {
            body_limit: self.body_limit,
            rate_limit_per_second: self.rate_limit_per_second,
            rate_limit_burst: self.rate_limit_burst,
            aria_token_idle_secs: self.aria_token_idle_secs,
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_header_bytes: self.max_header_bytes,
            max_connections: self.max_connections.max(1),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
        }
    }
}

/// Masks the password of `scheme://user:password@host/...` and of a
/// `password=` parameter.
fn redact_url(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((auth, host)) if auth.contains(':') => {
                let user = auth.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{host}")
            }
            _ => url.to_string(),
        },
        None => url.to_string(),
    };
    if let Some(at) = out.find("password=") {
        let start = at + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
    }
    out
}

#[cfg(test)]
mod redaction {
    use super::redact_url;

    #[test]
    fn passwords_in_database_urls_are_masked() {
        assert_eq!(
            redact_url("postgres://roster:s3cret@db:5432/roster"),
            "postgres://roster:***@db:5432/roster"
        );
        assert_eq!(
            redact_url("postgres://db/roster?user=r&password=s3cret&sslmode=off"),
            "postgres://db/roster?user=r&password=***&sslmode=off"
        );
        assert_eq!(redact_url("sqlite://roster.db"), "sqlite://roster.db");
    }
}
