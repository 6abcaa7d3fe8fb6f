//! Passwords seen most often in public breach corpora. The policy rejects
//! these regardless of length (compared case-insensitively).

const LIST: &str = include_str!("common_passwords.txt");

pub fn is_common(password: &str) -> bool {
    let lowered = password.to_lowercase();
    LIST.lines().any(|l| l == lowered)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_bad_and_seed_examples() {
        assert!(super::is_common("Password123"));
        assert!(super::is_common("qwertyuiop"));
        // The seed pages' examples must pass.
        assert!(!super::is_common("Test@123"));
        assert!(!super::is_common("ThisIsASuperLongPassword"));
    }
}
