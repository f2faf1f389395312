//! Users who log in with a username and password (the web UI, vendor APIs that log in with a
//! password): the rules for names and passwords, hashing, and the login service.

pub mod login;
pub mod password;

pub use login::{LoginError, LoginSession, Users};
pub use password::{PasswordError, PasswordHasher};

/// Shortest and longest password, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=256;
/// Shortest and longest username, in characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=64;

/// The stored form of `username` (lower-cased), or why it is not acceptable.
pub fn check_username(username: &str) -> Result<String, String> {
    let name = chasqui_store::normalize_username(username);
    if !USERNAME_CHARS.contains(&name.chars().count()) {
        return Err(format!(
            "must be {} to {} characters",
            USERNAME_CHARS.start(),
            USERNAME_CHARS.end()
        ));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._@-".contains(c);
    if !name.chars().all(allowed) {
        return Err("may hold only letters a-z, digits and . _ @ -".into());
    }
    Ok(name)
}

/// Why `password` is not acceptable, if it is not.
pub fn check_password(password: &str) -> Result<(), String> {
    if PASSWORD_CHARS.contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(format!(
            "must be {} to {} characters",
            PASSWORD_CHARS.start(),
            PASSWORD_CHARS.end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_cased_and_checked() {
        assert_eq!(
            check_username("  Ana.Perez@Shop-1 ").as_deref(),
            Ok("ana.perez@shop-1")
        );
        assert!(check_username("ab").is_err());
        assert!(check_username(&"a".repeat(65)).is_err());
        assert!(check_username("ana perez").is_err());
        assert!(check_username("ñandú").is_err());
        assert!(check_username("a_b").is_ok());
    }

    #[test]
    fn passwords_have_a_length_range_in_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"ñ".repeat(256)).is_ok());
        assert!(check_password(&"x".repeat(257)).is_err());
    }
}
