//! The vendor dialects in the document, from the same table the router serves them from: each
//! dialect under its own tag and security scheme, answering in its vendor's envelope with the
//! statuses it really uses.

use serde_json::{json, Map, Value};

use crate::api::dialects::{self, DialectRoute};
use crate::config::DialectsConfig;

/// How one vendor's API is described.
struct Vendor {
    /// The table's dialect name.
    dialect: &'static str,
    /// Its tag.
    tag: &'static str,
    /// What the tag says.
    about: &'static str,
    /// Its security scheme's name and definition.
    scheme: &'static str,
    scheme_def: fn() -> Value,
    /// Its envelope's schema name and definition.
    envelope: &'static str,
    envelope_def: fn() -> Value,
    /// The statuses it answers.
    statuses: &'static [u16],
}

const VENDORS: &[Vendor] = &[
    Vendor {
        dialect: "curbe",
        tag: "Curbe (Corporativo API)",
        about: "Curbe's Corporativo API: log in with a Chasqui user, send with its token or an \
            API key. Paths match case-insensitively.",
        scheme: "curbe_token",
        scheme_def: || {
            json!({ "type": "http", "scheme": "bearer",
            "description": "The `token` of `POST /api/login`, or a Chasqui API key" })
        },
        envelope: "CurbeEnvelope",
        envelope_def: || {
            json!({ "type": "object",
            "description": "Every Curbe answer but the login's",
            "properties": {
                "ref_code": { "type": "integer", "description": "The HTTP status" },
                "ref_message": { "type": "string" },
                "ref_success": { "type": "boolean" },
                "ref_data": {},
                "token": { "type": "string", "description": "The login's session token" },
                "usuario": { "type": "object" },
                "message": { "type": "string", "description": "A refused login's reason" },
            } })
        },
        statuses: &[200, 400, 401, 403, 429, 500],
    },
    Vendor {
        dialect: "respond",
        tag: "respond.io",
        about: "The respond.io API v2 (as Ecuabots resells it): contacts by `id:`, `phone:` or \
            `email:` identifier, their messages, tags, channels and templates.",
        scheme: "respond_bearer",
        scheme_def: || {
            json!({ "type": "http", "scheme": "bearer",
            "description": "A Chasqui API key" })
        },
        envelope: "RespondEnvelope",
        envelope_def: || {
            json!({ "type": "object",
            "description": "A resource, `{items, pagination}` for a listing, or `{code, message}` \
                for a refusal",
            "properties": {
                "code": { "type": ["integer", "string"] },
                "message": { "type": "string" },
                "items": { "type": "array" },
                "pagination": { "type": "object" },
            } })
        },
        statuses: &[200, 400, 401, 403, 404, 405, 408, 409, 429, 500, 503],
    },
    Vendor {
        dialect: "wolkvox",
        tag: "Wolkvox",
        about: "Wolkvox's WhatsApp API: `api=` names the operation (`send_message`, \
            `send_template`, `list_templates`, `connectors`...). Both GET and POST reach every \
            operation.",
        scheme: "wolkvox_token",
        scheme_def: || {
            json!({ "type": "apiKey", "in": "header", "name": "wolkvox-token",
            "description": "A Chasqui API key" })
        },
        envelope: "WolkvoxEnvelope",
        envelope_def: || {
            json!({ "type": "object",
            "properties": {
                "code": { "type": "integer", "description": "The HTTP status" },
                "error": { "type": ["string", "null"] },
                "msg": { "type": "string" },
                "data": {},
            } })
        },
        statuses: &[200, 201, 400, 401, 403, 500, 502, 503],
    },
    Vendor {
        dialect: "innova",
        tag: "InnovaAPI",
        about: "InnovaAPI's send endpoint.",
        scheme: "innova_bearer",
        scheme_def: || {
            json!({ "type": "http", "scheme": "bearer",
            "description": "A Chasqui API key" })
        },
        envelope: "InnovaEnvelope",
        envelope_def: || {
            json!({ "type": "object",
            "properties": {
                "success": { "type": "boolean" },
                "message": { "type": "string" },
            } })
        },
        statuses: &[200, 400, 401, 429, 500, 503],
    },
];

/// Adds every dialect route `cfg` serves.
pub fn add(doc: &mut Value, cfg: &DialectsConfig) {
    let routes = dialects::table(cfg);
    for vendor in VENDORS {
        let served: Vec<&DialectRoute> = routes
            .iter()
            .filter(|r| r.dialect == vendor.dialect)
            .collect();
        if served.is_empty() {
            continue;
        }
        doc["tags"]
            .as_array_mut()
            .expect("the document has tags")
            .push(json!({ "name": vendor.tag, "description": vendor.about }));
        doc["components"]["securitySchemes"][vendor.scheme] = (vendor.scheme_def)();
        doc["components"]["schemas"][vendor.envelope] = (vendor.envelope_def)();
        for route in served {
            let method = route.method.as_str().to_ascii_lowercase();
            doc["paths"][route.path][method] = operation(vendor, route);
        }
    }
}

fn operation(vendor: &Vendor, route: &DialectRoute) -> Value {
    let envelope = json!({ "$ref": format!("#/components/schemas/{}", vendor.envelope) });
    let mut responses = Map::new();
    for status in vendor.statuses {
        responses.insert(
            status.to_string(),
            json!({
                "description": reason(*status),
                "content": { "application/json": { "schema": envelope } },
            }),
        );
    }
    let mut op = json!({
        "tags": [vendor.tag],
        "operationId": format!("{}_{}", vendor.dialect,
            super::operation_id(&route.method.as_str().to_ascii_lowercase(), route.path)),
        "summary": format!("{} {}", route.method, route.path),
        "responses": responses,
    });
    match route.scope {
        Some(scope) => {
            op["security"] = json!([{ vendor.scheme: [] }]);
            op[super::scopes::SCOPE_EXTENSION] = json!(scope.as_str());
        }
        None => op["security"] = json!([]),
    }
    let mut params: Vec<Value> = placeholders(route.path)
        .map(|name| {
            json!({ "name": name, "in": "path", "required": true,
            "schema": { "type": "string" } })
        })
        .collect();
    if vendor.dialect == "wolkvox" {
        params.push(json!({ "name": "api", "in": "query", "required": true,
            "description": "The operation", "schema": { "type": "string" } }));
    }
    if !params.is_empty() {
        op["parameters"] = json!(params);
    }
    if matches!(route.method.as_str(), "POST" | "PUT" | "PATCH") {
        op["requestBody"] = json!({ "content": { "application/json": {
            "schema": { "type": "object" } } } });
    }
    op
}

/// The `{name}` placeholders of a path.
fn placeholders(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

fn reason(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Answer")
}
