//! Locations: `location` messages and template header location parameters.

use super::check::{Checker, Object, Str};

/// Checks a location object at `path`.
pub(super) fn check(c: &mut Checker, location: &Object, path: &str) {
    c.keys(
        location,
        path,
        &["latitude", "longitude", "name", "address"],
        &[],
        "",
    );
    c.number_in(location, path, "latitude", true, (-90.0, 90.0));
    c.number_in(location, path, "longitude", true, (-180.0, 180.0));
    c.string(location, path, "name", Str::OPTIONAL);
    c.string(location, path, "address", Str::OPTIONAL);
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use serde_json::json;

    #[test]
    fn accepts_the_reference_example_and_numbers() {
        assert_ok(&message(
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"location",
 "location":{"latitude":"37.758056","longitude":"-122.425332","name":"META HQ","address":"1 Hacker Way, Menlo Park, CA 94025"}}"#,
        ));
        assert_accepted("location", json!({"latitude": -90, "longitude": 180.0}));
    }

    #[test]
    fn coordinates_are_required_numeric_and_in_range() {
        assert_refused(
            "location",
            json!({}),
            &[
                ("location.latitude", "required"),
                ("location.longitude", "required"),
            ],
        );
        assert_refused(
            "location",
            json!({"latitude": 90.5, "longitude": "-180.1"}),
            &[
                ("location.latitude", "invalid_value"),
                ("location.longitude", "invalid_value"),
            ],
        );
        assert_refused(
            "location",
            json!({"latitude": "north", "longitude": true}),
            &[
                ("location.latitude", "invalid_value"),
                ("location.longitude", "invalid_type"),
            ],
        );
        assert_refused(
            "location",
            json!({"latitude": "NaN", "longitude": "inf"}),
            &[
                ("location.latitude", "invalid_value"),
                ("location.longitude", "invalid_value"),
            ],
        );
    }

    #[test]
    fn name_and_address_are_strings() {
        assert_refused(
            "location",
            json!({"latitude": 1, "longitude": 2, "name": 3, "url": "https://x.com"}),
            &[
                ("location.name", "invalid_type"),
                ("location.url", "unknown_field"),
            ],
        );
    }
}
