//! The account lifecycle by email: invitations, password reset and email
//! verification. Each sends a single-use link (see [`crate::link`]) through
//! the configured [`Mailer`]; without one, these flows answer
//! [`CoreError::NotConfigured`] rather than pretend.
//!
//! Mail is handed to the mailer on a task of its own: a request never
//! waits for SMTP, and a password reset takes the same path whether or not
//! the account exists (no enumeration by answer or by timing of the
//! delivery). Delivery failures are logged (never the link).

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Ctx, Roster, from_store, login};
use crate::Secret;
use crate::audit::{AuditEvent, Origin, Outcome};
use crate::authz::Privilege;
use crate::error::{CoreError, CoreResult};
use crate::link::{self, LinkEffect, LinkPurpose, LinkRecord};
use crate::mail::{LinkMail, Mailer};
use crate::store::{Store, StoreError, Write};
use crate::user::{EMAIL_MAX, USERNAME_MAX, User, UserQuery, username_key};

/// What the pages that complete a link show before it is used.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    pub purpose: LinkPurpose,
    pub username: String,
}

/// Who asks for a password reset: a username or an email address.
#[derive(Debug, Clone)]
pub enum ResetFor {
    Username(String),
    Email(String),
}

const NOT_CONFIGURED: &str =
    "mail is not configured: set ROSTER_SMTP_URL, ROSTER_SMTP_FROM and ROSTER_PUBLIC_URL";

/// The one refusal for a link that is unknown, used, expired, or dead
/// because the password changed since it was sent.
fn dead_link() -> CoreError {
    CoreError::invalid(
        "token",
        "valid_link",
        "the link is invalid, expired or already used; ask for a new one",
    )
}

impl Roster {
    /// Whether mail is configured (the flows of this module are on).
    pub fn mail_configured(&self) -> bool {
        self.mailer.is_some()
    }

    fn mailer(&self) -> CoreResult<Arc<dyn Mailer>> {
        self.mailer
            .clone()
            .ok_or(CoreError::NotConfigured(NOT_CONFIGURED))
    }

    fn ttl(&self, purpose: LinkPurpose) -> time::Duration {
        let secs = match purpose {
            LinkPurpose::Invite => self.links.invite_ttl_secs,
            LinkPurpose::Reset => self.links.reset_ttl_secs,
            LinkPurpose::Verify => self.links.verify_ttl_secs,
        };
        time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2))
    }

    /// A new link for `user` (its address must be set), and the mail that
    /// carries it.
    fn mint(&self, user: &User, purpose: LinkPurpose) -> Option<(LinkRecord, LinkMail)> {
        let email = user.profile.email.clone().filter(|e| !e.is_empty())?;
        let (token, token_hash) = link::new_token();
        let now = OffsetDateTime::now_utc();
        let expires_at = now + self.ttl(purpose);
        let p = &user.profile;
        let full = [p.first_name.as_deref(), p.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let name = p
            .display_name
            .clone()
            .filter(|n| !n.is_empty())
            .or((!full.is_empty()).then_some(full))
            .unwrap_or_else(|| p.username.clone());
        let record = LinkRecord {
            token_hash,
            user_id: user.id,
            purpose,
            credential_epoch: user.credential_epoch,
            email: email.clone(),
            created_at: now,
            expires_at,
        };
        let mail = LinkMail {
            purpose,
            to: email,
            username: user.profile.username.clone(),
            name,
            token,
            expires_at,
        };
        Some((record, mail))
    }

    /// Stores the link with its audit event, then hands the mail over.
    async fn issue_and_send(
        store: &Arc<dyn Store>,
        mailer: &Arc<dyn Mailer>,
        record: LinkRecord,
        mail: LinkMail,
        event: AuditEvent,
    ) -> CoreResult<()> {
        store
            .write_all(vec![(Write::IssueLink(record), event)])
            .await
            .map_err(from_store("user"))?;
        let user = mail.username.clone();
        let purpose = mail.purpose.as_str();
        if let Err(e) = mailer.send_link(mail).await {
            tracing::warn!(%user, purpose, error = %e, "mail delivery failed");
        } else {
            tracing::info!(%user, purpose, "mail sent");
        }
        Ok(())
    }

    /// Stores and sends in the background; failures are logged.
    fn issue_and_send_later(&self, record: LinkRecord, mail: LinkMail, event: AuditEvent) {
        let Some(mailer) = self.mailer.clone() else {
            return;
        };
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = Self::issue_and_send(&store, &mailer, record, mail, event).await {
                tracing::warn!(error = %e, "could not issue a mailed link");
            }
        });
    }

    /// Invites a user (created without a password, or not): emails a link
    /// to set its password, valid for the invitation time. A re-sent
    /// invitation replaces the earlier link.
    pub async fn send_invitation(&self, ctx: &Ctx, id: Uuid) -> CoreResult<()> {
        let mailer = self.mailer()?;
        let user = self
            .user_to_change(ctx, id, Privilege::UsersCredentials)
            .await?;
        if user.profile.saml_sso_only {
            return Err(CoreError::invalid(
                "saml_sso_only",
                "sso_only",
                "this account signs in with SSO only and has no password to set",
            ));
        }
        let Some((record, mail)) = self.mint(&user, LinkPurpose::Invite) else {
            return Err(CoreError::invalid(
                "email",
                "required",
                "an invitation needs the user's email address",
            ));
        };
        let event = ctx
            .event("user.invitation.send")
            .target("user", user.id, Some(user.container_id))
            .details(json!({ "expires_at": record.expires_at.unix_timestamp() }));
        // Stored before the answer (a 202 means the link exists); delivered
        // in the background.
        let store = self.store.clone();
        store
            .write_all(vec![(Write::IssueLink(record), event)])
            .await
            .map_err(from_store("user"))?;
        tokio::spawn(async move {
            let user = mail.username.clone();
            match mailer.send_link(mail).await {
                Ok(()) => tracing::info!(%user, purpose = "invite", "mail sent"),
                Err(e) => {
                    tracing::warn!(%user, purpose = "invite", error = %e, "mail delivery failed")
                }
            }
        });
        Ok(())
    }

    /// Creates a user and invites it (see [`Self::send_invitation`]): the
    /// user is created without a password and sets its own through the
    /// mailed link. Refused before anything is written when mail is not
    /// configured, the user has no address, or a password is given too.
    pub async fn create_user_invited(
        &self,
        ctx: &Ctx,
        input: crate::user::CreateUser,
    ) -> CoreResult<super::Created> {
        self.mailer()?;
        if input.password.is_some() {
            return Err(CoreError::invalid(
                "password",
                "invite",
                "an invited user chooses its own password; send either invite or password",
            ));
        }
        if input.profile.email.as_deref().is_none_or(str::is_empty) {
            return Err(CoreError::invalid(
                "email",
                "required",
                "an invitation needs the user's email address",
            ));
        }
        if input.profile.saml_sso_only {
            return Err(CoreError::invalid(
                "saml_sso_only",
                "sso_only",
                "an SSO-only user has no password to set; create it without invite",
            ));
        }
        let created = self.create_user(ctx, input).await?;
        if !created.replayed {
            self.send_invitation(ctx, created.user.id).await?;
        }
        Ok(created)
    }

    /// Withdraws a user's pending invitation.
    pub async fn revoke_invitation(&self, ctx: &Ctx, id: Uuid) -> CoreResult<()> {
        let user = self
            .user_to_change(ctx, id, Privilege::UsersCredentials)
            .await?;
        let event =
            ctx.event("user.invitation.revoke")
                .target("user", user.id, Some(user.container_id));
        self.store
            .write_all(vec![(
                Write::RevokeLinks {
                    user: user.id,
                    purpose: LinkPurpose::Invite,
                },
                event,
            )])
            .await
            .map_err(from_store("invitation"))
    }

    /// Whether the user has a live invitation, and until when.
    pub async fn invitation(&self, ctx: &Ctx, id: Uuid) -> CoreResult<Option<OffsetDateTime>> {
        let user = self.user_in_reach(ctx, id, Privilege::UsersRead).await?;
        let pending = self
            .store
            .pending_link(user.id, LinkPurpose::Invite)
            .await
            .map_err(from_store("invitation"))?;
        Ok(pending
            .filter(|l| {
                l.expires_at > OffsetDateTime::now_utc()
                    && l.credential_epoch == user.credential_epoch
            })
            .map(|l| l.expires_at))
    }

    /// "Forgot password": answers the same whether or not the account
    /// exists. When it exists, is active, has an address and may sign in
    /// with a password, a reset link is stored and mailed in the
    /// background — at most one per account per `reset_interval_secs`.
    /// Requests are throttled per source by the login gate.
    pub async fn request_password_reset(&self, who: ResetFor, origin: &Origin) -> CoreResult<()> {
        self.mailer()?;
        match &who {
            ResetFor::Username(u) if u.chars().count() > USERNAME_MAX => {
                return Err(CoreError::invalid(
                    "username",
                    "max_length",
                    format!("must be at most {USERNAME_MAX} characters"),
                ));
            }
            ResetFor::Email(e) if e.chars().count() > EMAIL_MAX => {
                return Err(CoreError::invalid(
                    "email",
                    "max_length",
                    format!("must be at most {EMAIL_MAX} characters"),
                ));
            }
            _ => {}
        }
        self.login_gate.check(&login::source_of(origin))?;
        let Some(user) = self.reset_candidate(&who).await? else {
            tracing::info!("password reset asked for no eligible account");
            return Ok(());
        };
        let now = OffsetDateTime::now_utc();
        let recent = self
            .store
            .pending_link(user.id, LinkPurpose::Reset)
            .await
            .map_err(from_store("user"))?
            .is_some_and(|l| {
                now - l.created_at < time::Duration::seconds(self.links.reset_interval_secs as i64)
                    && l.credential_epoch == user.credential_epoch
            });
        if recent {
            tracing::info!(user_id = %user.id, "password reset asked again too soon; no mail");
            return Ok(());
        }
        let Some((record, mail)) = self.mint(&user, LinkPurpose::Reset) else {
            return Ok(());
        };
        let event = AuditEvent::new("user.password.reset.request", Outcome::Success, origin)
            .actor(None, "anonymous")
            .target("user", user.id, Some(user.container_id))
            .details(json!({ "expires_at": record.expires_at.unix_timestamp() }));
        self.issue_and_send_later(record, mail, event);
        Ok(())
    }

    /// The account a reset may be mailed for, if any.
    async fn reset_candidate(&self, who: &ResetFor) -> CoreResult<Option<User>> {
        let user = match who {
            ResetFor::Username(name) if !name.is_empty() => self
                .store
                .user_for_login(&username_key(name))
                .await
                .map_err(from_store("user"))?
                .map(|r| r.user),
            ResetFor::Email(email) if !email.is_empty() => {
                let query = UserQuery {
                    email: Some(email.to_lowercase()),
                    limit: 2,
                    ..Default::default()
                };
                let mut found = self
                    .store
                    .list_users(&query, None)
                    .await
                    .map_err(from_store("user"))?;
                // An address shared by several accounts names none of them.
                if found.len() == 1 { found.pop() } else { None }
            }
            _ => None,
        };
        Ok(user.filter(|u| {
            u.may_sign_in()
                && !u.profile.saml_sso_only
                && u.profile.email.as_deref().is_some_and(|e| !e.is_empty())
        }))
    }

    /// What a link is for and whose it is, if it is live (the pages show
    /// this before the form is sent). Does not use the link.
    pub async fn link_info(&self, token: &str, purpose: LinkPurpose) -> CoreResult<LinkInfo> {
        let (_, user) = self.live_link(token, purpose).await?;
        Ok(LinkInfo {
            purpose,
            username: user.profile.username,
        })
    }

    async fn live_link(&self, token: &str, purpose: LinkPurpose) -> CoreResult<(LinkRecord, User)> {
        if !link::plausible(token) {
            return Err(dead_link());
        }
        let record = self
            .store
            .link(&crate::auth::hash_key(token))
            .await
            .map_err(from_store("link"))?
            .filter(|l| l.purpose == purpose && l.expires_at > OffsetDateTime::now_utc())
            .ok_or_else(dead_link)?;
        let user = self
            .store
            .user_by_id(record.user_id)
            .await
            .map_err(from_store("user"))?
            .filter(|u| u.deleted_at.is_none() && u.credential_epoch == record.credential_epoch)
            .ok_or_else(dead_link)?;
        Ok((record, user))
    }

    /// Completes an invitation or a password reset: checks the password
    /// against the policy, then in one transaction uses the link up, sets
    /// the password and moves the credential epoch on (every session and
    /// token of the user ends; every other link it had dies too).
    pub async fn set_password_by_link(
        &self,
        token: &Secret,
        purpose: LinkPurpose,
        password: &Secret,
        origin: &Origin,
    ) -> CoreResult<()> {
        self.login_gate.check(&login::source_of(origin))?;
        if purpose == LinkPurpose::Verify {
            return Err(dead_link());
        }
        let (record, user) = self.live_link(token.expose(), purpose).await?;
        if purpose == LinkPurpose::Reset && !user.profile.active {
            return Err(dead_link());
        }
        self.policy
            .check("password", password, &user.profile.username)
            .map_err(|e| CoreError::Invalid(vec![e]))?;
        let password_hash = self.hasher.hash(password).await?;
        let action = match purpose {
            LinkPurpose::Invite => "user.invitation.accept",
            _ => "user.password.reset",
        };
        let event = AuditEvent::new(action, Outcome::Success, origin)
            .actor(Some(user.id), &user.profile.username)
            .target("user", user.id, Some(user.container_id));
        self.redeem(record, LinkEffect::SetPassword { password_hash }, event)
            .await?;
        self.forget_user(user.id).await;
        tracing::info!(user_id = %user.id, action, "password set by link");
        Ok(())
    }

    /// Marks the user's address verified by the link mailed to it.
    pub async fn verify_email(&self, token: &str, origin: &Origin) -> CoreResult<()> {
        self.login_gate.check(&login::source_of(origin))?;
        let (record, user) = self.live_link(token, LinkPurpose::Verify).await?;
        let event = AuditEvent::new("user.email.verify", Outcome::Success, origin)
            .actor(Some(user.id), &user.profile.username)
            .target("user", user.id, Some(user.container_id));
        self.redeem(record, LinkEffect::VerifyEmail, event).await?;
        tracing::info!(user_id = %user.id, "email verified");
        Ok(())
    }

    async fn redeem(
        &self,
        record: LinkRecord,
        effect: LinkEffect,
        event: AuditEvent,
    ) -> CoreResult<()> {
        let write = Write::RedeemLink {
            token_hash: record.token_hash,
            purpose: record.purpose,
            now: OffsetDateTime::now_utc(),
            effect,
        };
        match self.store.write_all(vec![(write, event)]).await {
            Ok(()) => Ok(()),
            // Used by a concurrent request, expired or its epoch moved
            // between the check and the write.
            Err(StoreError::NotFound) => Err(dead_link()),
            Err(e) => Err(from_store("link")(e)),
        }
    }

    /// After an address change: mails a verification link to the new
    /// address when mail is configured (in the background).
    pub(super) fn after_email_change(&self, ctx: &Ctx, before: &User, after: &User) {
        let key = |u: &User| u.profile.email.as_deref().map(str::to_lowercase);
        if self.mailer.is_none() || key(before) == key(after) {
            return;
        }
        let Some((record, mail)) = self.mint(after, LinkPurpose::Verify) else {
            return;
        };
        let event = ctx.event("user.email.verification.send").target(
            "user",
            after.id,
            Some(after.container_id),
        );
        self.issue_and_send_later(record, mail, event);
    }

    /// Mails a new verification link for the user's current address.
    pub async fn send_verification(&self, ctx: &Ctx, id: Uuid) -> CoreResult<()> {
        self.mailer()?;
        let user = self.user_to_change(ctx, id, Privilege::UsersWrite).await?;
        let Some((record, mail)) = self.mint(&user, LinkPurpose::Verify) else {
            return Err(CoreError::invalid(
                "email",
                "required",
                "the user has no email address to verify",
            ));
        };
        let event = ctx.event("user.email.verification.send").target(
            "user",
            user.id,
            Some(user.container_id),
        );
        self.issue_and_send_later(record, mail, event);
        Ok(())
    }
}
