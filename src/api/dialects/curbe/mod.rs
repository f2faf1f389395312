//! Curbe "Corporativo API": `POST /api/login` and `POST /api/WhatsappIntegration/send/message`
//! (matched case-insensitively), every answer in `{ref_code, ref_message, ref_success, ref_data}`.
//!
//! Credentials: the login takes a Chasqui user (`id` = username, `clave` = password; `project`
//! is accepted and ignored) and answers its session token; sends take that token or a Chasqui
//! API key as `Authorization: Bearer`. `ref_number_from` picks the workspace's channel by its
//! number.

mod translate;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chasqui_domain::Scope;
use serde_json::{json, Value};

use crate::api::auth::{admit, bearer};
use crate::api::body::JsonBody;
use crate::api::error::ApiError;
use crate::api::send::{submit_all, SendRequest};
use crate::api::AppState;
use crate::clock::now_ms;
use crate::users::LoginError;
pub use translate::{translate, CurbeSend, Invalid};

/// The send path as documented (mixed case); any case is accepted.
pub const SEND_PATH: &str = "/api/WhatsappIntegration/send/message";
/// The login path.
pub const LOGIN_PATH: &str = "/api/login";

/// Curbe's envelope with `status` as both the HTTP status and `ref_code`.
fn envelope(status: StatusCode, message: impl Into<String>) -> Response {
    let ok = status.is_success();
    let mut resp = (
        status,
        Json(json!({
            "ref_code": status.as_u16(),
            "ref_message": message.into(),
            "ref_success": ok,
            "ref_data": Value::Null,
        })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// The Curbe field a problem with Meta's field path comes from.
fn curbe_field(meta: &str) -> &str {
    let root = meta.split(['.', '[']).next().unwrap_or(meta);
    match root {
        "to" => "ref_number_to",
        "channel" => "ref_number_from",
        "image" => "ref_images",
        "text" => "ref_text",
        "location" => "ref_location",
        "interactive" => "ref_text_buttons",
        "template" if meta.contains("components") => "ref_parameters_body_template",
        "template" => "ref_template_name",
        _ => meta,
    }
}

/// Chasqui's refusal in Curbe's envelope.
fn refusal(e: ApiError) -> Response {
    let (code, status) = e.code_and_status();
    match e {
        ApiError::MissingApiKey | ApiError::InvalidApiKey => {
            envelope(StatusCode::UNAUTHORIZED, "Token invalido o expirado")
        }
        ApiError::InsufficientScope(scope) => envelope(
            StatusCode::FORBIDDEN,
            format!("El token no tiene el permiso {scope}"),
        ),
        ApiError::Validation(problems) => {
            let detail = problems
                .first()
                .map(|p| format!("{} invalido: {}", curbe_field(&p.field), p.message))
                .unwrap_or_else(|| "Solicitud invalida".into());
            envelope(StatusCode::BAD_REQUEST, detail)
        }
        ApiError::TemplateNotFound { .. } => {
            envelope(StatusCode::BAD_REQUEST, "ref_template_name invalido")
        }
        ApiError::Internal(_) => envelope(StatusCode::INTERNAL_SERVER_ERROR, "Error interno"),
        other if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS => {
            envelope(StatusCode::BAD_REQUEST, format!("{code}: {other}"))
        }
        other => {
            let mut resp = envelope(status, other.to_string());
            // Keeps Retry-After and RateLimit-* of a quota refusal.
            let full = other.into_response();
            for name in [
                "retry-after",
                "ratelimit-limit",
                "ratelimit-remaining",
                "ratelimit-reset",
            ] {
                if let Some(v) = full.headers().get(name) {
                    resp.headers_mut().insert(name, v.clone());
                }
            }
            resp
        }
    }
}

/// `POST /api/login`: `{id, clave, project}` → `{token, usuario: {nombre_completo, roles}}`.
pub async fn login(State(state): State<AppState>, body: Result<JsonBody, ApiError>) -> Response {
    let message =
        |status: StatusCode, text: &str| (status, Json(json!({ "message": text }))).into_response();
    let Ok(body) = body else {
        return message(StatusCode::BAD_REQUEST, "Solicitud invalida");
    };
    let field = |name: &str| {
        body.value
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (Some(user), Some(password)) = (field("id"), field("clave")) else {
        return message(StatusCode::BAD_REQUEST, "id y clave son requeridos");
    };
    match state
        .users
        .login(state.store.as_ref(), &user, &password, now_ms())
        .await
    {
        Ok(session) => {
            let user_record = state
                .store
                .get_user(Some(&session.workspace_id), &session.user_id)
                .await
                .ok()
                .flatten();
            let roles: Vec<Value> = user_record
                .as_ref()
                .map(|u| {
                    u.scopes
                        .split_whitespace()
                        .map(|s| json!({ "id": s }))
                        .collect()
                })
                .unwrap_or_default();
            let expires_in = (session.expires_at - now_ms()).max(0) / 1000;
            Json(json!({
                "token": session.token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "usuario": {"nombre_completo": user, "roles": roles},
                "empresa": session.workspace_id,
            }))
            .into_response()
        }
        Err(LoginError::InvalidCredentials) => {
            state.metrics.login_failed();
            message(StatusCode::UNAUTHORIZED, "Usuario o clave incorrectos")
        }
        Err(LoginError::Throttled { retry_after_secs }) => {
            let mut resp = message(
                StatusCode::TOO_MANY_REQUESTS,
                "Demasiados intentos fallidos; intente mas tarde",
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "curbe login failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Error interno")
        }
    }
}

/// `POST /api/WhatsappIntegration/send/message`: one message per image (or one of any other
/// type); all are committed or none.
pub async fn send(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Result<JsonBody, ApiError>,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return refusal(ApiError::MissingApiKey);
    };
    let (caller, _admission) = match admit(&state, token, Scope::Send).await {
        Ok(a) => a,
        Err(e) => return refusal(e),
    };
    let body = match body {
        Ok(b) => b,
        // Bad JSON, a repeated key or a NUL: the refusal names which and where.
        Err(e) => return refusal(e),
    };
    let CurbeSend { from, messages } = match translate(&body.value) {
        Ok(s) => s,
        Err(Invalid(field)) => {
            return envelope(StatusCode::BAD_REQUEST, format!("{field} invalido"))
        }
    };
    // One key per image (`key`, `key#2`, ...), all committed together: a retry answers the
    // images already taken again and sends none twice.
    let key = super::idempotency_key(&headers);
    let reqs = messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| SendRequest {
            message,
            channel: Some(from.clone()),
            idempotency_key: key.as_ref().map(|k| match i {
                0 => k.clone(),
                n => format!("{k}#{}", n + 1),
            }),
            ..Default::default()
        })
        .collect();
    // Several images are checked and charged together: all go, or none and the refusal says why.
    if let Err(e) = submit_all(&state, &caller, reqs).await {
        return refusal(e);
    }
    envelope(StatusCode::OK, "Mensaje enviado")
}
