//! Staff passwords: argon2id with a random salt, stored as a PHC string that
//! records the parameters, so they can be raised later without a migration.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use std::sync::OnceLock;

pub const MIN_LENGTH: usize = 10;
const MAX_LENGTH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("a password may have at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// After each hash or check, when argon2id's 19 MiB work area has just been
/// freed: the server hands that memory back to the system.
fn hashed<T>(result: T) -> T {
    crate::memory::release();
    result
}

pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    hashed(
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string())),
    )
}

/// Checks a password against a stored PHC string (constant time inside
/// argon2). A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    password.len() <= MAX_LENGTH
        && hashed(
            Argon2::default()
                .verify_password(password.as_bytes(), stored)
                .is_ok(),
        )
}

/// Spends the same work as a real check, for unknown usernames, so the
/// answer's timing doesn't reveal which accounts exist.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("dummy-password-for-timing").unwrap_or_default());
    let _ = verify(password, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_with_random_salts() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m="), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
    }

    #[test]
    fn verification_accepts_only_the_right_password() {
        let stored = hash("correct horse battery").unwrap();
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterz", &stored));
        assert!(!verify("", &stored));
        assert!(!verify("correct horse battery", "not-a-phc-string"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(hash("short"), Err(PasswordError::TooShort)));
    }

    #[test]
    fn memory_is_released_after_each_hash_and_each_check() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        fn count() {
            RUNS.fetch_add(1, Ordering::SeqCst);
        }
        crate::memory::on_release(count);
        let before = RUNS.load(Ordering::SeqCst);
        let stored = hash("correct horse battery").expect("hash");
        let after_hash = RUNS.load(Ordering::SeqCst);
        assert!(after_hash > before, "no run after hashing");
        assert!(verify("correct horse battery", &stored));
        assert!(
            RUNS.load(Ordering::SeqCst) > after_hash,
            "no run after checking"
        );
    }
}
