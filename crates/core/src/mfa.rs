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
    let code = code.trim();
    code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && totp(secret_base32, "x").is_ok_and(|t| t.check_current(code).unwrap_or(false))
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
