//! The mail port: the core decides who gets which link; a [`Mailer`]
//! (the server's SMTP client with its templates) turns that into a message
//! and delivers it. The core knows no SMTP, URL or template.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Secret;
use crate::link::LinkPurpose;

/// One link to send.
#[derive(Debug, Clone)]
pub struct LinkMail {
    pub purpose: LinkPurpose,
    /// The recipient's address.
    pub to: String,
    pub username: String,
    /// How to greet the recipient (display name, or the username).
    pub name: String,
    /// The token for the link. Never logged.
    pub token: Secret,
    pub expires_at: OffsetDateTime,
}

/// Delivers link mails. Errors are text for the log.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send_link(&self, mail: LinkMail) -> Result<(), String>;
}
