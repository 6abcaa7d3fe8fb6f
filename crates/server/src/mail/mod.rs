//! Mail delivery: the core's [`Mailer`] over SMTP (lettre, tokio, rustls),
//! with messages in plain text and HTML from templates. The defaults are
//! embedded; a file of the same name in `ROSTER_MAIL_TEMPLATES` replaces
//! one: `{invite,reset,verify}.{subject,txt,html}`. Templates see `name`,
//! `username`, `link`, `expires_at` (RFC 3339, UTC) and `purpose`; the
//! HTML ones escape what they insert.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::{Environment, context};
use roster_core::link::LinkPurpose;
use roster_core::mail::{LinkMail, Mailer};
use time::format_description::well_known::Rfc3339;

/// What the operator configures.
#[derive(Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (plain), `smtp://host?tls=starttls` (or lettre's
    /// `tls=required` / `tls=opportunistic`), `smtps://host` (TLS from the
    /// first byte); `user:password@` for authentication.
    pub smtp_url: String,
    /// The sender, `roster@example.com` or `roster <roster@example.com>`.
    pub from: String,
    /// The base of the links, e.g. `https://roster.example.com`.
    pub public_url: String,
    /// A directory whose templates replace the embedded ones.
    pub templates: Option<PathBuf>,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_url", &redact_url(&self.smtp_url))
            .field("from", &self.from)
            .field("public_url", &self.public_url)
            .field("templates", &self.templates)
            .finish()
    }
}

/// The SMTP URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://[redacted]{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

const DEFAULTS: [(&str, &str); 9] = [
    ("invite.txt", include_str!("invite.txt")),
    ("invite.html", include_str!("invite.html")),
    ("invite.subject", "Your roster account {{ username }}"),
    ("reset.txt", include_str!("reset.txt")),
    ("reset.html", include_str!("reset.html")),
    ("reset.subject", "Reset your roster password"),
    ("verify.txt", include_str!("verify.txt")),
    ("verify.html", include_str!("verify.html")),
    ("verify.subject", "Verify your email address for roster"),
];

/// Delivers link mails over SMTP.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
    templates: Environment<'static>,
}

impl SmtpMailer {
    /// Checks the whole configuration (URL, sender, templates) up front,
    /// so a mistake stops the start rather than the first mail. Call it
    /// inside the tokio runtime (the connection pool starts a task).
    pub fn new(config: &MailConfig) -> Result<Self, String> {
        let url = starttls_alias(&config.smtp_url);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| format!("ROSTER_SMTP_URL: {e}"))?
            .build();
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("ROSTER_SMTP_FROM: {e}"))?;
        let public_url = config.public_url.trim_end_matches('/').to_string();
        if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
            return Err("ROSTER_PUBLIC_URL: must start with https:// (or http://)".into());
        }
        let templates = load_templates(config.templates.as_deref())?;
        Ok(Self {
            transport,
            from,
            public_url,
            templates,
        })
    }

    fn link(&self, mail: &LinkMail) -> String {
        let path = match mail.purpose {
            LinkPurpose::Invite => "invite",
            LinkPurpose::Reset => "reset",
            LinkPurpose::Verify => "verify-email",
        };
        // The token is URL-safe base64: nothing to escape.
        format!("{}/{path}?token={}", self.public_url, mail.token.expose())
    }

    fn render(&self, mail: &LinkMail) -> Result<Message, String> {
        let purpose = mail.purpose.as_str();
        let ctx = context! {
            name => mail.name,
            username => mail.username,
            link => self.link(mail),
            expires_at => mail.expires_at.format(&Rfc3339).unwrap_or_default(),
            purpose,
        };
        let get = |kind: &str| {
            self.templates
                .get_template(&format!("{purpose}.{kind}"))
                .and_then(|t| t.render(&ctx))
                .map_err(|e| format!("template {purpose}.{kind}: {e}"))
        };
        let subject = get("subject")?.trim().to_string();
        let text = get("txt")?;
        let html = get("html")?;
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| format!("recipient address: {e}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| format!("building the message: {e}"))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send_link(&self, mail: LinkMail) -> Result<(), String> {
        let message = self.render(&mail)?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| format!("SMTP: {e}"))
    }
}

/// `?tls=starttls` is lettre's `?tls=required`.
fn starttls_alias(url: &str) -> String {
    url.replace("tls=starttls", "tls=required")
}

fn load_templates(dir: Option<&Path>) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    // HTML templates escape what they insert; text ones do not.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    for (name, default) in DEFAULTS {
        let text = match dir.map(|d| d.join(name)) {
            Some(path) if path.exists() => std::fs::read_to_string(&path)
                .map_err(|e| format!("ROSTER_MAIL_TEMPLATES: {}: {e}", path.display()))?,
            _ => default.to_string(),
        };
        env.add_template_owned(name.to_string(), text)
            .map_err(|e| format!("mail template {name}: {e}"))?;
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_logged_urls() {
        assert_eq!(
            redact_url("smtps://me:secret@mail.example.com:465"),
            "smtps://[redacted]@mail.example.com:465"
        );
        assert_eq!(redact_url("smtp://127.0.0.1:25"), "smtp://127.0.0.1:25");
    }

    #[test]
    fn the_embedded_templates_load_and_a_directory_replaces_them() {
        assert!(load_templates(None).is_ok());
        let dir = std::env::temp_dir().join(format!("roster-mail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("reset.subject"), "Custom {{ username }}").unwrap();
        let env = load_templates(Some(&dir)).unwrap();
        let out = env
            .get_template("reset.subject")
            .unwrap()
            .render(context! { username => "jill" })
            .unwrap();
        assert_eq!(out, "Custom jill");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// (lettre's connection pool starts a task: a runtime is needed.)
    #[tokio::test]
    async fn bad_settings_are_refused() {
        let ok = MailConfig {
            smtp_url: "smtp://127.0.0.1:2525".into(),
            from: "roster <roster@example.com>".into(),
            public_url: "https://roster.example.com/".into(),
            templates: None,
        };
        assert!(SmtpMailer::new(&ok).is_ok());
        let bad_url = MailConfig {
            smtp_url: "ftp://x".into(),
            ..ok.clone()
        };
        assert!(SmtpMailer::new(&bad_url).is_err());
        let bad_from = MailConfig {
            from: "not an address".into(),
            ..ok.clone()
        };
        assert!(SmtpMailer::new(&bad_from).is_err());
        assert!(
            SmtpMailer::new(&MailConfig {
                smtp_url: "smtp://mail.example.com?tls=starttls".into(),
                ..ok
            })
            .is_ok()
        );
    }
}
