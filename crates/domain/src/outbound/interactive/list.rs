//! List messages: `action.button` and `action.sections[].rows[]`.

use std::collections::HashSet;

use super::super::check::{item, join, Checker, Count, Object, Str};
use crate::problem::code;

/// Label of the button that opens the list.
const MAX_BUTTON_CHARS: usize = 20;
/// Sections per list.
const MAX_SECTIONS: usize = 10;
/// Rows across all sections: Meta's guide and practice, stricter than the spec's per section.
const MAX_ROWS: usize = 10;
/// `section.title` limit.
const MAX_SECTION_TITLE_CHARS: usize = 24;
/// `row.id` limit.
const MAX_ROW_ID_CHARS: usize = 200;
/// `row.title` limit.
const MAX_ROW_TITLE_CHARS: usize = 24;
/// `row.description` limit.
const MAX_ROW_DESCRIPTION_CHARS: usize = 72;

/// Checks the action of a `list` message.
pub(super) fn check(c: &mut Checker, action: &Object, path: &str) {
    c.string(action, path, "button", Str::required(MAX_BUTTON_CHARS));
    let Some(sections) = c.array(
        action,
        path,
        "sections",
        true,
        Count::between(1, MAX_SECTIONS),
    ) else {
        return;
    };
    let sections_path = join(path, "sections");
    let mut row_ids = HashSet::new();
    let mut rows_total = 0;
    for (i, section) in sections.iter().enumerate() {
        let section_path = item(&sections_path, i);
        let Some(section) = c.as_object(section, &section_path) else {
            continue;
        };
        // Titles tell sections apart, so several sections each need one.
        if sections.len() > 1 && section.get("title").is_none_or(|t| t.is_null()) {
            let message = "is required when the list has more than one section";
            c.report(join(&section_path, "title"), code::REQUIRED, message);
        }
        c.string(
            section,
            &section_path,
            "title",
            Str::optional(MAX_SECTION_TITLE_CHARS),
        );
        let Some(rows) = c.array(section, &section_path, "rows", true, Count::at_least(1)) else {
            continue;
        };
        rows_total += rows.len();
        let rows_path = join(&section_path, "rows");
        for (j, row) in rows.iter().enumerate() {
            let row_path = item(&rows_path, j);
            let Some(row) = c.as_object(row, &row_path) else {
                continue;
            };
            if let Some(id) = c.string(row, &row_path, "id", Str::required(MAX_ROW_ID_CHARS)) {
                c.unique(&mut row_ids, id, &join(&row_path, "id"));
            }
            c.string(row, &row_path, "title", Str::required(MAX_ROW_TITLE_CHARS));
            c.string(
                row,
                &row_path,
                "description",
                Str::optional(MAX_ROW_DESCRIPTION_CHARS),
            );
        }
    }
    if rows_total > MAX_ROWS {
        let message = format!("must have at most {MAX_ROWS} rows in total across all sections");
        c.report(sections_path, code::TOO_MANY, message);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::test_support::*;
    use serde_json::{json, Value};

    fn list(sections: Value) -> Value {
        json!({"type": "list", "body": {"text": "Pick"}, "action": {"button": "Options", "sections": sections}})
    }

    fn rows(prefix: &str, n: usize) -> Value {
        (0..n)
            .map(|i| json!({"id": format!("{prefix}{i}"), "title": format!("Row {i}")}))
            .collect()
    }

    #[test]
    fn accepts_the_reference_example() {
        assert_ok(&message(
            r#"{"messaging_product":"whatsapp","to":"16505551234","type":"interactive","interactive":{
  "type":"list",
  "header":{"type":"text","text":"Menu"},
  "body":{"text":"Pick one"},
  "footer":{"text":"Powered by X"},
  "action":{"button":"Options","sections":[
     {"title":"Pizzas","rows":[{"id":"p1","title":"Margherita","description":"Tomato, mozzarella"}]},
     {"title":"Drinks","rows":[{"id":"d1","title":"Cola"}]}]}}}"#,
        ));
    }

    #[test]
    fn only_text_headers() {
        let mut m = list(json!([{"rows": rows("r", 1)}]));
        m["header"] = json!({"type": "image", "image": {"id": "1"}});
        assert_refused(
            "interactive",
            m,
            &[("interactive.header.type", "invalid_value")],
        );
    }

    #[test]
    fn button_label_is_required_and_bounded() {
        let mut m = list(json!([{"rows": rows("r", 1)}]));
        m["action"]["button"] = json!("b".repeat(21));
        assert_refused(
            "interactive",
            m.clone(),
            &[("interactive.action.button", "too_long")],
        );
        m["action"]["button"] = json!("");
        assert_refused("interactive", m, &[("interactive.action.button", "empty")]);
    }

    #[test]
    fn one_to_ten_sections_and_ten_rows_in_total() {
        assert_refused(
            "interactive",
            list(json!([])),
            &[("interactive.action.sections", "too_few")],
        );
        let eleven: Vec<Value> = (0..11)
            .map(|i| json!({"title": "S", "rows": rows(&format!("s{i}-"), 1)}))
            .collect();
        assert_refused(
            "interactive",
            list(json!(eleven)),
            &[
                ("interactive.action.sections", "too_many"),
                ("interactive.action.sections", "too_many"),
            ],
        );
        assert_accepted("interactive", list(json!([{"rows": rows("r", 10)}])));
        assert_refused(
            "interactive",
            list(
                json!([{"title": "A", "rows": rows("a", 6)}, {"title": "B", "rows": rows("b", 5)}]),
            ),
            &[("interactive.action.sections", "too_many")],
        );
        assert_refused(
            "interactive",
            list(json!([{"title": "A", "rows": []}])),
            &[("interactive.action.sections[0].rows", "too_few")],
        );
    }

    #[test]
    fn section_titles_are_required_when_there_are_several() {
        assert_accepted("interactive", list(json!([{"rows": rows("r", 1)}])));
        assert_refused(
            "interactive",
            list(json!([{"rows": rows("a", 1)}, {"title": "t".repeat(25), "rows": rows("b", 1)}])),
            &[
                ("interactive.action.sections[0].title", "required"),
                ("interactive.action.sections[1].title", "too_long"),
            ],
        );
    }

    #[test]
    fn row_limits_and_unique_ids_across_sections() {
        let sections = json!([
            {"title": "A", "rows": [
                {"id": "x", "title": "t".repeat(24), "description": "d".repeat(72)},
                {"id": "i".repeat(201), "title": "t".repeat(25), "description": "d".repeat(73)},
            ]},
            {"title": "B", "rows": [{"id": "x", "title": "Other"}, {"title": ""}]},
        ]);
        assert_refused(
            "interactive",
            list(sections),
            &[
                ("interactive.action.sections[0].rows[1].id", "too_long"),
                ("interactive.action.sections[0].rows[1].title", "too_long"),
                (
                    "interactive.action.sections[0].rows[1].description",
                    "too_long",
                ),
                ("interactive.action.sections[1].rows[0].id", "duplicate"),
                ("interactive.action.sections[1].rows[1].id", "required"),
                ("interactive.action.sections[1].rows[1].title", "empty"),
            ],
        );
    }
}
