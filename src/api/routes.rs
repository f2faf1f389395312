//! Every authenticated route with the one scope it requires. The router is built from this
//! table alone, and a test walks it, so a route cannot be added without a scope check.

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use chasqui_domain::Scope;

use super::AppState;
use super::{
    admin, business_webhooks, contact_import, contacts, conversations, media, messages,
    read_receipts, templates, unattributed, users,
};

/// One authenticated route.
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{param}` placeholders.
    pub path: &'static str,
    /// The scope a caller needs.
    pub scope: Scope,
    /// The handler.
    pub handler: MethodRouter<AppState>,
}

/// Nested services behind authentication (mounted whole, not route by route): path prefix,
/// scope, and one path under it that a test can call. The in-process sandbox is shared by every
/// workspace (its log holds everyone's recipients and bodies; its settings and simulated
/// customers act on every channel), so only operators may use it.
pub const NESTED: &[(&str, Scope, &str)] = &[("/v1/sandbox", Scope::Admin, "/v1/sandbox/settings")];

macro_rules! routes {
    ($($method:ident $path:literal $scope:ident => $handler:expr),* $(,)?) => {
        vec![$(Route {
            method: Method::$method,
            path: $path,
            scope: Scope::$scope,
            handler: on(MethodFilter::$method, $handler),
        }),*]
    };
}

/// The table.
pub fn table() -> Vec<Route> {
    let mut all = routes![
        POST "/v1/messages" Send => messages::create,
        GET "/v1/messages" Read => messages::list,
        GET "/v1/messages/{id}" Read => messages::get_one,
        POST "/v1/messages/{id}/read" Send => read_receipts::mark_read,
        GET "/v1/contacts" Read => contacts::list,
        GET "/v1/contacts/{id}" Read => contacts::get_one,
        PATCH "/v1/contacts/{id}" Contacts => contacts::update,
        POST "/v1/contacts/import" Contacts => contact_import::import,
        GET "/v1/contacts/{id}/history" Read => contacts::history,
        GET "/v1/conversations" Read => conversations::list,
        GET "/v1/conversations/{id}" Read => conversations::get_one,
        GET "/v1/inbound/unattributed" Read => unattributed::list,
        GET "/v1/templates" Templates => templates::list,
        POST "/v1/templates" Templates => templates::create,
        POST "/v1/templates/sync" Templates => templates::sync,
        GET "/v1/webhooks" Webhooks => business_webhooks::list,
        POST "/v1/webhooks" Webhooks => business_webhooks::create,
        GET "/v1/webhooks/{id}" Webhooks => business_webhooks::get_one,
        PATCH "/v1/webhooks/{id}" Webhooks => business_webhooks::update,
        DELETE "/v1/webhooks/{id}" Webhooks => business_webhooks::delete,
        GET "/v1/webhooks/{id}/deliveries" Webhooks => business_webhooks::deliveries,
        POST "/v1/webhooks/{id}/replay" Webhooks => business_webhooks::replay,
        GET "/v1/media/{id}" Read => media::get_one,
        GET "/v1/admin/workspaces" Admin => admin::list_workspaces,
        POST "/v1/admin/workspaces" Admin => admin::create_workspace,
        GET "/v1/admin/workspaces/{id}" Admin => admin::get_workspace,
        PATCH "/v1/admin/workspaces/{id}" Admin => admin::update_workspace,
        DELETE "/v1/admin/workspaces/{id}" Admin => admin::delete_workspace,
        GET "/v1/admin/workspaces/{id}/keys" Admin => admin::list_keys,
        POST "/v1/admin/workspaces/{id}/keys" Admin => admin::create_key,
        GET "/v1/admin/keys/{id}" Admin => admin::get_key,
        PATCH "/v1/admin/keys/{id}" Admin => admin::update_key,
        DELETE "/v1/admin/keys/{id}" Admin => admin::revoke_key,
        GET "/v1/admin/workspaces/{id}/channels" Admin => admin::list_channels,
        POST "/v1/admin/workspaces/{id}/channels" Admin => admin::create_channel,
        GET "/v1/admin/channels/{id}" Admin => admin::get_channel,
        PATCH "/v1/admin/channels/{id}" Admin => admin::update_channel,
        DELETE "/v1/admin/channels/{id}" Admin => admin::delete_channel,
        GET "/v1/admin/workspaces/{id}/users" Admin => users::list,
        POST "/v1/admin/workspaces/{id}/users" Admin => users::create,
        GET "/v1/admin/users/{id}" Admin => users::get_one,
        PATCH "/v1/admin/users/{id}" Admin => users::update,
        DELETE "/v1/admin/users/{id}" Admin => users::delete,
    ];
    all.push(Route {
        method: Method::POST,
        path: "/v1/media",
        scope: Scope::Send,
        handler: on(MethodFilter::POST, media::upload)
            .layer(DefaultBodyLimit::max(media::MAX_MULTIPART_BODY)),
    });
    all
}
