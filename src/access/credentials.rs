//! Passwords and API tokens: a password is kept only as an argon2id hash (OWASP's parameters:
//! 19 MiB, 2 passes, 1 lane), a token only as its SHA-256 (it is 256 random bits, so a fast
//! hash is enough and lets a request find its token by hash).

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};

use crate::text::hex;

/// The shortest password accepted (ASVS 2.1.1), counted in characters.
pub const MIN_PASSWORD: usize = 12;
/// The longest password accepted (ASVS 2.1.2 asks that at least 64 be allowed).
pub const MAX_PASSWORD: usize = 128;

/// The longest a token may last, in days.
pub const MAX_TOKEN_DAYS: u32 = 366;

/// What every token begins with, so a leaked one is recognisable (e.g. by secret scanners).
pub const TOKEN_PREFIX: &str = "esc_";
/// How every calendar feed token begins.
pub const FEED_PREFIX: &str = "cal_";

/// A password that cannot be used, or a hash that cannot be made; one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// Too short, too long, or not one line.
    #[error("the password {0}")]
    BadPassword(String),
    /// The hasher failed (it should not).
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

fn hasher() -> Argon2<'static> {
    // OWASP's first argon2id configuration; `Params::new` only fails on values out of range.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password against the rules: length only, no composition rules (ASVS 2.1.9),
/// and no control characters (it must be typeable).
pub fn check_password(password: &str) -> Result<(), CredentialError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD {
        return Err(CredentialError::BadPassword(format!(
            "must be at least {MIN_PASSWORD} characters"
        )));
    }
    if chars > MAX_PASSWORD {
        return Err(CredentialError::BadPassword(format!(
            "must be at most {MAX_PASSWORD} characters"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(CredentialError::BadPassword(
            "must not hold control characters or line breaks".into(),
        ));
    }
    Ok(())
}

/// The argon2id hash (PHC string) of a password that passes [`check_password`].
pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    check_password(password)?;
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CredentialError::Hash(e.to_string()))
}

/// Whether `password` matches the stored `hash`; a hash that does not parse matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The hash a password is checked against when there is no account (or it has no password),
/// so that the answer takes the same argon2 work and its time does not tell whether the
/// account exists. Made with [`hash_password`] from a random password nobody kept; a unit test
/// checks that its parameters are the hasher's.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$N6/QFIt6YLavA1TF5ak7xQ$3Xs5xhnpbfUSbSenbqcneGKv8nppzJ8aytaI9TaDhS0";

/// Whether `password` matches `hash`; with no hash, the same work against a hash nothing
/// matches, and false.
pub fn verify_password_or_dummy(password: &str, hash: Option<&str>) -> bool {
    let matched = verify_password(password, hash.unwrap_or(DUMMY_HASH));
    matched && hash.is_some()
}

/// A new token: the secret, shown once, and the hash that is stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// `esc_` and 64 hex digits (256 bits from the operating system).
    pub secret: String,
    /// [`token_hash`] of it.
    pub hash: String,
}

/// Makes a new API token.
pub fn new_token() -> NewToken {
    new_secret(TOKEN_PREFIX)
}

/// Makes a new calendar feed token (`cal_…`): a secret of the same strength that a calendar
/// program keeps in the feed's address, and that signs in nowhere else.
pub fn new_feed_token() -> NewToken {
    new_secret(FEED_PREFIX)
}

/// `n` random bytes from the operating system, as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

fn new_secret(prefix: &str) -> NewToken {
    let secret = format!("{prefix}{}", random_hex(32));
    let hash = token_hash(&secret);
    NewToken { secret, hash }
}

/// A random password of 24 characters from an unambiguous alphabet, for a first admin.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    // Bytes at or above the largest multiple of the alphabet's size are dropped, so every
    // character is equally likely (about 5.75 bits each, 138 in all).
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut out = String::with_capacity(24);
    while out.len() < 24 {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        out.extend(
            bytes
                .iter()
                .filter(|b| **b < limit)
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .take(24 - out.len()),
        );
    }
    out
}

/// Whether `text` has an API token's form: the prefix and 64 lower-case hex digits.
pub fn is_token(text: &str) -> bool {
    has_form(text, TOKEN_PREFIX)
}

/// Whether `text` has a calendar feed token's form.
pub fn is_feed_token(text: &str) -> bool {
    has_form(text, FEED_PREFIX)
}

fn has_form(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The stored form of a token: SHA-256, hex.
pub fn token_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_itself_and_is_salted() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert_ne!(hash, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does_and_matches_nothing() {
        let real = hash_password("correct horse battery").unwrap();
        let params = |h: &str| h.rsplitn(3, '$').nth(2).unwrap().to_string();
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(verify_password_or_dummy(
            "correct horse battery",
            Some(&real)
        ));
        assert!(!verify_password_or_dummy(
            "correct horse batterY",
            Some(&real)
        ));
        assert!(!verify_password_or_dummy("correct horse battery", None));
        assert!(!verify_password_or_dummy("", None));
    }

    #[test]
    fn password_rules_are_length_and_typeable() {
        assert!(check_password("elevenchars").is_err());
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password(&"é".repeat(128)).is_ok());
        assert!(check_password(&"é".repeat(129)).is_err());
        assert_eq!(
            check_password("twelve chars\nand more")
                .unwrap_err()
                .to_string(),
            "the password must not hold control characters or line breaks"
        );
    }

    #[test]
    fn tokens_are_random_prefixed_and_stored_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(TOKEN_PREFIX) && a.secret.len() == 4 + 64);
        assert!(is_token(&a.secret));
        for not in [
            "esc_",
            "esc_0123",
            &a.secret.to_uppercase(),
            &format!("{}0", a.secret),
            &a.secret[1..],
        ] {
            assert!(!is_token(not), "{not}");
        }
        assert_eq!(a.hash, token_hash(&a.secret));
        assert!(!a.hash.contains(&a.secret[4..]));
        // A feed token and an API token are never taken for each other.
        let feed = new_feed_token();
        assert!(is_feed_token(&feed.secret) && !is_token(&feed.secret));
        assert!(!is_feed_token(&a.secret));
        assert_eq!(random_password().chars().count(), 24);
        assert_ne!(random_password(), random_password());
    }
}
