//! Authentication: API keys and tokens to principals, logins with lockout,
//! token revocation, and passwords.

use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Ctx, Roster, from_store};
use crate::Secret;
use crate::audit::{AuditEvent, Origin, Outcome};
use crate::auth::{self, CredentialKind, IssuedToken, Principal, TokenError};
use crate::authz::{self, Privilege, Target};
use crate::error::{CoreError, CoreResult};
use crate::store::RoleRef;
use crate::user::{User, username_key};

/// A login attempt.
pub struct LoginInput {
    pub username: String,
    pub password: Secret,
    /// The current TOTP code, for accounts with a second factor.
    pub totp: Option<String>,
    /// A face's own token lifetime (Aria: six hours); the configured one when absent.
    pub ttl_secs: Option<u64>,
    /// Make the lifetime slide: the token lapses after `ttl_secs` unused.
    pub sliding: bool,
}

/// Hard limit of a sliding token, however often it is used.
const SLIDING_MAX_SECS: u64 = 30 * 24 * 3600;

impl Roster {
    /// Accepts an API key or a roster token.
    pub async fn authenticate(&self, credential: &str) -> CoreResult<Principal> {
        if credential.is_empty() || credential.len() > 4096 {
            return Err(CoreError::Unauthenticated);
        }
        if auth::looks_like_token(credential) {
            // Not cached: a revocation must hold on every node at once.
            return self.principal_from_token(credential).await;
        }
        let hash = auth::hash_key(credential);
        if let Some(p) = self.auth_cache.get(&hash) {
            return Ok(p);
        }
        let (principal, valid_until) = self.principal_from_key(&hash).await?;
        self.auth_cache.put(hash, principal.clone(), valid_until);
        Ok(principal)
    }

    async fn principal_for(
        &self,
        user: User,
        credential: CredentialKind,
        restriction: Option<Uuid>,
    ) -> CoreResult<Principal> {
        let grants = self
            .store
            .grants_of(user.id)
            .await
            .map_err(from_store("user"))?;
        let restriction = match restriction {
            Some(role) => Some(
                self.store
                    .role(RoleRef::Id(role))
                    .await
                    .map_err(from_store("role"))?
                    .map(|r| r.privileges)
                    .unwrap_or_default(),
            ),
            None => None,
        };
        Ok(Principal {
            user_id: user.id,
            username: user.profile.username,
            container_id: user.container_id,
            grants,
            restriction,
            credential,
        })
    }

    async fn principal_from_key(&self, hash: &str) -> CoreResult<(Principal, Option<Instant>)> {
        let owner = self
            .store
            .key_owner(hash)
            .await
            .map_err(from_store("key"))?
            .ok_or(CoreError::Unauthenticated)?;
        let now = OffsetDateTime::now_utc();
        if !auth::hashes_equal(&owner.key_hash, hash)
            || owner.key.revoked_at.is_some()
            || owner.key.expires_at.is_some_and(|t| t <= now)
            || !owner.user.profile.active
            || owner.user.locked
        {
            return Err(CoreError::Unauthenticated);
        }
        // Last use is kept to the minute: a write per request would cost more
        // than it tells.
        if owner
            .key
            .last_used_at
            .is_none_or(|t| now - t > time::Duration::minutes(1))
        {
            let _ = self.store.touch_key(owner.key.id, now).await;
        }
        let valid_until = owner
            .key
            .expires_at
            .map(|t| Instant::now() + Duration::try_from(t - now).unwrap_or_default());
        let principal = self
            .principal_for(
                owner.user,
                CredentialKind::ApiKey {
                    key_id: owner.key.id,
                },
                owner.key.role_id,
            )
            .await?;
        Ok((principal, valid_until))
    }

    async fn principal_from_token(&self, token: &str) -> CoreResult<Principal> {
        let claims = match self.signer().verify(token) {
            Err(TokenError::UnknownKey) => {
                // Perhaps signed with a key rotated in since this node loaded its keys.
                self.refresh_signing_keys().await?;
                self.signer().verify(token)
            }
            other => other,
        }
        .map_err(|_| CoreError::Unauthenticated)?;
        if self
            .store
            .token_revoked(claims.token_id)
            .await
            .map_err(from_store("token"))?
        {
            return Err(CoreError::Unauthenticated);
        }
        if claims.sliding {
            self.slide(claims.token_id).await?;
        }
        let user = self
            .store
            .user_by_id(claims.user_id)
            .await
            .map_err(from_store("user"))?
            .ok_or(CoreError::Unauthenticated)?;
        if !user.profile.active || user.locked {
            return Err(CoreError::Unauthenticated);
        }
        self.principal_for(
            user,
            CredentialKind::Token {
                token_id: claims.token_id,
            },
            None,
        )
        .await
    }

    /// Checks a sliding token's session and pushes its end out again. The
    /// write is skipped while the end would move by less than a tenth of the
    /// idle time (at most a minute), so a busy client does not write on
    /// every request.
    async fn slide(&self, jti: Uuid) -> CoreResult<()> {
        let (idle, expires) = self
            .store
            .session(jti)
            .await
            .map_err(from_store("token"))?
            .ok_or(CoreError::Unauthenticated)?;
        let now = OffsetDateTime::now_utc();
        if expires <= now {
            return Err(CoreError::Unauthenticated);
        }
        let renewed = now + time::Duration::seconds(idle as i64);
        let step = time::Duration::seconds((idle.min(600) as f64 / 10.0).ceil() as i64)
            .max(time::Duration::milliseconds(100));
        if renewed - expires > step {
            self.store
                .extend_session(jti, renewed)
                .await
                .map_err(from_store("token"))?;
        }
        Ok(())
    }

    /// Exchanges a username and password for a token. Every failure looks
    /// the same to the caller; each is audited, and repeated failures lock
    /// the account for the configured time, even against the right password.
    pub async fn issue_token(&self, input: LoginInput, origin: &Origin) -> CoreResult<IssuedToken> {
        let record = if input.username.is_empty() || input.username.len() > 1024 {
            None
        } else {
            self.store
                .user_for_login(&username_key(&input.username))
                .await
                .map_err(from_store("user"))?
        };
        let hash = record.as_ref().and_then(|r| r.password_hash.as_deref());
        let password_ok = self.hasher.verify(&input.password, hash).await?;
        let now = OffsetDateTime::now_utc();
        let totp_step = match (
            record.as_ref().and_then(|r| r.totp_secret.as_deref()),
            &input.totp,
        ) {
            (Some(secret), Some(code)) => crate::mfa::matching_step(secret, code),
            _ => None,
        };
        let reason = match &record {
            None => Some("unknown user or no password"),
            Some(r) if r.locked_until.is_some_and(|t| t > now) => Some("account locked"),
            Some(_) if !password_ok => Some("wrong password"),
            Some(r) if !r.user.profile.active => Some("account disabled"),
            Some(r) => match (&r.totp_secret, &input.totp) {
                // Right password, code missing: ask for it; not a failure.
                (Some(_), None) => return Err(CoreError::MfaRequired),
                (Some(_), Some(_)) if totp_step.is_none() => Some("wrong TOTP code"),
                _ => None,
            },
        };
        let event = AuditEvent::new("login", Outcome::Success, origin);
        let user_id = record.as_ref().map(|r| r.user.id);
        let Some(record) = record.filter(|_| reason.is_none()) else {
            let mut event = event
                .actor(user_id, &input.username)
                .details(json!({ "reason": reason }));
            event.outcome = Outcome::Failure;
            if let Some(id) = user_id {
                event = event.target("user", id, None);
            }
            let locked = self
                .store
                .login_failed(user_id, self.lockout, event)
                .await
                .map_err(from_store("user"))?;
            if locked.is_some()
                && let Some(id) = user_id
            {
                self.auth_cache.forget_user(id);
            }
            tracing::info!(outcome = "failure", "login");
            return Err(CoreError::Unauthenticated);
        };
        let user = record.user.clone();
        let event = event.actor(Some(user.id), &user.profile.username).target(
            "user",
            user.id,
            Some(user.container_id),
        );
        match self
            .store
            .login_succeeded(user.id, now, totp_step, event.clone())
            .await
        {
            Ok(()) => {}
            Err(crate::store::StoreError::Conflict { .. }) => {
                // A replayed TOTP code: a failed login like any other.
                let mut event = event.details(json!({ "reason": "TOTP code already used" }));
                event.outcome = Outcome::Failure;
                self.store
                    .login_failed(Some(user.id), self.lockout, event)
                    .await
                    .map_err(from_store("user"))?;
                return Err(CoreError::Unauthenticated);
            }
            Err(e) => return Err(from_store("user")(e)),
        }
        tracing::info!(outcome = "success", user_id = %user.id, "login");
        let enroll_only = user.profile.mfa_required && record.totp_secret.is_none();
        if input.sliding {
            let idle = input.ttl_secs.unwrap_or(self.token_ttl_secs);
            let mut issued =
                self.signer()
                    .issue_with(user.id, enroll_only, Some(SLIDING_MAX_SECS), true)?;
            let expires = now + time::Duration::seconds(idle as i64);
            self.store
                .create_session(issued.token_id, user.id, idle, expires)
                .await
                .map_err(from_store("token"))?;
            issued.expires_in_secs = idle;
            return Ok(issued);
        }
        self.signer()
            .issue_for(user.id, enroll_only, input.ttl_secs)
    }

    /// Revokes the token presented, on every node.
    pub async fn revoke_token(&self, token: &str, origin: &Origin) -> CoreResult<()> {
        let claims = self
            .signer()
            .verify(token)
            .map_err(|_| CoreError::Unauthenticated)?;
        let expires =
            OffsetDateTime::from_unix_timestamp(claims.expires_at).map_err(CoreError::internal)?;
        let event = AuditEvent::new("token.revoke", Outcome::Success, origin)
            .actor(Some(claims.user_id), "")
            .target("token", claims.token_id, None);
        self.store
            .revoke_token(claims.token_id, expires, event)
            .await
            .map_err(from_store("token"))
    }

    /// Sets another user's password (or one's own, with the privilege).
    pub async fn set_password(&self, ctx: &Ctx, id: Uuid, password: &Secret) -> CoreResult<User> {
        let user = self
            .user_in_reach(ctx, id, Privilege::UsersCredentials)
            .await?;
        self.write_password(ctx, user, password, "user.password.set")
            .await
    }

    /// Changes the caller's own password, proven by the current one.
    pub async fn change_own_password(
        &self,
        ctx: &Ctx,
        current: &Secret,
        new: &Secret,
    ) -> CoreResult<User> {
        let user = self.load_user(ctx.who.user_id).await?;
        let record = self
            .store
            .user_for_login(&username_key(&user.profile.username))
            .await
            .map_err(from_store("user"))?;
        let hash = record.as_ref().and_then(|r| r.password_hash.as_deref());
        if !self.hasher.verify(current, hash).await? {
            return Err(CoreError::invalid(
                "current_password",
                "matches",
                "is not the current password",
            ));
        }
        self.write_password(ctx, user, new, "user.password.change")
            .await
    }

    async fn write_password(
        &self,
        ctx: &Ctx,
        user: User,
        password: &Secret,
        action: &str,
    ) -> CoreResult<User> {
        self.policy
            .check("password", password, &user.profile.username)
            .map_err(|e| CoreError::Invalid(vec![e]))?;
        let hash = self.hasher.hash(password).await?;
        let event = ctx
            .event(action)
            .target("user", user.id, Some(user.container_id));
        let updated = self
            .store
            .update_user(
                user.id,
                user.version,
                user.profile,
                user.container_id,
                crate::user::Patch::Set(hash),
                OffsetDateTime::now_utc(),
                event,
            )
            .await
            .map_err(from_store("user"))?;
        self.auth_cache.forget_user(user.id);
        Ok(updated)
    }

    /// Lifts a lockout.
    pub async fn unlock(&self, ctx: &Ctx, id: Uuid) -> CoreResult<User> {
        let user = self
            .user_in_reach(ctx, id, Privilege::UsersCredentials)
            .await?;
        let event = ctx
            .event("user.unlock")
            .target("user", user.id, Some(user.container_id));
        let user = self
            .store
            .set_lock(id, None, event)
            .await
            .map_err(from_store("user"))?;
        self.auth_cache.forget_user(id);
        Ok(user)
    }

    /// Checks that the caller holds `privilege` over a user (faces use this
    /// for vendor rules such as D3's "act on behalf of").
    pub async fn check_user_privilege(
        &self,
        ctx: &Ctx,
        id: Uuid,
        privilege: Privilege,
    ) -> CoreResult<()> {
        self.user_in_reach(ctx, id, privilege).await.map(|_| ())
    }

    /// Loads a user and checks `privilege` on its container.
    pub(super) async fn user_in_reach(
        &self,
        ctx: &Ctx,
        id: Uuid,
        privilege: Privilege,
    ) -> CoreResult<User> {
        let user = self.load_user(id).await?;
        // A grant over everything needs no walk up the container tree.
        if authz::authorize(&ctx.who, privilege, Target::Global).is_err() {
            let chain = self.chain(user.container_id).await?;
            authz::authorize(&ctx.who, privilege, Target::In(&chain))?;
        }
        Ok(user)
    }

    pub(super) async fn load_user(&self, id: Uuid) -> CoreResult<User> {
        self.store
            .user_by_id(id)
            .await
            .map_err(from_store("user"))?
            .ok_or(CoreError::NotFound("user"))
    }

    pub(super) async fn chain(&self, container: Uuid) -> CoreResult<Vec<Uuid>> {
        let chain = self
            .store
            .container_chain(container)
            .await
            .map_err(from_store("container"))?;
        if chain.is_empty() {
            return Err(CoreError::NotFound("container"));
        }
        Ok(chain)
    }
}
