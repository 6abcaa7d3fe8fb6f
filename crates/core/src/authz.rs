//! Who may do what. Every service call asks here before it touches the store;
//! faces never decide this themselves.

use uuid::Uuid;

use crate::auth::Principal;
use crate::error::CoreError;

/// The built-in role that holds every privilege.
pub const ADMINISTRATOR_ROLE: &str = "administrator";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    UsersRead,
    UsersWrite,
    UsersDelete,
}

/// What an action is aimed at, so that rules about "yourself" can apply.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    AnyUser,
    User(Uuid),
}

/// Administrators may do everything; any signed-in user may read their own
/// record. Scoped roles and containers refine this in the access model.
pub fn authorize(who: &Principal, privilege: Privilege, target: Target) -> Result<(), CoreError> {
    if who.roles.iter().any(|r| r == ADMINISTRATOR_ROLE) {
        return Ok(());
    }
    match (privilege, target) {
        (Privilege::UsersRead, Target::User(id)) if id == who.user_id => Ok(()),
        _ => Err(CoreError::Forbidden),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::CredentialKind;

    fn principal(roles: &[&str]) -> Principal {
        Principal {
            user_id: Uuid::now_v7(),
            username: "u".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            credential: CredentialKind::Token {
                token_id: Uuid::nil(),
            },
        }
    }

    #[test]
    fn admin_may_all_others_only_read_self() {
        let admin = principal(&[ADMINISTRATOR_ROLE]);
        assert!(authorize(&admin, Privilege::UsersDelete, Target::AnyUser).is_ok());
        let user = principal(&[]);
        assert!(authorize(&user, Privilege::UsersRead, Target::User(user.user_id)).is_ok());
        assert!(authorize(&user, Privilege::UsersWrite, Target::User(user.user_id)).is_err());
        assert!(authorize(&user, Privilege::UsersRead, Target::AnyUser).is_err());
    }
}
