//! Webhook delivery over HTTP: the core's [`Sender`] on reqwest.
//!
//! The address rule (no loopback, private, link-local, unspecified or
//! multicast receivers unless `allow_private`) is applied to what a name
//! *resolves to*, at each delivery, by the client's own resolver: it hands
//! reqwest only the addresses that passed, so the connection goes to a
//! checked address (a name that changes its answer between a check and the
//! connection gains nothing). Address literals never reach a resolver and
//! are checked here before sending. Redirects are not followed and no
//! proxy is taken from the environment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use roster_core::Roster;
use roster_core::webhook::{self, SendResult, Sender, WebhookSettings};

/// How long the loop rests when a round found nothing to do.
const IDLE: Duration = Duration::from_millis(200);

/// Resolves names and keeps only the addresses receivers may have.
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let mut refused = None;
            let allowed: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| match webhook::forbidden_ip(a.ip()) {
                    Some(why) => {
                        refused = Some(format!("{} ({why})", a.ip()));
                        false
                    }
                    None => true,
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or_else(|| "no address".into());
                return Err(format!("refused: {host} resolves to {why}").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

pub struct HttpSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl HttpSender {
    pub fn new(settings: &WebhookSettings) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")));
        if !settings.allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Self {
            client: builder.build().map_err(|e| e.to_string())?,
            allow_private: settings.allow_private,
        })
    }
}

/// An error with its causes, which is where reqwest keeps the reason.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[async_trait]
impl Sender for HttpSender {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> SendResult {
        // Registration checked the URL; the rule is checked again here, as
        // the setting may have changed since.
        let parsed = webhook::check_url(url, self.allow_private).map_err(|e| e.message)?;
        let mut request = self
            .client
            .post(parsed)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| chain(&e))?;
        Ok(response.status().as_u16())
    }
}

/// Starts delivering webhooks on this runtime until the process ends.
pub fn start(roster: Arc<Roster>) -> Result<tokio::task::JoinHandle<()>, String> {
    let sender: Arc<dyn Sender> = Arc::new(HttpSender::new(&roster.webhook_settings())?);
    Ok(tokio::spawn(roster.run_webhooks(sender, IDLE)))
}
