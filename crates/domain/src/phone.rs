//! Recipient phone numbers in E.164, parsed with the `phonenumber` library.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use phonenumber::Mode;
use serde::{Serialize, Serializer};

/// Longer inputs are refused before parsing: no real number needs more, and it bounds the work.
const MAX_INPUT_CHARS: usize = 40;

/// Inputs whose parse is remembered; the memo is emptied when full.
const MEMO_CAPACITY: usize = 16_384;

/// Parses by input: libphonenumber's pattern matching costs tens of microseconds per number, and
/// a business writes to the same recipients again and again (and the sandbox parses each send
/// once more). A pure function memoized: the answer for an input never changes.
static MEMO: LazyLock<Mutex<HashMap<String, Result<PhoneNumber, PhoneError>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Mexico's country code; its numbers are still written with the old mobile `1` (see `parse`).
const MEXICO: u16 = 52;

/// A valid phone number in E.164. Stored as digits without `+`, which is WhatsApp's `wa_id` form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why a string is not a usable phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Not parseable as an international number.
    #[error(
        "not an international phone number in E.164 form (country code first, e.g. +5215512345678)"
    )]
    Unparseable,
    /// Parsed, but no such number exists in its country's numbering plan.
    #[error("not a valid phone number for its country")]
    Invalid,
}

impl PhoneNumber {
    /// Parses `+5215512345678`, `5215512345678` or `+52 1 55 1234 5678` into E.164 digits.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        let rest = trimmed.strip_prefix('+').unwrap_or(trimmed);
        // Only digits and common separators: the library would otherwise read letters as keypad
        // digits ("1-800-FLOWERS") and accept extensions, neither of which WhatsApp can reach.
        let well_formed = rest.chars().count() <= MAX_INPUT_CHARS
            && rest.chars().any(|c| c.is_ascii_digit())
            && rest
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.'));
        if !well_formed {
            return Err(PhoneError::Unparseable);
        }
        if let Some(known) = MEMO.lock().ok().and_then(|m| m.get(rest).cloned()) {
            return known;
        }
        let parsed = Self::parse_digits(rest);
        if let Ok(mut memo) = MEMO.lock() {
            if memo.len() >= MEMO_CAPACITY {
                memo.clear();
            }
            memo.insert(rest.to_owned(), parsed.clone());
        }
        parsed
    }

    /// Like [`PhoneNumber::parse`], but also takes Meta's test numbers: North American numbers in
    /// the 555 area code (`+1 555 XXX XXXX`), which no numbering plan assigns, so the library
    /// calls them invalid, and which Meta gives to test WhatsApp Business Accounts. Only for
    /// the sender numbers of test channels (the sandbox), never for recipients.
    pub fn parse_test_sender(input: &str) -> Result<Self, PhoneError> {
        let refused = match Self::parse(input) {
            Ok(n) => return Ok(n),
            Err(e) => e,
        };
        let digits: String = input
            .trim()
            .trim_start_matches('+')
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let separators_only = input
            .trim()
            .trim_start_matches('+')
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.'));
        match digits.strip_prefix("1555") {
            Some(rest) if separators_only && rest.len() == 7 => Ok(Self(digits)),
            _ => Err(refused),
        }
    }

    /// Parses well-formed input (digits and separators, without `+`) with the library.
    fn parse_digits(rest: &str) -> Result<Self, PhoneError> {
        // The legacy Mexican mobile form is what Mexican wa_ids look like; judging it by its
        // modern form straight away parses once instead of twice.
        if let Some(modern) = legacy_mexican_mobile_digits(rest) {
            if phonenumber::parse(None, format!("+{MEXICO}{modern}")).is_ok_and(|n| n.is_valid()) {
                return Ok(Self(rest.to_owned()));
            }
        }
        let number =
            phonenumber::parse(None, format!("+{rest}")).map_err(|_| PhoneError::Unparseable)?;
        let e164 = number.format().mode(Mode::E164).to_string();
        let digits = e164.trim_start_matches('+');
        if number.is_valid()
            || is_legacy_mexican_mobile(number.code().value(), number.national().value())
        {
            Ok(Self(digits.to_owned()))
        } else {
            Err(PhoneError::Invalid)
        }
    }

    /// The digits without `+` (WhatsApp's `wa_id` form).
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// `+` and the digits.
    pub fn e164(&self) -> String {
        format!("+{}", self.0)
    }
}

/// The ten digits after `521` when `digits` is a plain `52 1 XXXXXXXXXX` number.
fn legacy_mexican_mobile_digits(digits: &str) -> Option<&str> {
    let rest = digits.strip_prefix(&format!("{MEXICO}1"))?;
    (rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

/// Mexico dropped the mobile `1` (`+52 1 55...`) from its numbering plan in 2019, so libphonenumber
/// calls such numbers invalid; WhatsApp still uses that form as the `wa_id`, so accept it when the
/// number without the `1` is valid.
fn is_legacy_mexican_mobile(country_code: u16, national: u64) -> bool {
    let national = national.to_string();
    match national.strip_prefix('1') {
        Some(rest) if country_code == MEXICO && rest.len() == 10 => {
            phonenumber::parse(None, format!("+{MEXICO}{rest}")).is_ok_and(|n| n.is_valid())
        }
        _ => false,
    }
}

impl std::fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.e164())
    }
}

/// The forms one WhatsApp number can take in Meta's `wa_id`: Mexico's and Argentina's mobile
/// numbers appear both with and without the mobile prefix (`521…`/`52…`, `549…`/`54…`), so a
/// recipient written one way must find the contact Meta reported the other way.
pub fn wa_id_variants(digits: &str) -> Vec<String> {
    let mut out = vec![digits.to_string()];
    for (with, without, len_without) in [("521", "52", 12), ("549", "54", 12)] {
        if let Some(rest) = digits.strip_prefix(with) {
            if digits.len() == len_without + 1 {
                out.push(format!("{without}{rest}"));
            }
        } else if let Some(rest) = digits.strip_prefix(without) {
            if digits.len() == len_without {
                out.push(format!("{with}{rest}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_parse_answers_like_the_library() {
        for input in [
            "+5215512345678",
            "+52 1 55 1234 5678",
            "+15550001234",
            "+52123",
            "16505551234",
        ] {
            let rest = input.trim_start_matches('+');
            let first = PhoneNumber::parse(input);
            assert_eq!(first, PhoneNumber::parse_digits(rest), "{input}");
            assert_eq!(PhoneNumber::parse(input), first, "{input}, remembered");
        }
    }

    #[test]
    fn mexican_and_argentine_mobiles_match_both_forms() {
        assert_eq!(
            wa_id_variants("5215512345678"),
            ["5215512345678", "525512345678"]
        );
        assert_eq!(
            wa_id_variants("525512345678"),
            ["525512345678", "5215512345678"]
        );
        assert_eq!(
            wa_id_variants("5491122334455"),
            ["5491122334455", "541122334455"]
        );
        assert_eq!(wa_id_variants("15550001234"), ["15550001234"]);
    }
    use proptest::prelude::*;

    fn digits(input: &str) -> String {
        match PhoneNumber::parse(input) {
            Ok(n) => n.digits().to_owned(),
            Err(e) => panic!("{input:?} should parse, got {e}"),
        }
    }

    #[test]
    fn accepts_numbers_of_several_countries_with_and_without_plus() {
        let cases = [
            ("+5215512345678", "5215512345678"), // MX, legacy mobile 1 (WhatsApp's wa_id form)
            ("+525512345678", "525512345678"),   // MX, current plan
            ("+5511987654321", "5511987654321"), // BR mobile with the 9th digit
            ("+573001234567", "573001234567"),   // CO
            ("+593991234567", "593991234567"),   // EC
            ("+51912345678", "51912345678"),     // PE
            ("+5491123456789", "5491123456789"), // AR mobile
            ("+16505551234", "16505551234"),     // US
            ("+34612345678", "34612345678"),     // ES
        ];
        for (input, expected) in cases {
            assert_eq!(digits(input), expected, "{input}");
            assert_eq!(digits(&input[1..]), expected, "{input} without +");
        }
    }

    #[test]
    fn accepts_spaces_dashes_and_parentheses() {
        assert_eq!(digits("+52 1 55 1234 5678"), "5215512345678");
        assert_eq!(digits("+1 (650) 555-1234"), "16505551234");
        assert_eq!(digits("  55 11 98765-4321 "), "5511987654321");
        assert_eq!(digits("+34 612.345.678"), "34612345678");
    }

    #[test]
    fn formats_as_e164() {
        let n = PhoneNumber::parse("1 650 555 1234").unwrap();
        assert_eq!(n.e164(), "+16505551234");
        assert_eq!(n.to_string(), "+16505551234");
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            serde_json::json!("+16505551234")
        );
    }

    #[test]
    fn refuses_garbage_letters_and_extensions() {
        for input in [
            "",
            "+",
            "   ",
            "hello",
            "+1650555123a",
            "+1-800-FLOWERS",
            "+1 650 555 1234 ext 5",
            "++16505551234",
            "+52 55 1234 5678 9999 9999 9999 9999 9999 9999",
        ] {
            assert_eq!(
                PhoneNumber::parse(input),
                Err(PhoneError::Unparseable),
                "{input:?}"
            );
        }
    }

    #[test]
    fn refuses_unknown_country_codes() {
        assert_eq!(PhoneNumber::parse("+0000"), Err(PhoneError::Unparseable));
        assert_eq!(
            PhoneNumber::parse("+999123456789"),
            Err(PhoneError::Unparseable)
        );
    }

    #[test]
    fn refuses_numbers_that_do_not_exist_in_their_plan() {
        for input in [
            "+123",
            "+52123",
            "+165055512345678",
            "+5215512345",
            // The legacy mobile form of a Mexican number that does not exist.
            "+5210012345678",
            "+3461234",
        ] {
            assert!(PhoneNumber::parse(input).is_err(), "{input:?}");
        }
        assert_eq!(PhoneNumber::parse("+52123"), Err(PhoneError::Invalid));
        assert_eq!(
            PhoneNumber::parse("+165055512345678"),
            Err(PhoneError::Invalid)
        );
    }

    #[test]
    fn test_senders_take_the_555_range_and_nothing_else_new() {
        for (input, expected) in [
            ("+15550000002", "15550000002"),
            ("+1 555 000 0002", "15550000002"),
            ("1-555-123-4567", "15551234567"),
            ("+5215512345678", "5215512345678"),
        ] {
            assert_eq!(
                PhoneNumber::parse_test_sender(input).map(|n| n.digits().to_owned()),
                Ok(expected.to_owned()),
                "{input}"
            );
        }
        assert!(PhoneNumber::parse("+15550000002").is_err());
        for input in [
            "+1555000000",
            "+155500000021",
            "+1555abc0002",
            "+25550000002",
            "",
        ] {
            assert!(PhoneNumber::parse_test_sender(input).is_err(), "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(input in ".{0,64}") {
            let _ = PhoneNumber::parse(&input);
        }

        #[test]
        fn never_panics_on_digit_soup(input in "[+]?[0-9 ()\\-.]{0,40}") {
            if let Ok(n) = PhoneNumber::parse(&input) {
                prop_assert!(n.digits().chars().all(|c| c.is_ascii_digit()));
                prop_assert_eq!(PhoneNumber::parse(n.digits()), Ok(n.clone()));
            }
        }
    }
}
