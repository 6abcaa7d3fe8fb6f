//! TOTP (RFC 6238) second factor: 6 digits, 30-second steps, SHA-1 (what
//! authenticator apps expect), one step of clock skew either way.

use totp_rs::{Algorithm, Secret as TotpSecret, TOTP};

use crate::error::CoreError;

const ISSUER: &str = "roster";

/// A fresh random secret, base32-encoded.
pub fn new_secret() -> String {
    match TotpSecret::generate_secret().to_encoded() {
        TotpSecret::Encoded(s) => s,
        TotpSecret::Raw(bytes) => TotpSecret::Raw(bytes).to_encoded().to_string(),
    }
}

fn totp(secret_base32: &str, account: &str) -> Result<TOTP, CoreError> {
    let bytes = TotpSecret::Encoded(secret_base32.to_string())
        .to_bytes()
        .map_err(CoreError::internal)?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some(ISSUER.into()),
        account.to_string(),
    )
    .map_err(CoreError::internal)
}

/// The `otpauth://` URI an authenticator app imports (usually as a QR code).
pub fn uri(secret_base32: &str, account: &str) -> Result<String, CoreError> {
    Ok(totp(secret_base32, account)?.get_url())
}

/// Whether `code` is valid now (constant-time comparison inside totp-rs).
pub fn check(secret_base32: &str, code: &str) -> bool {
    matching_step(secret_base32, code).is_some()
}

/// The 30-second step `code` belongs to, if it is valid now (this step or
/// one either side). Logins remember it so that a code works once.
pub fn matching_step(secret_base32: &str, code: &str) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret_base32, "x").ok()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut found = None;
    // Every candidate is computed, so the time taken does not say which matched.
    for offset in [-30i64, 0, 30] {
        let at = now + offset;
        let expected = t.generate(at.max(0) as u64);
        if bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            code.as_bytes(),
        )) {
            found = Some(at.div_euclid(30));
        }
    }
    found
}

/// The current code (tests and tooling).
pub fn current_code(secret_base32: &str) -> Result<String, CoreError> {
    totp(secret_base32, "x")?
        .generate_current()
        .map_err(CoreError::internal)
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_round_trip() {
        let s = super::new_secret();
        let code = super::current_code(&s).unwrap();
        assert!(super::check(&s, &code));
        assert!(!super::check(&s, "000000") || code == "000000");
        assert!(!super::check(&s, "12345"));
        assert!(
            super::uri(&s, "alice")
                .unwrap()
                .starts_with("otpauth://totp/roster:alice?")
        );
    }
}
