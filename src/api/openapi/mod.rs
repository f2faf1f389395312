//! The published contract: `GET /openapi.json` (OpenAPI 3.1, generated from the handlers'
//! annotations and the route tables) and the interactive docs at `/docs`, served offline.
//!
//! The annotated handlers give paths, parameters and body schemas; the route tables give each
//! path's scope ([`scopes`]); every error answer is then described once, by what an operation
//! has (authentication, parameters, a body), with its stable codes ([`problems`]); the vendor
//! dialects are added from their own table ([`dialects`]).

mod dialects;
pub mod messages;
mod problems;
mod scopes;

use axum::http::header;
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::{
    admin, business_webhooks, contact_import, contacts, conversations, health, media,
    messages as send, read_receipts, templates, unattributed, users, AppState,
};
use crate::config::DialectsConfig;

/// Where the document is served.
pub const SPEC_PATH: &str = "/openapi.json";
/// Where the interactive docs are served.
pub const DOCS_PATH: &str = "/docs";

const DESCRIPTION: &str = "\
Chasqui is a self-hosted WhatsApp Business gateway: one native API for every message type, \
delivery through Meta's Cloud API (or its built-in sandbox), and drop-in endpoints for four \
vendor APIs.

**Authentication.** Send `Authorization: Bearer <key>`: an API key (`chq_...`) or a session \
token from `POST /v1/auth/login`. Each operation names the one scope it needs \
(`x-required-scope`); a key without it gets `403 insufficient_scope`.

**Errors** are RFC 9457 problem details (`application/problem+json`) with a stable machine \
`code` to decide on, the `request_id` to find in the logs (also in `X-Request-Id`), and, when \
the request broke several rules, every problem with its `field` under `errors`.

**Pagination.** Listings answer `{ \"data\": [...], \"next_cursor\": \"...\" }`, newest first. \
Pass `next_cursor` back as `cursor` for the next page; `null` means the last page. `limit` \
(1 to 200, default 50) sets the page size.

**Retries.** `POST /v1/messages` takes an `Idempotency-Key`: the same key and body answer the \
first acceptance again, and never send twice.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Chasqui", description = DESCRIPTION,
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0")),
    paths(
        send::create, send::list, send::get_one, read_receipts::mark_read,
        contacts::list, contacts::get_one, contacts::update, contacts::history,
        contact_import::import,
        conversations::list, conversations::get_one, unattributed::list,
        templates::list, templates::create, templates::sync,
        business_webhooks::list, business_webhooks::create, business_webhooks::get_one,
        business_webhooks::update, business_webhooks::delete, business_webhooks::deliveries,
        business_webhooks::replay,
        media::upload, media::get_one,
        users::login, users::logout,
        admin::list_workspaces, admin::create_workspace, admin::get_workspace,
        admin::update_workspace, admin::delete_workspace,
        admin::list_keys, admin::create_key, admin::get_key, admin::update_key, admin::revoke_key,
        admin::list_channels, admin::create_channel, admin::get_channel, admin::update_channel,
        admin::delete_channel,
        users::list, users::create, users::get_one, users::update, users::delete,
        health::live, health::ready, health::version,
        crate::webhooks::meta::subscribe, crate::webhooks::meta::receive,
    ),
    components(schemas(super::error::ProblemBody, super::paging::Limit)),
    tags(
        (name = "Messages", description = "Send every WhatsApp message type; follow each one's status"),
        (name = "Conversations", description = "Both directions with one customer, and the 24-hour window"),
        (name = "Contacts", description = "The people a workspace talks to, their tags and consent"),
        (name = "Templates", description = "The channel's message templates: create, sync, list"),
        (name = "Media", description = "Upload media to send; download what customers sent"),
        (name = "Business webhooks", description = "Endpoints of yours that Chasqui posts events to, signed"),
        (name = "Auth", description = "Users' sessions"),
        (name = "Admin", description = "Workspaces, API keys, channels and users (scope `admin`)"),
        (name = "Sandbox", description = "The built-in Cloud API simulator: its settings, log and simulated customers (scope `admin`)"),
        (name = "Health", description = "Liveness, readiness and the build"),
        (name = "Meta webhook", description = "Where Meta delivers a channel's events"),
    ),
    modifiers(&Bearer),
)]
struct NativeApi;

/// Adds the bearer scheme every authenticated operation names.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An API key (`chq_...`) or a session token"))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(scopes::BEARER, SecurityScheme::Http(scheme));
    }
}

/// The whole document for this configuration: the native API, the sandbox control API when
/// the sandbox is served, and the dialects switched on.
pub fn document(cfg: &DialectsConfig, sandbox: bool) -> Value {
    let mut doc = NativeApi::openapi();
    doc.info.version = crate::build_info::VERSION.to_string();
    if sandbox {
        doc.merge(chasqui_provider::sandbox::Sandbox::control_openapi());
    }
    let mut doc = serde_json::to_value(doc).expect("an OpenAPI document serializes");
    // Handlers share names across modules (`list`, `get_one`): ids come from the route.
    for_each_operation(&mut doc, |path, method, op| {
        op.insert("operationId".into(), operation_id(method, path).into());
        // Doc comments open with the route they document, which the UI already shows.
        if let Some(Value::String(summary)) = op.get_mut("summary") {
            if let Some((_, rest)) = summary.split_once("`: ") {
                let mut chars = rest.chars();
                if let Some(first) = chars.next() {
                    *summary = first.to_uppercase().chain(chars).collect();
                }
            }
        }
    });
    scopes::apply(&mut doc);
    // Problems first: the dialects answer in their own envelopes, never problem+json.
    problems::apply(&mut doc);
    dialects::add(&mut doc, cfg);
    doc
}

/// The HTTP methods an OpenAPI path item may hold operations under.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Calls `f` with every operation of `doc`: its path, its method and the operation object.
fn for_each_operation(doc: &mut Value, mut f: impl FnMut(&str, &str, &mut Map<String, Value>)) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if let (true, Some(op)) = (METHODS.contains(&method.as_str()), op.as_object_mut()) {
                f(path, method, op);
            }
        }
    }
}

/// A unique, readable operation id: `get_v1_messages_id`.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!("{method}_{}", words.join("_"))
}

/// `GET /openapi.json` and the docs at `/docs`: public, like the contract they describe.
pub fn routes(cfg: &DialectsConfig, sandbox: bool) -> Router<AppState> {
    let doc = axum::body::Bytes::from(
        serde_json::to_vec(&document(cfg, sandbox)).expect("a JSON value serializes"),
    );
    let ui: Router<AppState> = SwaggerUi::new(DOCS_PATH)
        .config(
            utoipa_swagger_ui::Config::new([SPEC_PATH])
                .try_it_out_enabled(true)
                .persist_authorization(false),
        )
        .into();
    Router::new()
        .route(
            SPEC_PATH,
            get(move || {
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc) }
            }),
        )
        .merge(ui)
}
