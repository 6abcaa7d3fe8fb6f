//! Webhook delivery over HTTP: the core's [`Sender`] on hyper's client.
//!
//! The address rule (no loopback, private, link-local, unspecified or
//! multicast receivers unless `allow_private`) is applied to what a name
//! *resolves to*, at each delivery, by the client's own resolver: it hands
//! the connector only the addresses that passed, so the connection goes to a
//! checked address (a name that changes its answer between a check and the
//! connection gains nothing). Address literals never reach a resolver and
//! are checked here before sending. Redirects are not followed and no
//! proxy is taken from the environment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use roster_core::Roster;
use roster_core::webhook::{self, SendResult, Sender, WebhookSettings};

/// How long the loop rests when a round found nothing to do.
const IDLE: Duration = Duration::from_millis(200);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves names and, when `guard` is on, keeps only the addresses
/// receivers may have; the connector connects to nothing else.
#[derive(Clone)]
struct Resolver {
    guard: bool,
}

impl tower::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, BoxError>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let guard = self.guard;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| match webhook::forbidden_ip(a.ip()).filter(|_| guard) {
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
            Ok(allowed.into_iter())
        })
    }
}

pub struct HttpSender {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>,
    allow_private: bool,
    timeout: Duration,
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
        let mut http = HttpConnector::new_with_resolver(Resolver {
            guard: !settings.allow_private,
        });
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            allow_private: settings.allow_private,
            timeout: settings.timeout,
        })
    }
}

/// An error with its causes, which is where the client keeps the reason.
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
        let mut request = hyper::Request::post(parsed.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("roster/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
            Ok(Err(e)) => Err(chain(&e)),
            // The body is not read: the status is the answer.
            Ok(Ok(response)) => Ok(response.status().as_u16()),
        }
    }
}

/// Starts delivering webhooks on this runtime until the process ends.
pub fn start(roster: Arc<Roster>) -> Result<tokio::task::JoinHandle<()>, String> {
    let sender: Arc<dyn Sender> = Arc::new(HttpSender::new(&roster.webhook_settings())?);
    Ok(tokio::spawn(roster.run_webhooks(sender, IDLE)))
}
