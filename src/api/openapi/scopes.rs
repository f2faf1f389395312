//! Each operation's security, from the route tables the router is built from: a routed
//! operation needs the bearer scheme and its route's one scope (`x-required-scope`); every
//! other operation is public.

use serde_json::{json, Value};

use crate::api::routes;

/// The bearer scheme's name in the document.
pub const BEARER: &str = "bearer";
/// The extension naming an operation's required scope.
pub const SCOPE_EXTENSION: &str = "x-required-scope";

/// Sets every native operation's security from [`routes::table`] and [`routes::NESTED`].
pub fn apply(doc: &mut Value) {
    let table: Vec<(String, String, &str)> = routes::table()
        .iter()
        .map(|r| {
            (
                r.path.to_string(),
                r.method.as_str().to_ascii_lowercase(),
                r.scope.as_str(),
            )
        })
        .collect();
    super::for_each_operation(doc, |path, method, op| {
        let routed = table
            .iter()
            .find(|(p, m, _)| p == path && m == method)
            .map(|(_, _, scope)| *scope)
            .or_else(|| {
                routes::NESTED
                    .iter()
                    .find(|(prefix, _, _)| path.starts_with(&format!("{prefix}/")))
                    .map(|(_, scope, _)| scope.as_str())
            });
        match routed {
            Some(scope) => {
                op.insert("security".into(), json!([{ BEARER: [] }]));
                op.insert(SCOPE_EXTENSION.into(), json!(scope));
            }
            None => {
                op.insert("security".into(), json!([]));
            }
        }
    });
}
