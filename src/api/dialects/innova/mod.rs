//! InnovaAPI: `POST /api/whatsapp/enviar` with `Authorization: Bearer <API key>`, answered
//! `{success, message}`.

mod translate;

pub use translate::*;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chasqui_domain::Scope;
use serde_json::Value;

use super::{capped, idempotency_key, log_failure, read_body};
use crate::api::auth::{authenticate_token, bearer};
use crate::api::error::ApiError;
use crate::api::send::{submit, SendRequest};
use crate::api::AppState;

/// `POST /api/whatsapp/enviar`: one message through the workspace's default channel.
pub async fn enviar(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let (answer, extra) = match send(&state, &headers, body).await {
        Ok(h) => (Answer::sent(), h),
        Err(a) => {
            let mut extra = HeaderMap::new();
            if let Some(secs) = a.retry_after_secs {
                extra.insert(axum::http::header::RETRY_AFTER, secs.into());
            }
            (a, extra)
        }
    };
    (answer.status, extra, Json(answer.body())).into_response()
}

async fn send(state: &AppState, headers: &HeaderMap, body: Body) -> Result<HeaderMap, Answer> {
    let api = |e: ApiError| {
        log_failure(&e);
        from_api_error(&e)
    };
    let token = bearer(headers).ok_or_else(|| api(ApiError::MissingApiKey))?;
    let mut caller = authenticate_token(state, token, Scope::Send)
        .await
        .map_err(api)?;
    caller.limits.daily_quota =
        capped(caller.limits.daily_quota, state.dialects.innova.daily_limit);
    // Held until the answer is ready: the request's in-flight slot.
    let _admission = state
        .limits
        .admit(&caller.id, &caller.limits)
        .await
        .inspect_err(|e| state.metrics.limit_refused(e))
        .map_err(|e| api(e.into()))?;
    let body = read_body(body)
        .await
        .ok_or_else(|| Answer::bad_params("el cuerpo es demasiado grande o no se pudo leer"))?;
    let value: Value = crate::api::json::parse(&body).map_err(|e| match e {
        crate::api::json::JsonError::Syntax(e) => {
            Answer::bad_params(format!("el cuerpo no es JSON válido ({e})"))
        }
        e => api(e.into()),
    })?;
    let message = translate(&value).map_err(Answer::bad_params)?;
    let sent = submit(
        state,
        &caller,
        SendRequest {
            message,
            channel: None,
            idempotency_key: idempotency_key(headers),
            window_policy: None,
            ..SendRequest::default()
        },
    )
    .await
    .map_err(api)?;
    Ok(sent.headers)
}
