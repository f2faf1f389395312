//! Payment subtypes (Meta's Payments API, India and Brazil): `order_details` asks the customer
//! to review and pay an order, `order_status` tells them what became of it. Fields and limits
//! are those of Meta's "Send Order Details Message" and "Send Order Status Message".

use super::super::check::{item, join, Checker, Count, Object, Str};

/// `reference_id` limit: the merchant's order reference.
const MAX_REFERENCE_CHARS: usize = 35;
/// Items in one order.
const MAX_ITEMS: usize = 999;
/// An item's name, and a tax, shipping or discount description.
const MAX_NAME_CHARS: usize = 60;
/// `order_status`'s description of the change.
const MAX_STATUS_DESCRIPTION_CHARS: usize = 120;
/// What an `order_status` may say an order became.
const ORDER_STATUSES: [&str; 6] = [
    "pending",
    "processing",
    "partially_shipped",
    "shipped",
    "completed",
    "canceled",
];

/// Checks the action of an `order_details` message.
pub(super) fn check_details(c: &mut Checker, action: &Object, path: &str) {
    let Some((parameters, path)) = order_parameters(c, action, path, "review_and_pay") else {
        return;
    };
    c.choice(
        parameters,
        &path,
        "type",
        &["digital-goods", "physical-goods"],
        true,
    );
    if let Some(currency) = c.string(parameters, &path, "currency", Str::REQUIRED) {
        let iso = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase());
        c.ensure(
            iso,
            &path,
            "currency",
            "must be an ISO 4217 code such as BRL or INR",
        );
    }
    amount(c, parameters, &path, "total_amount", true);
    let Some(order) = c.object(parameters, &path, "order", true) else {
        return;
    };
    let order_path = join(&path, "order");
    // A new order is always pending; `order_status` moves it on.
    c.choice(order, &order_path, "status", &["pending"], true);
    if let Some(items) = c.array(
        order,
        &order_path,
        "items",
        true,
        Count::between(1, MAX_ITEMS),
    ) {
        let items_path = join(&order_path, "items");
        for (i, value) in items.iter().enumerate() {
            let item_path = item(&items_path, i);
            let Some(entry) = c.as_object(value, &item_path) else {
                continue;
            };
            c.string(entry, &item_path, "name", Str::required(MAX_NAME_CHARS));
            if let Some(quantity) = c.integer(entry, &item_path, "quantity", true) {
                c.ensure(quantity >= 1, &item_path, "quantity", "must be at least 1");
            }
            amount(c, entry, &item_path, "amount", true);
            amount(c, entry, &item_path, "sale_amount", false);
        }
    }
    amount(c, order, &order_path, "subtotal", true);
    for (key, required) in [("tax", true), ("shipping", false), ("discount", false)] {
        if let Some(charge) = amount(c, order, &order_path, key, required) {
            let charge_path = join(&order_path, key);
            c.string(
                charge,
                &charge_path,
                "description",
                Str::optional(MAX_NAME_CHARS),
            );
        }
    }
}

/// Checks the action of an `order_status` message.
pub(super) fn check_status(c: &mut Checker, action: &Object, path: &str) {
    let Some((parameters, path)) = order_parameters(c, action, path, "review_order") else {
        return;
    };
    let Some(order) = c.object(parameters, &path, "order", true) else {
        return;
    };
    let order_path = join(&path, "order");
    c.choice(order, &order_path, "status", &ORDER_STATUSES, true);
    c.string(
        order,
        &order_path,
        "description",
        Str::optional(MAX_STATUS_DESCRIPTION_CHARS),
    );
}

/// The action named `name`'s parameters and their path, their `reference_id` checked (both
/// subtypes name the order by it).
fn order_parameters<'a>(
    c: &mut Checker,
    action: &'a Object,
    path: &str,
    name: &str,
) -> Option<(&'a Object, String)> {
    let parameters = super::named_action(c, action, path, name)?;
    let path = join(path, "parameters");
    c.string(
        parameters,
        &path,
        "reference_id",
        Str::required(MAX_REFERENCE_CHARS),
    );
    Some((parameters, path))
}

/// An amount: `{value, offset}`, integers (`value` / `offset` is the amount: 1100 with offset
/// 100 is 11.00).
fn amount<'a>(
    c: &mut Checker,
    obj: &'a Object,
    path: &str,
    key: &str,
    required: bool,
) -> Option<&'a Object> {
    let amount = c.object(obj, path, key, required)?;
    let amount_path = join(path, key);
    if let Some(value) = c.integer(amount, &amount_path, "value", true) {
        c.ensure(value >= 0, &amount_path, "value", "must not be negative");
    }
    if let Some(offset) = c.integer(amount, &amount_path, "offset", true) {
        c.ensure(
            offset > 0,
            &amount_path,
            "offset",
            "must be positive, such as 100",
        );
    }
    Some(amount)
}

#[cfg(test)]
mod tests {
    use super::super::super::test_support::*;
    use serde_json::{json, Value};

    fn details(parameters: Value) -> Value {
        json!({"type": "order_details", "body": {"text": "Your order"},
               "action": {"name": "review_and_pay", "parameters": parameters}})
    }

    fn order() -> Value {
        json!({"reference_id": "ord-1", "type": "physical-goods", "currency": "BRL",
               "total_amount": {"value": 1100, "offset": 100},
               "order": {"status": "pending",
                         "items": [{"name": "pão", "quantity": 1, "retailer_id": "1",
                                    "amount": {"value": 1000, "offset": 100}}],
                         "subtotal": {"value": 1000, "offset": 100},
                         "tax": {"value": 100, "offset": 100, "description": "ICMS"}},
               "payment_settings": [{"type": "pix_dynamic_code"}]})
    }

    #[test]
    fn an_order_details_message_is_checked_and_its_payment_passed_through() {
        assert_accepted("interactive", details(order()));
        let mut bad = order();
        bad["reference_id"] = json!("r".repeat(36));
        bad["currency"] = json!("reais");
        bad["order"]["status"] = json!("shipped");
        bad["order"]["items"][0]["quantity"] = json!(0);
        bad["order"]["tax"] = Value::Null;
        assert_refused(
            "interactive",
            details(bad),
            &[
                ("interactive.action.parameters.reference_id", "too_long"),
                ("interactive.action.parameters.currency", "invalid_value"),
                (
                    "interactive.action.parameters.order.status",
                    "invalid_value",
                ),
                (
                    "interactive.action.parameters.order.items[0].quantity",
                    "invalid_value",
                ),
                ("interactive.action.parameters.order.tax", "required"),
            ],
        );
    }

    #[test]
    fn an_order_status_names_one_of_metas_statuses() {
        let status = |s: &str| {
            json!({"type": "order_status", "body": {"text": "Update"},
                   "action": {"name": "review_order", "parameters": {"reference_id": "ord-1",
                       "order": {"status": s, "description": "on its way"}}}})
        };
        for s in ["processing", "shipped", "completed", "canceled"] {
            assert_accepted("interactive", status(s));
        }
        assert_refused(
            "interactive",
            status("lost"),
            &[(
                "interactive.action.parameters.order.status",
                "invalid_value",
            )],
        );
    }
}
