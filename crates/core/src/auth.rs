//! Credentials: API keys (random, shown once, stored as SHA-256) and signed
//! short-lived tokens. Who a credential belongs to is a [`Principal`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::Secret;
use crate::access::ApiKeyInfo;
use crate::authz::Privilege;
use crate::error::CoreError;
use crate::user::User;

/// Recognisable prefix, so a leaked key is easy to find with secret scanners.
pub const API_KEY_PREFIX: &str = "rst_";
pub const MIN_CONFIGURED_KEY_LEN: usize = 32;

/// The caller of a request, as every face hands it to the core.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub username: String,
    /// The caller's home container: where users it creates land by default.
    pub container_id: Uuid,
    pub grants: Vec<crate::authz::Grant>,
    /// Set for restricted credentials: the privileges they may use (a
    /// role-restricted API key; an enrolment-only token has none).
    pub restriction: Option<Vec<crate::authz::Privilege>>,
    /// A token good only for reading oneself and enrolling a second factor.
    pub enroll_only: bool,
    pub credential: CredentialKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    ApiKey {
        key_id: Uuid,
    },
    Token {
        token_id: Uuid,
    },
    /// The operator's command line (`Ctx::operator`): no stored credential.
    Operator,
}

/// The audit actor of what the operator does from the command line.
pub const OPERATOR_ACTOR: &str = "cli";

/// A freshly generated key: the secret goes to the caller once, the rest to
/// the store.
pub struct GeneratedKey {
    pub secret: Secret,
    pub record: KeyRecord,
}

/// What the store keeps of an API key.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the secret, shown in listings to tell keys apart.
    pub prefix: String,
    pub hash: String,
}

pub fn hash_key(secret: &str) -> String {
    hex_lower(&Sha256::digest(secret.as_bytes()))
}

/// Lower-case hex of `bytes` (every digest and token roster shows or
/// stores in hex), as `hex::encode` writes it but through its
/// table: `hex::encode` collects one `char` at a time from an iterator,
/// ~2,000 instructions for a digest on every authenticated request.
pub fn hex_lower(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    // The output is exactly twice the input, all it requires.
    let _ = hex::encode_to_slice(bytes, &mut out);
    // Hex digits are ASCII: this never falls back.
    String::from_utf8(out).unwrap_or_default()
}

/// Constant-time equality of two stored hashes.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub fn generate_key(name: &str) -> GeneratedKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    record_for(name, Secret::new(secret))
}

/// Wraps an operator-chosen key (from configuration) like a generated one.
pub fn record_for(name: &str, secret: Secret) -> GeneratedKey {
    let prefix: String = secret.expose().chars().take(8).collect();
    let record = KeyRecord {
        id: Uuid::now_v7(),
        name: name.to_string(),
        prefix,
        hash: hash_key(secret.expose()),
    };
    GeneratedKey { secret, record }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    jti: Uuid,
    iat: i64,
    exp: i64,
    iss: String,
    /// A token that may only enrol a second factor.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    mfa_enroll: bool,
    /// A token whose lifetime slides with use (checked against its session).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sliding: bool,
    /// The user's credential epoch at issue: a password or factor change
    /// moves it on, and older tokens are refused.
    #[serde(default)]
    ep: i64,
}

/// What a token is issued for.
pub struct TokenSpec {
    pub user_id: Uuid,
    pub credential_epoch: i64,
    /// The account must enrol a second factor; the token is good only for that.
    pub enroll_only: bool,
    /// A face's own lifetime; the configured one when absent.
    pub ttl_secs: Option<u64>,
    /// `exp` is then only a hard limit: the real life is its session's,
    /// which each use extends.
    pub sliding: bool,
}

pub struct IssuedToken {
    pub token: Secret,
    pub token_id: Uuid,
    pub expires_in_secs: u64,
    /// The account must enrol a second factor; the token is good only for that.
    pub enroll_only: bool,
}

/// Signs and checks roster's bearer tokens: HS256 with secrets kept in the
/// database, so every node that shares the database accepts them. Tokens
/// name their secret (`kid`); the newest signs, every stored one verifies,
/// so a rotation does not cut off tokens already issued.
pub struct TokenSigner {
    signing: (String, EncodingKey),
    verifying: Vec<(String, DecodingKey)>,
    validation: Validation,
    ttl_secs: u64,
}

const ISSUER: &str = "roster";

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Signed with a key this signer does not know (yet).
    UnknownKey,
    /// Malformed, forged or expired.
    Invalid,
}

/// What a valid token says.
pub struct TokenClaims {
    pub user_id: Uuid,
    pub token_id: Uuid,
    pub expires_at: i64,
    pub enroll_only: bool,
    pub sliding: bool,
    pub credential_epoch: i64,
}

impl TokenSigner {
    /// `keys` newest first; must not be empty.
    pub fn new(keys: &[(String, Vec<u8>)], ttl_secs: u64) -> Result<Self, CoreError> {
        let (kid, secret) = keys
            .first()
            .ok_or_else(|| CoreError::internal("no signing key"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        // No grace period by default: a token is refused as soon as its
        // `exp` passes, so it lives exactly as long as `expires_in` says.
        validation.leeway = 0;
        Ok(Self {
            signing: (kid.clone(), EncodingKey::from_secret(secret)),
            verifying: keys
                .iter()
                .map(|(k, s)| (k.clone(), DecodingKey::from_secret(s)))
                .collect(),
            validation,
            ttl_secs,
        })
    }

    /// Accepts tokens up to `secs` after their `exp`, for clusters whose
    /// clocks disagree (`ROSTER_TOKEN_LEEWAY_SECS`; 0 by default).
    pub fn with_leeway(mut self, secs: u64) -> Self {
        self.validation.leeway = secs;
        self
    }

    pub fn issue(&self, spec: &TokenSpec) -> Result<IssuedToken, CoreError> {
        let ttl = spec.ttl_secs.unwrap_or(self.ttl_secs);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: spec.user_id,
            jti: Uuid::now_v7(),
            iat: now,
            exp: now + ttl as i64,
            iss: ISSUER.into(),
            mfa_enroll: spec.enroll_only,
            sliding: spec.sliding,
            ep: spec.credential_epoch,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing.0.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &self.signing.1).map_err(CoreError::internal)?;
        Ok(IssuedToken {
            token: Secret::new(token),
            token_id: claims.jti,
            expires_in_secs: ttl,
            enroll_only: spec.enroll_only,
        })
    }

    pub fn verify(&self, token: &str) -> Result<TokenClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = self
            .verifying
            .iter()
            .find(|(k, _)| *k == kid)
            .map(|(_, key)| key)
            .ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        Ok(TokenClaims {
            user_id: data.claims.sub,
            token_id: data.claims.jti,
            expires_at: data.claims.exp,
            enroll_only: data.claims.mfa_enroll,
            sliding: data.claims.sliding,
            credential_epoch: data.claims.ep,
        })
    }
}

/// Tokens have three dot-separated parts; API keys never contain a dot.
pub fn looks_like_token(credential: &str) -> bool {
    credential.split('.').count() == 3
}

/// The owner of an API key, and the key's own state.
pub struct KeyOwner {
    pub key: ApiKeyInfo,
    pub key_hash: String,
    pub user: User,
    /// The privileges the key was limited to when it was minted (a key
    /// minted by a restricted credential keeps its restriction).
    pub cap: Option<Vec<Privilege>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_hex_encodes() {
        for bytes in [
            &[][..],
            &[0],
            &[0xff, 0x0a, 0xa0],
            &Sha256::digest(b"key")[..],
        ] {
            assert_eq!(hex_lower(bytes), hex::encode(bytes));
        }
    }

    #[test]
    fn keys_are_prefixed_and_hashed() {
        let k = generate_key("test");
        assert!(k.secret.expose().starts_with("rst_"));
        assert!(k.secret.expose().len() >= 40);
        assert_eq!(k.record.hash, hash_key(k.secret.expose()));
        assert!(!looks_like_token(k.secret.expose()));
        assert!(hashes_equal(&k.record.hash, &hash_key(k.secret.expose())));
        assert!(!hashes_equal(&k.record.hash, &hash_key("other")));
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let k1 = (
            "k1".to_string(),
            b"0123456789abcdef0123456789abcdef".to_vec(),
        );
        let k2 = (
            "k2".to_string(),
            b"another-secret-another-secret-xx".to_vec(),
        );
        let s = TokenSigner::new(std::slice::from_ref(&k1), 60).unwrap();
        let uid = Uuid::now_v7();
        let t = s
            .issue(&TokenSpec {
                user_id: uid,
                credential_epoch: 0,
                enroll_only: false,
                ttl_secs: None,
                sliding: false,
            })
            .unwrap();
        assert!(looks_like_token(t.token.expose()));
        assert_eq!(s.verify(t.token.expose()).unwrap().user_id, uid);
        let other = TokenSigner::new(std::slice::from_ref(&k2), 60).unwrap();
        assert!(other.verify(t.token.expose()).is_err());
        // After a rotation the old key still verifies.
        let rotated = TokenSigner::new(&[k2, k1], 60).unwrap();
        assert!(rotated.verify(t.token.expose()).is_ok());
    }
}
