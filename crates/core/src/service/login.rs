//! Authentication: API keys and tokens to principals, logins with lockout,
//! token revocation, and passwords.

use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Ctx, Roster, from_store};
use crate::Secret;
use crate::access::RoleRef;
use crate::audit::{AuditEvent, Origin, Outcome};
use crate::auth::{self, CredentialKind, IssuedToken, Principal, TokenError, TokenSpec};
use crate::authz::{self, Privilege, Target};
use crate::error::{CoreError, CoreResult};
use crate::user::{USERNAME_MAX, User, username_key};

/// Where a secret check comes from, for its throttle: the client address.
pub(super) fn source_of(origin: &Origin) -> String {
    origin.source.clone().unwrap_or_else(|| "-".to_string())
}

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
        // Tokens are cached like keys (by hash, never beyond their expiry):
        // revoking one, or any change to its user that could end it (a
        // password or factor change, deactivation, grants), drops the
        // user's entries here and, announced, on every other node
        // (LISTEN/NOTIFY on PostgreSQL; a node that lost the announcement
        // channel drops everything when it reconnects).
        let hash = auth::hash_key(credential);
        if let Some(p) = self.auth_cache.get(&hash) {
            return Ok(p);
        }
        let seen = self.auth_cache.generation();
        let (principal, cache_until) = if auth::looks_like_token(credential) {
            let claims = self.live_claims(credential).await?;
            self.principal_from_token(claims).await?
        } else {
            let (principal, valid_until) = self.principal_from_key(&hash).await?;
            (principal, Some(valid_until))
        };
        if let Some(until) = cache_until {
            self.auth_cache.put(hash, principal.clone(), until, seen);
        }
        Ok(principal)
    }

    /// `role` and `cap` restrict what the credential may use (a key's
    /// role and the cap it was minted with); `enroll_only` marks a token
    /// that may do nothing but read its user and enrol a second factor.
    async fn principal_for(
        &self,
        user: User,
        credential: CredentialKind,
        role: Option<Uuid>,
        cap: Option<Vec<Privilege>>,
        enroll_only: bool,
    ) -> CoreResult<Principal> {
        let grants = self
            .store
            .grants_of(user.id)
            .await
            .map_err(from_store("user"))?;
        let role = match role {
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
        let restriction = if enroll_only {
            Some(Vec::new())
        } else {
            match (role, cap) {
                (None, None) => None,
                (Some(r), None) | (None, Some(r)) => Some(r),
                (Some(r), Some(c)) => Some(r.into_iter().filter(|p| c.contains(p)).collect()),
            }
        };
        Ok(Principal {
            user_id: user.id,
            username: user.profile.username,
            container_id: user.container_id,
            grants,
            restriction,
            enroll_only,
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
        // A throttled password (`locked`) does not stop keys: failed
        // logins must not let anyone switch off an account's automation.
        if !auth::hashes_equal(&owner.key_hash, hash)
            || owner.key.revoked_at.is_some()
            || owner.key.expires_at.is_some_and(|t| t <= now)
            || !owner.user.may_sign_in()
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
                owner.cap,
                false,
            )
            .await?;
        Ok((principal, valid_until))
    }

    /// A token's claims, if its signature holds, it has not expired and it
    /// has not been revoked.
    async fn live_claims(&self, token: &str) -> CoreResult<auth::TokenClaims> {
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
        Ok(claims)
    }

    /// The principal of a live token, and whether and until when it may be
    /// cached: not at all for a sliding token, whose every use is checked
    /// against its session; otherwise until the token expires (the cache
    /// life bounds it too).
    async fn principal_from_token(
        &self,
        claims: auth::TokenClaims,
    ) -> CoreResult<(Principal, Option<Option<Instant>>)> {
        if claims.sliding {
            self.slide(claims.token_id).await?;
        }
        let user = self
            .store
            .user_by_id(claims.user_id)
            .await
            .map_err(from_store("user"))?
            .ok_or(CoreError::Unauthenticated)?;
        // Tokens from before a password or factor change are over.
        if !user.may_sign_in() || claims.credential_epoch != user.credential_epoch {
            return Err(CoreError::Unauthenticated);
        }
        let principal = self
            .principal_for(
                user,
                CredentialKind::Token {
                    token_id: claims.token_id,
                },
                None,
                None,
                claims.enroll_only,
            )
            .await?;
        let left = claims.expires_at - OffsetDateTime::now_utc().unix_timestamp();
        let cache_until = (!claims.sliding && left > 0)
            .then(|| Some(Instant::now() + Duration::from_secs(left.unsigned_abs())));
        Ok((principal, cache_until))
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
    /// the same to the caller and is audited. Failures slow down further
    /// password checks of that name from that source (and, bounded, of the
    /// account from anywhere); they never disable keys or live tokens.
    pub async fn issue_token(&self, input: LoginInput, origin: &Origin) -> CoreResult<IssuedToken> {
        if input.username.chars().count() > USERNAME_MAX {
            // Refused before anything is hashed or stored.
            return Err(CoreError::invalid(
                "username",
                "max_length",
                format!("must be at most {USERNAME_MAX} characters"),
            ));
        }
        let source = source_of(origin);
        let account = username_key(&input.username);
        self.admit_secret_check(&account, &source).await?;
        let record = if input.username.is_empty() {
            None
        } else {
            self.store
                .user_for_login(&account)
                .await
                .map_err(from_store("user"))?
        };
        let hash = record.as_ref().and_then(|r| r.password_hash.as_deref());
        let password_ok = self.login_hasher.verify(&input.password, hash).await?;
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
            Some(_) if !password_ok => Some("wrong password"),
            Some(r) if !r.user.may_sign_in() => Some("account disabled"),
            Some(r) if r.user.profile.saml_sso_only => Some("password sign-in disabled: SSO only"),
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
            let mut event = event.actor(user_id, &input.username);
            if let Some(id) = user_id {
                event = event.target("user", id, None);
            }
            self.secret_check_failed(account, source, event, reason.unwrap_or("refused"))
                .await?;
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
            .login_succeeded(user.id, now, totp_step, source.clone(), event.clone())
            .await
        {
            Ok(()) => {}
            Err(crate::store::StoreError::Conflict { .. }) => {
                // A replayed TOTP code: a failed login like any other.
                self.secret_check_failed(account, source, event, "TOTP code already used")
                    .await?;
                return Err(CoreError::Unauthenticated);
            }
            Err(e) => return Err(from_store("user")(e)),
        }
        tracing::info!(outcome = "success", user_id = %user.id, "login");
        let mut spec = TokenSpec {
            user_id: user.id,
            credential_epoch: user.credential_epoch,
            enroll_only: user.profile.mfa_required && record.totp_secret.is_none(),
            ttl_secs: input.ttl_secs,
            sliding: input.sliding,
        };
        if input.sliding {
            let idle = input.ttl_secs.unwrap_or(self.token_ttl_secs);
            spec.ttl_secs = Some(SLIDING_MAX_SECS);
            let mut issued = self.signer().issue(&spec)?;
            let expires = now + time::Duration::seconds(idle as i64);
            self.store
                .create_session(issued.token_id, user.id, idle, expires)
                .await
                .map_err(from_store("token"))?;
            issued.expires_in_secs = idle;
            return Ok(issued);
        }
        self.signer().issue(&spec)
    }

    /// Lets a secret check (login, current password, TOTP code) of
    /// `account` from `source` go ahead, or says how long to wait: first the
    /// per-source rate of attempts (ahead of any hashing), then the
    /// back-off earned by earlier failures.
    async fn admit_secret_check(&self, account: &str, source: &str) -> CoreResult<()> {
        self.login_gate.check(source)?;
        if let Some(until) = self
            .store
            .login_throttled(account, source)
            .await
            .map_err(from_store("user"))?
        {
            let wait = (until - OffsetDateTime::now_utc()).as_seconds_f64();
            if wait > 0.0 {
                return Err(CoreError::RateLimited {
                    retry_after_secs: wait.ceil() as u64,
                });
            }
        }
        Ok(())
    }

    /// Records a failed secret check with its audit event and back-off.
    async fn secret_check_failed(
        &self,
        account: String,
        source: String,
        event: AuditEvent,
        reason: &str,
    ) -> CoreResult<()> {
        let mut event = event.details(json!({ "reason": reason }));
        event.outcome = Outcome::Failure;
        self.store
            .login_failed(account, source, self.lockout, event)
            .await
            .map_err(from_store("user"))?;
        Ok(())
    }

    /// Checks a secret the caller presents to prove it is the account's
    /// owner (current password, TOTP code), under the login throttle; a
    /// wrong one is audited as a failure of `action`.
    pub(super) async fn prove_owner(
        &self,
        ctx: &Ctx,
        user: &User,
        action: &str,
        check: impl AsyncFnOnce() -> CoreResult<bool>,
    ) -> CoreResult<bool> {
        let account = username_key(&user.profile.username);
        let source = source_of(&ctx.origin);
        self.admit_secret_check(&account, &source).await?;
        let ok = check().await?;
        if !ok {
            let event = ctx
                .event(action)
                .target("user", user.id, Some(user.container_id));
            self.secret_check_failed(account, source, event, "wrong secret")
                .await?;
        }
        Ok(ok)
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
            .map_err(from_store("token"))?;
        self.forget_user(claims.user_id).await;
        Ok(())
    }

    /// Sets another user's password (or one's own, with the privilege).
    pub async fn set_password(&self, ctx: &Ctx, id: Uuid, password: &Secret) -> CoreResult<User> {
        let user = self
            .user_to_change(ctx, id, Privilege::UsersCredentials)
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
        self.require_full_credential(ctx)?;
        let user = self.load_user(ctx.who.user_id).await?;
        if user.profile.saml_sso_only {
            return Err(CoreError::invalid(
                "password",
                "sso_only",
                "this account signs in with SSO only and has no password",
            ));
        }
        let record = self
            .store
            .user_for_login(&username_key(&user.profile.username))
            .await
            .map_err(from_store("user"))?;
        let hash = record.and_then(|r| r.password_hash);
        let ok = self
            .prove_owner(ctx, &user, "user.password.change", async || {
                self.login_hasher.verify(current, hash.as_deref()).await
            })
            .await?;
        if !ok {
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
        self.forget_user(user.id).await;
        Ok(updated)
    }

    /// Lifts a lockout.
    pub async fn unlock(&self, ctx: &Ctx, id: Uuid) -> CoreResult<User> {
        let user = self
            .user_to_change(ctx, id, Privilege::UsersCredentials)
            .await?;
        let event = ctx
            .event("user.unlock")
            .target("user", user.id, Some(user.container_id));
        let user = self
            .store
            .set_lock(id, None, event)
            .await
            .map_err(from_store("user"))?;
        self.forget_user(id).await;
        Ok(user)
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

    /// A user that exists and is not (soft) deleted.
    pub(super) async fn load_user(&self, id: Uuid) -> CoreResult<User> {
        match self.load_user_even_deleted(id).await? {
            u if u.deleted_at.is_some() => Err(CoreError::NotFound("user")),
            u => Ok(u),
        }
    }

    /// A user, soft-deleted or not (restore and purge).
    pub(super) async fn load_user_even_deleted(&self, id: Uuid) -> CoreResult<User> {
        self.store
            .user_by_id(id)
            .await
            .map_err(from_store("user"))?
            .ok_or(CoreError::NotFound("user"))
    }

    pub(super) async fn chain(&self, container: Uuid) -> CoreResult<Vec<Uuid>> {
        if let Some(chain) = self.chain_cache.get(container) {
            return Ok(chain);
        }
        let seen = self.chain_cache.generation();
        let chain = self.fresh_chain(container).await?;
        self.chain_cache.put(container, chain.clone(), seen);
        Ok(chain)
    }

    /// The chain as stored now, for changes to the tree itself: a move is
    /// decided on the tree as it is, never on a cached picture of it.
    pub(super) async fn fresh_chain(&self, container: Uuid) -> CoreResult<Vec<Uuid>> {
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
