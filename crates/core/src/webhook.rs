//! Change events for other systems: the events derived from the audit
//! chain (one mapping, [`event_type`]), their JSON body, webhooks that
//! receive them (the URL rule, [`check_url`], and the address rule,
//! [`forbidden_ip`]), the signature, and the delivery records.
//!
//! The audit chain is the outbox: every change appends its audit event in
//! the same transaction, and its `seq` orders the chain in commit order. A
//! webhook keeps a cursor (the last `seq` it has queued deliveries for), so
//! a change acknowledged to its client is queued even if the process dies
//! between the commit and the delivery.

use std::net::IpAddr;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Secret;
use crate::audit::{AuditRecord, Outcome};
use crate::error::FieldError;

/// Audit actions and the event types they become. A change whose action
/// is not here (logins, token and key material, mail sends) is no event.
const ACTIONS: &[(&str, &str)] = &[
    ("user.create", "user.created"),
    ("user.update", "user.updated"),
    ("user.delete", "user.deleted"),
    ("user.restore", "user.restored"),
    ("user.purge", "user.purged"),
    ("user.unlock", "user.unlocked"),
    ("user.sites", "user.sites_changed"),
    ("user.email.verify", "user.email_verified"),
    ("mfa.totp.enroll", "user.mfa_enrolled"),
    ("role.create", "role.created"),
    ("role.update", "role.updated"),
    ("role.delete", "role.deleted"),
    ("role.assign", "role.assigned"),
    ("role.unassign", "role.revoked"),
    ("role.replace", "role.replaced"),
    ("group.create", "group.created"),
    ("group.update", "group.updated"),
    ("group.delete", "group.deleted"),
    ("group.member.add", "group.member_added"),
    ("group.member.remove", "group.member_removed"),
    ("container.create", "container.created"),
    ("container.update", "container.updated"),
    ("container.delete", "container.deleted"),
    ("container.users.set", "container.users_set"),
    ("key.create", "api_key.created"),
    ("key.revoke", "api_key.revoked"),
    ("webhook.create", "webhook.created"),
    ("webhook.update", "webhook.updated"),
    ("webhook.delete", "webhook.deleted"),
];

/// Event types that come from a `user.update` whose `active` changed.
const USER_DISABLED: &str = "user.disabled";
const USER_ENABLED: &str = "user.enabled";

/// Every event type there is, for validating subscriptions.
pub fn event_types() -> impl Iterator<Item = &'static str> {
    ACTIONS
        .iter()
        .map(|(_, t)| *t)
        .chain([USER_DISABLED, USER_ENABLED])
}

/// The event type of an audit record, if it is a change others hear of
/// (successful, and of an action in the mapping).
pub fn event_type(r: &AuditRecord) -> Option<&'static str> {
    if r.event.outcome != Outcome::Success {
        return None;
    }
    let t = ACTIONS
        .iter()
        .find(|(a, _)| *a == r.event.action)
        .map(|(_, t)| *t)?;
    if r.event.action == "user.update" {
        let details: Value = serde_json::from_str(&r.event.details).unwrap_or(Value::Null);
        match details.get("active").and_then(Value::as_bool) {
            Some(false) => return Some(USER_DISABLED),
            Some(true) => return Some(USER_ENABLED),
            None => {}
        }
    }
    Some(t)
}

/// What orders deliveries: events with the same key reach a webhook in
/// chain order. The user a change is about (a membership names it in its
/// details), else the changed object.
pub fn order_key(r: &AuditRecord) -> String {
    let details: Value = serde_json::from_str(&r.event.details).unwrap_or(Value::Null);
    if let Some(user) = details.get("user_id").and_then(Value::as_str) {
        return format!("user:{user}");
    }
    format!(
        "{}:{}",
        r.event.target_kind.as_deref().unwrap_or("-"),
        r.event.target_id.as_deref().unwrap_or("-")
    )
}

/// An event as receivers and pull consumers see it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The audit chain position: the pull cursor.
    pub seq: i64,
    pub event_type: &'static str,
    pub record: AuditRecord,
}

impl Event {
    pub fn from_record(record: AuditRecord) -> Option<Self> {
        Some(Event {
            seq: record.seq,
            event_type: event_type(&record)?,
            record,
        })
    }

    /// `{id, type, occurred_at, actor, target, container, data}`. The
    /// data are the audit details, which never hold secrets.
    pub fn body(&self) -> EventBody {
        let e = &self.record.event;
        EventBody {
            id: e.id,
            event_type: self.event_type,
            occurred_at: e.at,
            actor: EventActor {
                id: e.actor_id,
                name: e.actor.clone(),
            },
            target: EventTarget {
                kind: e.target_kind.clone(),
                id: e.target_id.clone(),
            },
            container: e.container_id,
            data: serde_json::from_str::<Value>(&e.details).unwrap_or_else(|_| json!({})),
        }
    }
}

/// What receivers get (the JSON of a delivery) and the pull feed lists.
#[derive(Debug, Clone, Serialize)]
pub struct EventBody {
    /// The audit event's id: the same in every delivery of it.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub actor: EventActor,
    pub target: EventTarget,
    pub container: Option<Uuid>,
    pub data: Value,
}

/// Who made the change (`cli` with no id: the operator's command line).
#[derive(Debug, Clone, Serialize)]
pub struct EventActor {
    pub id: Option<Uuid>,
    pub name: Option<String>,
}

/// What changed: `user`, `group`, `role`, `assignment`, `container`,
/// `api_key` or `webhook`, and its id.
#[derive(Debug, Clone, Serialize)]
pub struct EventTarget {
    pub kind: Option<String>,
    pub id: Option<String>,
}

/// A registered receiver. The secret signs deliveries; it is shown once,
/// when the webhook is created, and never again.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    /// Event types delivered, or `*` for all.
    pub event_types: Vec<String>,
    pub secret: Secret,
    pub active: bool,
    /// The last audit `seq` deliveries were queued for.
    pub cursor: i64,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Webhook {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == "*" || t == event_type)
    }
}

pub const URL_MAX: usize = 2048;
pub const SECRET_MIN: usize = 16;
pub const SECRET_MAX: usize = 256;

/// Why an address may not receive deliveries, if it may not: loopback,
/// private, link-local, unspecified, multicast, broadcast, shared (CGNAT)
/// or unique-local addresses, IPv4 inside IPv6 judged as IPv4.
pub fn forbidden_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_unspecified() || o[0] == 0 {
                Some("unspecified")
            } else if v4.is_multicast() || o[0] >= 240 {
                Some("multicast or reserved")
            } else if v4.is_broadcast() {
                Some("broadcast")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("shared (CGNAT)")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32
            // bits: judged as that address.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., a, b, c, d] = v6.octets();
                return forbidden_ip(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some("private (unique local)")
            } else {
                None
            }
        }
    }
}

/// The host of a URL as an address, when it is one (`[::1]` included).
pub fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(_) => None,
    }
}

/// The rule for a webhook's URL: absolute `https://` with a host and no
/// credentials; an address literal must be public. `allow_private` also
/// admits `http://` and private addresses (tests, private networks).
/// Names are checked when they are resolved, at each delivery.
pub fn check_url(raw: &str, allow_private: bool) -> Result<url::Url, FieldError> {
    let bad = |rule, msg: &str| FieldError::new("url", rule, msg);
    if raw.len() > URL_MAX {
        return Err(bad("length", "must be at most 2048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|_| bad("url", "must be an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(bad("https", "must be an https:// URL")),
    }
    if url.host().is_none() {
        return Err(bad("url", "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "no_credentials",
            "must not carry a user name or password",
        ));
    }
    if !allow_private && let Some(why) = literal_ip(&url).and_then(forbidden_ip) {
        return Err(FieldError::new(
            "url",
            "public_address",
            format!("must not point to a {why} address"),
        ));
    }
    Ok(url)
}

/// The subscription rule: a non-empty list of known event types, or `*`.
pub fn check_event_types(types: &[String]) -> Result<Vec<String>, FieldError> {
    if types.is_empty() {
        return Err(FieldError::new(
            "event_types",
            "required",
            "must name at least one event type, or \"*\"",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if t != "*" && !event_types().any(|k| k == t) {
            return Err(FieldError::new(
                "event_types",
                "one_of",
                format!("{t:?} is not an event type"),
            ));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

/// A given secret's rule; none given: 32 random bytes, hex.
pub fn secret_or_generated(given: Option<String>) -> Result<Secret, FieldError> {
    match given {
        Some(s) if !(SECRET_MIN..=SECRET_MAX).contains(&s.chars().count()) => Err(FieldError::new(
            "secret",
            "length",
            format!("must be {SECRET_MIN} to {SECRET_MAX} characters"),
        )),
        Some(s) => Ok(Secret::new(s)),
        None => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            Ok(Secret::new(format!("whsec_{}", hex(&bytes))))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Roster-Signature`: `t=UNIX_SECONDS,v1=HEX`, HEX the lowercase hex
/// HMAC-SHA256 of `"{t}.{body}"` under the webhook's secret.
pub fn signature(secret: &Secret, t: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex(&mac.finalize().into_bytes()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    Delivered,
    /// Gave up after the last attempt.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One event queued for one webhook, and how its attempts went.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_seq: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub order_key: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
}

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: Uuid,
    pub event_seq: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub order_key: String,
}

/// What one attempt came to, as the store records it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: OffsetDateTime,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    /// Delivered, or given up, or to be tried again then.
    pub next: DeliveryStatus,
    pub retry_at: OffsetDateTime,
}

/// What the delivery port answers: the receiver's status code, or why
/// there was none.
pub type SendResult = Result<u16, String>;

/// The port deliveries go out through (the server's HTTP client, which
/// also applies the address rule to every resolved address).
#[async_trait]
pub trait Sender: Send + Sync {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> SendResult;
}

/// How webhooks are delivered.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// Allow `http://` and private, loopback and link-local addresses.
    pub allow_private: bool,
    /// The first retry waits about this long; each next one twice as long.
    pub retry_base: std::time::Duration,
    /// The longest wait between two attempts.
    pub retry_max: std::time::Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Each attempt's time limit (connect, send, answer).
    pub timeout: std::time::Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            retry_base: std::time::Duration::from_secs(5),
            retry_max: std::time::Duration::from_secs(3600),
            max_attempts: 10,
            timeout: std::time::Duration::from_secs(10),
        }
    }
}

impl WebhookSettings {
    /// The wait after the `attempts`-th failed attempt: exponential, capped,
    /// plus up to a quarter more of jitter.
    pub fn backoff(&self, attempts: u32) -> std::time::Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let base = self
            .retry_base
            .saturating_mul(1u32 << exp)
            .min(self.retry_max);
        let jitter = rand::random::<f64>() * 0.25;
        base.mul_f64(1.0 + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEvent, Origin};

    fn record(action: &str, details: Value) -> AuditRecord {
        AuditRecord {
            seq: 1,
            event: AuditEvent::new(action, Outcome::Success, &Origin::default())
                .target("user", "u1", None)
                .details(details),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn maps_actions_to_event_types() {
        assert_eq!(
            event_type(&record("user.create", json!({}))),
            Some("user.created")
        );
        assert_eq!(
            event_type(&record("user.update", json!({"active": false}))),
            Some("user.disabled")
        );
        assert_eq!(
            event_type(&record("user.update", json!({"active": true}))),
            Some("user.enabled")
        );
        assert_eq!(event_type(&record("login", json!({}))), None);
        let mut failed = record("user.create", json!({}));
        failed.event.outcome = Outcome::Failure;
        assert_eq!(event_type(&failed), None);
        assert_eq!(
            order_key(&record("group.member.add", json!({"user_id": "x"}))),
            "user:x"
        );
    }

    #[test]
    fn url_rule() {
        for bad in [
            "http://example.com/",
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://169.254.169.254/",
            "https://[::ffff:192.168.0.1]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[64:ff9b::a00:1]/",
            "https://user:pw@example.com/",
            "ftp://example.com/",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert!(check_url("https://localhost/hook", false).is_ok());
        assert!(check_url("http://127.0.0.1:9/", true).is_ok());
    }

    #[test]
    fn signs_like_the_documented_recipe() {
        // echo -n '1700000000.{}' | openssl dgst -sha256 -hmac 'secret-secret-secret'
        let s = signature(&Secret::new("secret-secret-secret"), 1_700_000_000, b"{}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let s = WebhookSettings {
            retry_base: std::time::Duration::from_millis(100),
            retry_max: std::time::Duration::from_secs(1),
            ..Default::default()
        };
        assert!(s.backoff(1) >= std::time::Duration::from_millis(100));
        assert!(s.backoff(2) >= std::time::Duration::from_millis(200));
        assert!(s.backoff(20) <= std::time::Duration::from_millis(1250));
    }
}
