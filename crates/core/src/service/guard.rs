//! The access rule's checks that need the store (docs/ACCESS_MODEL.md).
//! The decisions are `authz::may_confer` and `authz::dominates`; this file
//! only gathers what they decide on — scopes resolved to container chains,
//! the grants a user holds, what a group confers — so that every service
//! that changes who can do what asks the same two questions.

use uuid::Uuid;

use super::{Ctx, Roster, from_store};
use crate::access::RoleRef;
use crate::access::{Assignment, Holder};
use crate::authz::{self, Privilege, ResolvedScope, Scope};
use crate::error::{CoreError, CoreResult};
use crate::user::User;

impl Roster {
    /// A scope with each container's ancestor chain.
    pub(super) async fn resolve_scope(
        &self,
        all_objects: bool,
        containers: &[Uuid],
    ) -> CoreResult<ResolvedScope> {
        if all_objects {
            return Ok(ResolvedScope::All);
        }
        let mut chains = Vec::with_capacity(containers.len());
        for c in containers {
            chains.push(self.chain(*c).await?);
        }
        Ok(ResolvedScope::Chains(chains))
    }

    async fn resolve(&self, scope: &Scope) -> CoreResult<ResolvedScope> {
        match scope {
            Scope::All => Ok(ResolvedScope::All),
            Scope::Containers(cs) => self.resolve_scope(false, cs).await,
        }
    }

    /// The conferral rule: the caller may give (or take away) `privileges`
    /// over this scope.
    pub(super) async fn check_confer(
        &self,
        ctx: &Ctx,
        privileges: &[Privilege],
        all_objects: bool,
        containers: &[Uuid],
    ) -> CoreResult<()> {
        let scope = self.resolve_scope(all_objects, containers).await?;
        authz::may_confer(&ctx.who, privileges, &scope)
    }

    /// Taking an assignment away needs the power to have granted it.
    pub(super) async fn check_revocable(&self, ctx: &Ctx, a: &Assignment) -> CoreResult<()> {
        let role = self.find_role(RoleRef::Id(a.role_id)).await?;
        self.check_confer(ctx, &role.privileges, a.all_objects, &a.container_ids)
            .await
    }

    /// Joining or leaving a group gives or takes every grant the group
    /// holds, so changing its members needs the power to confer them all.
    pub(super) async fn check_group_conferral(&self, ctx: &Ctx, group: Uuid) -> CoreResult<()> {
        for a in self
            .store
            .assignments_of(Holder::Group(group))
            .await
            .map_err(from_store("assignment"))?
        {
            self.check_revocable(ctx, &a).await?;
        }
        Ok(())
    }

    /// Not above yourself: the caller holds every privilege `user` holds
    /// (within `cap`, when only part of the user's power is at stake, as
    /// for a restricted key minted for them) over the user's scopes.
    pub(super) async fn check_not_above(
        &self,
        ctx: &Ctx,
        user: &User,
        cap: Option<&[Privilege]>,
    ) -> CoreResult<()> {
        if user.id == ctx.who.user_id && ctx.who.is_full_credential() {
            // The caller's own whole power: holds everything it holds.
            return Ok(());
        }
        let grants = self
            .store
            .grants_of(user.id)
            .await
            .map_err(from_store("user"))?;
        self.check_holds_all(
            ctx,
            grants.into_iter().map(|g| (g.privileges, g.scope)),
            cap,
        )
        .await
    }

    /// The caller holds every one of these grants (within `cap`): the
    /// decision of [`Self::check_not_above`], for grants that may not be
    /// stored yet (a user being created).
    pub(super) async fn check_holds_all(
        &self,
        ctx: &Ctx,
        grants: impl IntoIterator<Item = (Vec<Privilege>, Scope)>,
        cap: Option<&[Privilege]>,
    ) -> CoreResult<()> {
        let mut held = Vec::new();
        for (privileges, scope) in grants {
            let privileges: Vec<Privilege> = privileges
                .into_iter()
                .filter(|p| cap.is_none_or(|c| c.contains(p)))
                .collect();
            if !privileges.is_empty() {
                held.push((privileges, self.resolve(&scope).await?));
            }
        }
        authz::dominates(&ctx.who, &held)
    }

    /// Loads a user the caller is about to change: `privilege` on the
    /// user's container, and not above the caller.
    pub(super) async fn user_to_change(
        &self,
        ctx: &Ctx,
        id: Uuid,
        privilege: Privilege,
    ) -> CoreResult<User> {
        let user = self.user_in_reach(ctx, id, privilege).await?;
        self.check_not_above(ctx, &user, None).await?;
        Ok(user)
    }

    /// Self-service changes to one's own credentials (password, second
    /// factor, keys) need the owner's whole power: a restricted key or an
    /// enrolment-only token must not take over the account it belongs to.
    pub(super) fn require_full_credential(&self, ctx: &Ctx) -> CoreResult<()> {
        if ctx.who.is_full_credential() {
            Ok(())
        } else {
            Err(CoreError::Forbidden)
        }
    }

    /// D3's "act on behalf of `Username`": the caller names itself, or a
    /// user it could change.
    pub async fn check_acting_for(&self, ctx: &Ctx, username: &str) -> CoreResult<()> {
        if crate::user::username_key(username) == crate::user::username_key(&ctx.who.username) {
            return Ok(());
        }
        let user = self
            .store
            .user_for_login(&crate::user::username_key(username))
            .await
            .map_err(from_store("user"))?
            .ok_or(CoreError::Forbidden)?
            .user;
        self.user_to_change(ctx, user.id, Privilege::UsersWrite)
            .await
            .map(|_| ())
    }
}
