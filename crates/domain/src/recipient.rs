//! Who a message goes to: a phone number, or, since 2026, a business-scoped user id (BSUID) for
//! people who chose a WhatsApp username and whose number the business may not see.

use std::fmt;

use crate::PhoneNumber;

/// Most alphanumerics after the country code Meta documents (and `ENT.` for parent ids).
const MAX_USER_ID_CHARS: usize = 128;

/// A business-scoped user id: `US.13491208655302741918`, or a parent id shared across business
/// portfolios, `US.ENT.11815799212886844830`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

/// Why a string is not a BSUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a business-scoped user id (a two-letter country code, a dot, then letters and digits, e.g. US.13491208655302741918)")]
pub struct UserIdError;

impl UserId {
    /// Reads Meta's form; anything else is refused.
    pub fn parse(text: &str) -> Result<Self, UserIdError> {
        let (country, rest) = text.split_once('.').ok_or(UserIdError)?;
        let id = rest.strip_prefix("ENT.").unwrap_or(rest);
        let valid = id.len() <= MAX_USER_ID_CHARS
            && country.len() == 2
            && country.bytes().all(|b| b.is_ascii_uppercase())
            && !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_alphanumeric());
        valid.then(|| Self(text.to_string())).ok_or(UserIdError)
    }

    /// The id as Meta writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a parent BSUID (`ENT`), shared by the portfolios of one enterprise.
    pub fn is_parent(&self) -> bool {
        self.0.get(3..7) == Some("ENT.")
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The recipient of a send.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// A phone number (Meta's `to`).
    Phone(PhoneNumber),
    /// A BSUID (Meta's `recipient`).
    User(UserId),
}

impl Recipient {
    /// Reads a recipient written either way: a BSUID when it has Meta's BSUID form, a phone
    /// number otherwise (the phone number's error when it is neither).
    pub fn parse(text: &str) -> Result<Self, crate::phone::PhoneError> {
        if let Ok(user) = UserId::parse(text.trim()) {
            return Ok(Self::User(user));
        }
        PhoneNumber::parse(text).map(Self::Phone)
    }

    /// How Chasqui stores and keys it (pacing, quotas, listings): the phone number's digits,
    /// or the BSUID. The two never collide: a BSUID always holds a dot.
    pub fn key(&self) -> &str {
        match self {
            Self::Phone(p) => p.digits(),
            Self::User(u) => u.as_str(),
        }
    }

    /// Reads back a stored [`key`](Self::key); `None` for neither form.
    pub fn from_key(key: &str) -> Option<Self> {
        if key.contains('.') {
            UserId::parse(key).ok().map(Self::User)
        } else {
            PhoneNumber::parse(key).ok().map(Self::Phone)
        }
    }

    /// How people read it: `+` and the digits, or the BSUID.
    pub fn display_key(key: &str) -> String {
        if key.contains('.') {
            key.to_string()
        } else {
            format!("+{key}")
        }
    }

    /// The phone number, when the recipient is named by one.
    pub fn phone(&self) -> Option<&PhoneNumber> {
        match self {
            Self::Phone(p) => Some(p),
            Self::User(_) => None,
        }
    }

    /// The Cloud API's field for it: `to` for a phone number, `recipient` for a BSUID.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Phone(_) => "to",
            Self::User(_) => "recipient",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsuids_and_parent_bsuids_parse() {
        let u = UserId::parse("US.13491208655302741918").expect("bsuid");
        assert!(!u.is_parent());
        let p = UserId::parse("US.ENT.11815799212886844830").expect("parent");
        assert!(p.is_parent());
        assert!(UserId::parse("BR.1502576394655843").is_ok());
        for bad in [
            "",
            "US",
            "US.",
            "us.123",
            "USA.123",
            "US.12 3",
            "US.ENT.",
            "13491208655302741918",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
        assert!(UserId::parse(&format!("US.{}", "1".repeat(129))).is_err());
    }

    #[test]
    fn a_recipient_is_a_bsuid_or_a_phone_number() {
        let user = Recipient::parse("US.13491208655302741918").expect("bsuid");
        assert_eq!(
            (user.key(), user.field()),
            ("US.13491208655302741918", "recipient")
        );
        assert_eq!(user.phone(), None);
        let phone = Recipient::parse("+51 987 654 321").expect("phone");
        assert_eq!((phone.key(), phone.field()), ("51987654321", "to"));
        assert!(Recipient::parse("hello").is_err());
        assert_eq!(
            Recipient::from_key("US.1"),
            Some(Recipient::User(UserId("US.1".into())))
        );
        assert_eq!(Recipient::from_key("51987654321"), Some(phone));
        assert_eq!(Recipient::display_key("51987654321"), "+51987654321");
        assert_eq!(Recipient::display_key("US.1"), "US.1");
    }
}
