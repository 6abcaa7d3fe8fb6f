//! Link tokens: the single-use secrets in the links roster emails
//! (invitation, password reset, email verification). The token is 32 random
//! bytes (URL-safe base64); only its SHA-256 is stored. A token is bound to
//! its user's credential epoch when it was minted, so a password or factor
//! change kills every link sent before it, and it is deleted when used.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Secret;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkPurpose {
    /// Set the first password of an account created without one.
    Invite,
    /// Set a new password after "forgot password".
    Reset,
    /// Prove the user receives mail at its address.
    Verify,
}

impl LinkPurpose {
    pub const ALL: [LinkPurpose; 3] = [Self::Invite, Self::Reset, Self::Verify];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Reset => "reset",
            Self::Verify => "verify",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A stored link token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    /// SHA-256 of the token, lower-case hex.
    pub token_hash: String,
    pub user_id: Uuid,
    pub purpose: LinkPurpose,
    /// The user's credential epoch when the link was made; the link is dead
    /// once the epoch has moved on.
    pub credential_epoch: i64,
    /// The address the link was sent to.
    pub email: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What redeeming a link does, in the same transaction that deletes it.
#[derive(Debug, Clone)]
pub enum LinkEffect {
    /// Sets the password hash (moving the credential epoch on, which ends
    /// every session and token) and, when the user's address is still the
    /// one the link went to, marks it verified.
    SetPassword { password_hash: String },
    /// Marks the address verified, if it is still the user's address.
    VerifyEmail,
}

/// A new token: the secret for the link, and its stored hash.
pub fn new_token() -> (Secret, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = crate::auth::hash_key(&token);
    (Secret::new(token), hash)
}

/// Whether a string can be a token at all (checked before any lookup).
pub fn plausible(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token();
        let (b, hb) = new_token();
        assert_ne!(a.expose(), b.expose());
        assert_ne!(ha, hb);
        assert!(plausible(a.expose()));
        assert_eq!(crate::auth::hash_key(a.expose()), ha);
        assert!(!plausible("short"));
        assert!(!plausible(&format!("{}!", "a".repeat(42))));
    }

    #[test]
    fn purposes_round_trip() {
        for p in LinkPurpose::ALL {
            assert_eq!(LinkPurpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(LinkPurpose::parse("other"), None);
    }
}
