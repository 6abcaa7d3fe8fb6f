//! Who may do what, where. Every service call asks [`authorize`] before it
//! touches the store; faces never decide this themselves.
//!
//! A principal holds grants: a role's privileges over a scope, which is
//! either every object or a set of containers (and everything below them).
//! A privilege on a user is granted when some grant covers the user's home
//! container or one of its ancestors. An API key may be restricted to a
//! role: it then holds only the privileges of its owner that that role has.

use serde::Serialize;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::CoreError;

/// The fixed privilege catalogue.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub enum Privilege {
    #[serde(rename = "users.read")]
    UsersRead,
    #[serde(rename = "users.write")]
    UsersWrite,
    #[serde(rename = "users.delete")]
    UsersDelete,
    /// Set passwords, unlock accounts, reset MFA of others.
    #[serde(rename = "users.credentials")]
    UsersCredentials,
    #[serde(rename = "groups.read")]
    GroupsRead,
    #[serde(rename = "groups.write")]
    GroupsWrite,
    #[serde(rename = "roles.read")]
    RolesRead,
    #[serde(rename = "roles.write")]
    RolesWrite,
    /// Grant and revoke role assignments.
    #[serde(rename = "roles.assign")]
    RolesAssign,
    #[serde(rename = "containers.read")]
    ContainersRead,
    #[serde(rename = "containers.write")]
    ContainersWrite,
    /// Manage other users' API keys.
    #[serde(rename = "keys.manage")]
    KeysManage,
    #[serde(rename = "audit.read")]
    AuditRead,
    /// Register webhooks and read the change events (global only: where
    /// data flows out of roster).
    #[serde(rename = "webhooks.manage")]
    WebhooksManage,
}

impl Privilege {
    pub const ALL: [Privilege; 14] = [
        Privilege::UsersRead,
        Privilege::UsersWrite,
        Privilege::UsersDelete,
        Privilege::UsersCredentials,
        Privilege::GroupsRead,
        Privilege::GroupsWrite,
        Privilege::RolesRead,
        Privilege::RolesWrite,
        Privilege::RolesAssign,
        Privilege::ContainersRead,
        Privilege::ContainersWrite,
        Privilege::KeysManage,
        Privilege::AuditRead,
        Privilege::WebhooksManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::UsersRead => "users.read",
            Privilege::UsersWrite => "users.write",
            Privilege::UsersDelete => "users.delete",
            Privilege::UsersCredentials => "users.credentials",
            Privilege::GroupsRead => "groups.read",
            Privilege::GroupsWrite => "groups.write",
            Privilege::RolesRead => "roles.read",
            Privilege::RolesWrite => "roles.write",
            Privilege::RolesAssign => "roles.assign",
            Privilege::ContainersRead => "containers.read",
            Privilege::ContainersWrite => "containers.write",
            Privilege::KeysManage => "keys.manage",
            Privilege::AuditRead => "audit.read",
            Privilege::WebhooksManage => "webhooks.manage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn description(self) -> &'static str {
        match self {
            Privilege::UsersRead => "Read users",
            Privilege::UsersWrite => "Create and change users",
            Privilege::UsersDelete => "Delete users",
            Privilege::UsersCredentials => "Set passwords, unlock accounts, reset MFA",
            Privilege::GroupsRead => "Read groups and their members",
            Privilege::GroupsWrite => "Create, change and delete groups and memberships",
            Privilege::RolesRead => "Read roles and role assignments",
            Privilege::RolesWrite => "Create, change and delete custom roles",
            Privilege::RolesAssign => "Grant and revoke role assignments",
            Privilege::ContainersRead => "Read containers",
            Privilege::ContainersWrite => "Create, change and delete containers",
            Privilege::KeysManage => "Manage other users' API keys",
            Privilege::AuditRead => "Read the audit log",
            Privilege::WebhooksManage => "Manage webhooks and read change events",
        }
    }
}

/// Where a grant applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    /// These containers and everything below them.
    Containers(Vec<Uuid>),
}

/// One role's privileges over one scope, and where it came from.
#[derive(Debug, Clone)]
pub struct Grant {
    pub assignment_id: Uuid,
    pub role_id: Uuid,
    pub role_name: String,
    pub privileges: Vec<Privilege>,
    pub scope: Scope,
    /// The group through which the user holds this grant, if any.
    pub via_group: Option<(Uuid, String)>,
}

/// What an action is aimed at.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Something not placed in a container (roles, groups, the audit log):
    /// needs the privilege over every object or on the root container.
    Global,
    /// An object in a container, given with its ancestors (nearest first,
    /// the root last).
    In(&'a [Uuid]),
}

impl Principal {
    /// Privileges a role-restricted key may still use.
    fn allows(&self, privilege: Privilege) -> bool {
        self.restriction
            .as_ref()
            .is_none_or(|r| r.contains(&privilege))
    }

    /// A credential with its owner's whole power: not a restricted key and
    /// not an enrolment-only token. Only such a credential may change its
    /// owner's own credentials (password, second factor).
    pub fn is_full_credential(&self) -> bool {
        self.restriction.is_none()
    }
}

/// A scope with its containers' ancestor chains resolved, so rules about
/// scopes can be decided without the store.
#[derive(Debug, Clone)]
pub enum ResolvedScope {
    All,
    /// One ancestor chain (nearest first, root last) per container.
    Chains(Vec<Vec<Uuid>>),
}

impl ResolvedScope {
    fn targets(&self) -> Vec<Target<'_>> {
        match self {
            ResolvedScope::All => vec![Target::Global],
            ResolvedScope::Chains(chains) => chains.iter().map(|c| Target::In(c)).collect(),
        }
    }
}

/// Whether `who` holds `privilege` over the whole of `scope`.
pub fn holds_over(who: &Principal, privilege: Privilege, scope: &ResolvedScope) -> bool {
    scope
        .targets()
        .into_iter()
        .all(|t| granting(who, privilege, t).is_some())
}

/// **The conferral rule**, the one check behind every operation that makes
/// a holder able to do more (or, in reverse, less): assigning, re-scoping or
/// revoking a role, adding or removing a group member, changing a role's
/// privileges, DigiCert's container assignments. The actor must hold
/// `roles.assign` and each conferred privilege over the whole scope, so
/// nobody hands out (or takes away) more than they themselves hold.
pub fn may_confer(
    who: &Principal,
    privileges: &[Privilege],
    scope: &ResolvedScope,
) -> Result<(), CoreError> {
    std::iter::once(&Privilege::RolesAssign)
        .chain(privileges)
        .all(|p| holds_over(who, *p, scope))
        .then_some(())
        .ok_or(CoreError::Forbidden)
}

/// **Not above yourself**: acting on a user's credentials, profile, state,
/// MFA, roles or memberships needs, besides the privilege on the user's
/// container, every privilege the user holds over the user's scopes.
/// `held` is what the user holds, each grant's privileges with its scope.
pub fn dominates(
    who: &Principal,
    held: &[(Vec<Privilege>, ResolvedScope)],
) -> Result<(), CoreError> {
    held.iter()
        .all(|(privileges, scope)| privileges.iter().all(|p| holds_over(who, *p, scope)))
        .then_some(())
        .ok_or(CoreError::Forbidden)
}

/// The privileges a credential derived from `who` may carry: within the
/// caller's own restriction (when it has one) and within `role` (when the
/// new credential is restricted to one). `None` means unrestricted.
pub fn derived_restriction(who: &Principal, role: Option<&[Privilege]>) -> Option<Vec<Privilege>> {
    match (&who.restriction, role) {
        (None, None) => None,
        (Some(r), None) => Some(r.clone()),
        (None, Some(role)) => Some(role.to_vec()),
        (Some(r), Some(role)) => Some(r.iter().copied().filter(|p| role.contains(p)).collect()),
    }
}

/// The grant that allows `privilege` on `target`, if any.
pub fn granting<'p>(
    who: &'p Principal,
    privilege: Privilege,
    target: Target<'_>,
) -> Option<&'p Grant> {
    if !who.allows(privilege) {
        return None;
    }
    who.grants.iter().find(|g| {
        g.privileges.contains(&privilege)
            && match (&g.scope, target) {
                (Scope::All, _) => true,
                (Scope::Containers(cs), Target::Global) => {
                    cs.contains(&crate::access::ROOT_CONTAINER_ID)
                }
                (Scope::Containers(cs), Target::In(chain)) => chain.iter().any(|c| cs.contains(c)),
            }
    })
}

pub fn authorize(
    who: &Principal,
    privilege: Privilege,
    target: Target<'_>,
) -> Result<(), CoreError> {
    granting(who, privilege, target)
        .map(|_| ())
        .ok_or(CoreError::Forbidden)
}

/// The containers under which `privilege` is granted: `None` means all.
pub fn scope_of(who: &Principal, privilege: Privilege) -> Option<Vec<Uuid>> {
    if !who.allows(privilege) {
        return Some(Vec::new());
    }
    let mut roots = Vec::new();
    for g in who
        .grants
        .iter()
        .filter(|g| g.privileges.contains(&privilege))
    {
        match &g.scope {
            Scope::All => return None,
            Scope::Containers(cs) => roots.extend(cs.iter().copied()),
        }
    }
    roots.sort();
    roots.dedup();
    Some(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::CredentialKind;

    fn grant(privileges: &[Privilege], scope: Scope) -> Grant {
        Grant {
            assignment_id: Uuid::now_v7(),
            role_id: Uuid::now_v7(),
            role_name: "r".into(),
            privileges: privileges.to_vec(),
            scope,
            via_group: None,
        }
    }

    fn principal(grants: Vec<Grant>, restriction: Option<Vec<Privilege>>) -> Principal {
        Principal {
            user_id: Uuid::now_v7(),
            username: "u".into(),
            container_id: crate::access::ROOT_CONTAINER_ID,
            grants,
            restriction,
            enroll_only: false,
            credential: CredentialKind::Token {
                token_id: Uuid::nil(),
            },
        }
    }

    #[test]
    fn scoped_grants_cover_sub_containers_only() {
        let (a, a_child, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let root = crate::access::ROOT_CONTAINER_ID;
        let p = principal(
            vec![grant(&[Privilege::UsersWrite], Scope::Containers(vec![a]))],
            None,
        );
        assert!(authorize(&p, Privilege::UsersWrite, Target::In(&[a_child, a, root])).is_ok());
        assert!(authorize(&p, Privilege::UsersWrite, Target::In(&[a, root])).is_ok());
        assert!(authorize(&p, Privilege::UsersWrite, Target::In(&[b, root])).is_err());
        assert!(authorize(&p, Privilege::UsersRead, Target::In(&[a, root])).is_err());
        assert!(authorize(&p, Privilege::UsersWrite, Target::Global).is_err());
        assert_eq!(scope_of(&p, Privilege::UsersWrite), Some(vec![a]));
    }

    #[test]
    fn key_restriction_caps_privileges() {
        let all = grant(&Privilege::ALL, Scope::All);
        let p = principal(vec![all], Some(vec![Privilege::UsersRead]));
        assert!(authorize(&p, Privilege::UsersRead, Target::Global).is_ok());
        assert!(authorize(&p, Privilege::UsersWrite, Target::Global).is_err());
        assert_eq!(scope_of(&p, Privilege::UsersWrite), Some(vec![]));
    }
}
