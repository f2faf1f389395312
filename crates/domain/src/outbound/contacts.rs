//! `contacts` messages: an array of contact cards.

use super::check::{item, join, Checker, Count, Str};
use serde_json::Value;

/// WhatsApp's limit on cards per message.
pub(super) const MAX_CONTACTS: usize = 5;

/// The list fields of a card; each holds objects.
const LISTS: [&str; 4] = ["phones", "emails", "addresses", "urls"];

/// Checks each card of a `contacts` array at `path`.
pub(super) fn check(c: &mut Checker, contacts: &[Value], path: &str) {
    for (i, contact) in contacts.iter().enumerate() {
        let card_path = item(path, i);
        let Some(card) = c.as_object(contact, &card_path) else {
            continue;
        };
        if let Some(name) = c.object(card, &card_path, "name", true) {
            c.string(
                name,
                &join(&card_path, "name"),
                "formatted_name",
                Str::REQUIRED,
            );
        }
        for list in LISTS {
            let Some(entries) = c.array(card, &card_path, list, false, Count::ANY) else {
                continue;
            };
            let list_path = join(&card_path, list);
            for (j, entry) in entries.iter().enumerate() {
                c.as_object(entry, &item(&list_path, j));
            }
        }
        c.object(card, &card_path, "org", false);
        if let Some(birthday) = c.string(card, &card_path, "birthday", Str::OPTIONAL) {
            c.ensure(
                is_date(birthday),
                &card_path,
                "birthday",
                "must be a date in YYYY-MM-DD form",
            );
        }
    }
}

/// `YYYY-MM-DD` with a plausible month and day.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .map(|d| d.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4).is_some()
        && digits(5..7).is_some_and(|m| (1..=12).contains(&m))
        && digits(8..10).is_some_and(|d| (1..=31).contains(&d))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::is_date;
    use serde_json::json;

    #[test]
    fn accepts_the_reference_example() {
        assert_ok(&message(
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"contacts","contacts":[{
  "name":{"formatted_name":"John Smith","first_name":"John","last_name":"Smith"},
  "phones":[{"phone":"+1 (650) 555-1234","type":"WORK","wa_id":"16505551234"}],
  "emails":[{"email":"j@example.com","type":"WORK"}],
  "addresses":[{"street":"1 Hacker Way","city":"Menlo Park","state":"CA","zip":"94025","country":"United States","country_code":"us","type":"WORK"}],
  "org":{"company":"WhatsApp","department":"Design","title":"Manager"},
  "urls":[{"url":"https://www.whatsapp.com","type":"WORK"}],
  "birthday":"2012-08-18"}]}"#,
        ));
    }

    #[test]
    fn one_to_five_cards() {
        let card = json!({"name": {"formatted_name": "A"}});
        assert_refused("contacts", json!([]), &[("contacts", "too_few")]);
        assert_accepted("contacts", json!(vec![card.clone(); 5]));
        assert_refused(
            "contacts",
            json!(vec![card; 6]),
            &[("contacts", "too_many")],
        );
    }

    #[test]
    fn each_card_needs_a_formatted_name() {
        assert_refused(
            "contacts",
            json!([{"name": {"formatted_name": "A"}}, {"name": {"first_name": "B"}}, {}, "C"]),
            &[
                ("contacts[1].name.formatted_name", "required"),
                ("contacts[2].name", "required"),
                ("contacts[3]", "invalid_type"),
            ],
        );
    }

    #[test]
    fn lists_hold_objects_and_birthday_is_a_date() {
        assert_refused(
            "contacts",
            json!([{
                "name": {"formatted_name": "A"},
                "phones": ["+1 650 555 1234"],
                "emails": {"email": "a@b.c"},
                "org": "Acme",
                "birthday": "18/08/2012",
            }]),
            &[
                ("contacts[0].phones[0]", "invalid_type"),
                ("contacts[0].emails", "invalid_type"),
                ("contacts[0].org", "invalid_type"),
                ("contacts[0].birthday", "invalid_value"),
            ],
        );
    }

    #[test]
    fn dates() {
        assert!(is_date("2012-08-18"));
        assert!(is_date("1999-12-31"));
        for bad in [
            "",
            "2012-8-18",
            "2012-13-01",
            "2012-00-10",
            "2012-01-32",
            "2012/01/01",
            "abcd-01-01",
            "2012-01-011",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }
}
