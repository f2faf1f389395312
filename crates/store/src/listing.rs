//! The message listing's SQL, for both back ends: only the filters a request gives become
//! conditions, so each back end's planner sees which index serves them (`recipient` and `status`
//! have their own) instead of one generic plan that walks the workspace's messages newest first.

use crate::model::MessageFilter;

/// A value bound to one of the listing query's placeholders, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bound<'a> {
    Text(&'a str),
    Int(i64),
}

/// `SELECT columns FROM messages WHERE … ORDER BY seq DESC LIMIT …` for `filter` in
/// `workspace_id`, with the values to bind; `placeholder(n)` writes the n-th (1-based)
/// placeholder in the back end's syntax.
pub(crate) fn message_listing<'a>(
    columns: &str,
    workspace_id: &'a str,
    filter: &'a MessageFilter,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<Bound<'a>>) {
    let mut values = vec![Bound::Text(workspace_id)];
    let mut sql = format!(
        "SELECT {columns} FROM messages WHERE workspace_id = {}",
        placeholder(1)
    );
    let mut condition = |sql: &mut String, test: &str, value: Bound<'a>| {
        values.push(value);
        sql.push_str(&format!(" AND {test} {}", placeholder(values.len())));
    };
    if let Some(recipient) = &filter.recipient {
        condition(&mut sql, "recipient =", Bound::Text(recipient));
    }
    if let Some(status) = filter.status {
        condition(&mut sql, "status =", Bound::Text(status.as_str()));
    }
    if let Some(from) = filter.created_from {
        condition(&mut sql, "created_at >=", Bound::Int(from));
    }
    if let Some(to) = filter.created_to {
        condition(&mut sql, "created_at <", Bound::Int(to));
    }
    if let Some(category) = &filter.pricing_category {
        condition(
            &mut sql,
            "pricing_category =",
            Bound::Text(category.as_str()),
        );
    }
    if let Some(kind) = &filter.pricing_type {
        condition(&mut sql, "pricing_type =", Bound::Text(kind.as_str()));
    }
    if let Some(before) = filter.before_seq {
        condition(&mut sql, "seq <", Bound::Int(before));
    }
    values.push(Bound::Int(filter.limit));
    sql.push_str(&format!(
        " ORDER BY seq DESC LIMIT {}",
        placeholder(values.len())
    ));
    (sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chasqui_domain::MessageStatus;

    #[test]
    fn only_the_given_filters_become_conditions_numbered_in_order() {
        let filter = MessageFilter {
            status: Some(MessageStatus::Failed),
            before_seq: Some(90),
            limit: 20,
            ..MessageFilter::default()
        };
        let (sql, values) = message_listing("id", "ws_1", &filter, |n| format!("${n}"));
        assert_eq!(
            sql,
            "SELECT id FROM messages WHERE workspace_id = $1 AND status = $2 AND seq < $3 \
             ORDER BY seq DESC LIMIT $4"
        );
        assert_eq!(
            values,
            vec![
                Bound::Text("ws_1"),
                Bound::Text("failed"),
                Bound::Int(90),
                Bound::Int(20)
            ]
        );
    }

    #[test]
    fn every_filter_at_once() {
        let filter = MessageFilter {
            recipient: Some("5215512345678".into()),
            status: Some(MessageStatus::Read),
            created_from: Some(1),
            created_to: Some(2),
            before_seq: Some(3),
            limit: 4,
            ..MessageFilter::default()
        };
        let (sql, values) = message_listing("id", "w", &filter, |n| format!("?{n}"));
        assert_eq!(
            sql,
            "SELECT id FROM messages WHERE workspace_id = ?1 AND recipient = ?2 AND status = ?3 \
             AND created_at >= ?4 AND created_at < ?5 AND seq < ?6 ORDER BY seq DESC LIMIT ?7"
        );
        assert_eq!(values.len(), 7);
    }
}
