//! Enrolling and removing a TOTP second factor.

use serde_json::json;
use uuid::Uuid;

use super::{Ctx, Roster, from_store};
use crate::Secret;
use crate::authz::Privilege;
use crate::error::{CoreError, CoreResult};
use crate::mfa;
use crate::user::username_key;

/// A started enrollment: shown to the user once, to load into an app.
pub struct Enrollment {
    pub secret: Secret,
    pub otpauth_uri: Secret,
}

impl Roster {
    /// Starts (or restarts) TOTP enrollment for the caller.
    pub async fn begin_totp(&self, ctx: &Ctx) -> CoreResult<Enrollment> {
        self.may_enrol(ctx)?;
        let user = self.load_user(ctx.who.user_id).await?;
        if user.mfa_enrolled {
            return Err(CoreError::Conflict(crate::FieldError::new(
                "totp",
                "enrolled",
                "a TOTP factor is already enrolled; remove it first",
            )));
        }
        let secret = mfa::new_secret();
        let uri = mfa::uri(&secret, &user.profile.username)?;
        let event = ctx
            .event("mfa.totp.begin")
            .target("user", user.id, Some(user.container_id));
        self.store
            .set_totp(user.id, Some(secret.clone()), false, event)
            .await
            .map_err(from_store("user"))?;
        Ok(Enrollment {
            secret: Secret::new(secret),
            otpauth_uri: Secret::new(uri),
        })
    }

    /// Completes enrollment with a code from the app.
    pub async fn confirm_totp(&self, ctx: &Ctx, code: &str) -> CoreResult<()> {
        self.may_enrol(ctx)?;
        let id = ctx.who.user_id;
        let user = self.load_user(id).await?;
        let pending = self
            .store
            .pending_totp(id)
            .await
            .map_err(from_store("user"))?
            .ok_or_else(|| {
                CoreError::invalid(
                    "code",
                    "enrollment",
                    "start enrollment with POST /me/mfa/totp first",
                )
            })?;
        let ok = self
            .prove_owner(ctx, &user, "mfa.totp.enroll", async || {
                Ok(mfa::check(&pending, code))
            })
            .await?;
        if !ok {
            return Err(CoreError::invalid(
                "code",
                "totp",
                "is not the current code of the enrolled secret",
            ));
        }
        let event = ctx.event("mfa.totp.enroll").target("user", id, None);
        self.store
            .set_totp(id, Some(pending), true, event)
            .await
            .map_err(from_store("user"))?;
        self.forget_user(id).await;
        Ok(())
    }

    /// Removes the caller's factor, proven by a current code.
    pub async fn remove_own_totp(&self, ctx: &Ctx, code: &str) -> CoreResult<()> {
        self.require_full_credential(ctx)?;
        let user = self.load_user(ctx.who.user_id).await?;
        let record = self
            .store
            .user_for_login(&username_key(&user.profile.username))
            .await
            .map_err(from_store("user"))?;
        let secret = record
            .and_then(|r| r.totp_secret)
            .ok_or(CoreError::NotFound("TOTP factor"))?;
        let ok = self
            .prove_owner(ctx, &user, "mfa.totp.remove", async || {
                Ok(mfa::check(&secret, code))
            })
            .await?;
        if !ok {
            return Err(CoreError::invalid(
                "code",
                "totp",
                "is not the current code",
            ));
        }
        self.clear_totp(ctx, user.id, "mfa.totp.remove").await
    }

    /// An administrator's reset, for a user who lost their device.
    pub async fn reset_totp(&self, ctx: &Ctx, id: Uuid) -> CoreResult<()> {
        self.user_to_change(ctx, id, Privilege::UsersCredentials)
            .await?;
        self.clear_totp(ctx, id, "mfa.totp.reset").await
    }

    /// Enrolling a factor is for the owner's whole credential or a token
    /// issued for exactly that; a restricted key must not lock its owner's
    /// password sign-in behind a factor the key holder controls.
    fn may_enrol(&self, ctx: &Ctx) -> CoreResult<()> {
        if ctx.who.enroll_only {
            Ok(())
        } else {
            self.require_full_credential(ctx)
        }
    }

    async fn clear_totp(&self, ctx: &Ctx, id: Uuid, action: &str) -> CoreResult<()> {
        let event = ctx
            .event(action)
            .target("user", id, None)
            .details(json!({}));
        self.store
            .set_totp(id, None, true, event)
            .await
            .map_err(from_store("user"))?;
        self.forget_user(id).await;
        Ok(())
    }
}
