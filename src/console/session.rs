//! Console sessions: a login opens one of Chasqui's user sessions (the same throttle, the same
//! scopes) and keeps its token in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` behind
//! https). Every form and action carries a CSRF token derived from the session token, which a
//! page of another origin can neither read nor compute.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chasqui_domain::{Scope, WorkspaceId};
use serde::Deserialize;

use super::i18n::Lang;
use super::pages::login_page;
use crate::api::auth::{self, Principal};
use crate::api::AppState;
use crate::clock::now_ms;
use crate::ids::sha256_hex;
use crate::users::LoginError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "chasqui_session";
/// The chosen language's cookie.
pub const LANG_COOKIE: &str = "chasqui_lang";
/// The workspace an operator is looking at.
pub const WORKSPACE_COOKIE: &str = "chasqui_workspace";
/// The login form's CSRF token (before there is a session to derive one from).
pub const LOGIN_COOKIE: &str = "chasqui_login";

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether the request came over https (directly or through a proxy that says so), so
/// cookies get `Secure`.
fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for the console's cookies.
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if is_https(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .expect("cookie values are ASCII")
}

/// The CSRF token of a session: forms carry it, actions check it.
fn csrf_of(session_token: &str) -> String {
    sha256_hex(format!("chasqui-console-csrf:{session_token}").as_bytes())
}

/// A signed-in console user: the principal of their session, in the workspace they are looking
/// at (an operator may switch), with their language.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    /// The session's principal; `workspace_id` is the workspace shown.
    pub principal: Principal,
    /// The session's own workspace.
    pub home: WorkspaceId,
    /// The token forms must carry.
    pub csrf: String,
    /// The language pages are written in.
    pub lang: Lang,
    /// For an operator: every workspace (id, name), to switch between.
    pub workspaces: Vec<(WorkspaceId, String)>,
}

impl ConsoleUser {
    /// Whether the user may do what `scope` allows.
    pub fn may(&self, scope: Scope) -> bool {
        self.principal.scopes.contains(scope)
    }

    /// Checks `scope` again on the server, whatever the page offered.
    pub fn require(&self, scope: Scope) -> Result<(), ConsoleError> {
        if self.may(scope) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(self.lang))
        }
    }

    /// Checks a form's CSRF token.
    pub fn check_csrf(&self, token: &str) -> Result<(), ConsoleError> {
        // Both are hex of one length; a plain comparison leaks nothing an attacker can use
        // without the session token.
        if token == self.csrf {
            Ok(())
        } else {
            Err(ConsoleError::Csrf(self.lang))
        }
    }
}

/// Why a console request was refused.
#[derive(Debug)]
pub enum ConsoleError {
    /// Not signed in (or the session ended): back to the login page.
    SignedOut,
    /// The user's scopes do not allow it.
    Forbidden(Lang),
    /// A form without the session's CSRF token.
    Csrf(Lang),
    /// Nothing of that id in this workspace.
    NotFound(Lang),
    /// The store or another service failed.
    Internal(String),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, lang, id) = match self {
            ConsoleError::SignedOut => return Redirect::to("/console/login").into_response(),
            ConsoleError::Forbidden(l) => (StatusCode::FORBIDDEN, l, "error-forbidden"),
            ConsoleError::Csrf(l) => (StatusCode::FORBIDDEN, l, "error-csrf"),
            ConsoleError::NotFound(l) => (StatusCode::NOT_FOUND, l, "error-not-found"),
            ConsoleError::Internal(e) => {
                tracing::error!(error = %e, "console request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Lang::Es,
                    "error-internal",
                )
            }
        };
        (status, super::pages::error_page(lang, id)).into_response()
    }
}

impl From<crate::api::error::ApiError> for ConsoleError {
    fn from(e: crate::api::error::ApiError) -> Self {
        ConsoleError::Internal(e.to_string())
    }
}

impl From<chasqui_store::StoreError> for ConsoleError {
    fn from(e: chasqui_store::StoreError) -> Self {
        ConsoleError::Internal(e.to_string())
    }
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let lang = Lang::negotiate(&parts.headers);
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(ConsoleError::SignedOut)?;
        // Only a session token: an API key pasted into a cookie opens no console.
        if !auth::is_session_token(&token) {
            return Err(ConsoleError::SignedOut);
        }
        let mut principal = auth::resolve(state, &token)
            .await?
            .ok_or(ConsoleError::SignedOut)?;
        let home = principal.workspace_id.clone();
        // An operator may look at another workspace; anyone else's choice is ignored.
        let mut workspaces = Vec::new();
        if principal.scopes.contains(Scope::Admin) {
            workspaces = state
                .store
                .list_workspaces()
                .await?
                .into_iter()
                .map(|w| (w.id, w.name))
                .collect();
            if let Some(ws) = cookie(&parts.headers, WORKSPACE_COOKIE)
                .and_then(|w| w.parse::<WorkspaceId>().ok())
                .filter(|w| workspaces.iter().any(|(id, _)| id == w))
            {
                principal.workspace_id = ws;
            }
        }
        Ok(ConsoleUser {
            principal,
            home,
            csrf: csrf_of(&token),
            lang,
            workspaces,
        })
    }
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    username: String,
    password: String,
}

/// The login page with a form token: the same value in the form and in a `SameSite=Strict`
/// cookie, so a form posted from another site (which gets neither) logs nobody in.
fn login_with_token(headers: &HeaderMap, status: StatusCode, error: Option<String>) -> Response {
    let lang = Lang::negotiate(headers);
    let token = cookie(headers, LOGIN_COOKIE)
        .filter(|t| t.len() == 48 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(crate::ids::random_token);
    let mut resp = (status, login_page(lang, &token, error)).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(headers, LOGIN_COOKIE, &token, 3600),
    );
    resp
}

/// `GET /console/login`.
pub async fn login_form(headers: HeaderMap) -> Response {
    login_with_token(&headers, StatusCode::OK, None)
}

/// `POST /console/login`: opens a session and sets its cookie.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::negotiate(&headers);
    if cookie(&headers, LOGIN_COOKIE).is_none_or(|t| t != form.csrf) {
        return login_with_token(&headers, StatusCode::FORBIDDEN, Some(lang.t("error-csrf")));
    }
    match state
        .users
        .login(
            state.store.as_ref(),
            &form.username,
            &form.password,
            now_ms(),
        )
        .await
    {
        Ok(session) => {
            let max_age = (session.expires_at - now_ms()).max(0) / 1000;
            let mut resp = Redirect::to("/console").into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&headers, SESSION_COOKIE, &session.token, max_age),
            );
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&headers, LOGIN_COOKIE, "", 0),
            );
            resp
        }
        Err(LoginError::InvalidCredentials) => {
            state.metrics.login_failed();
            login_with_token(
                &headers,
                StatusCode::UNAUTHORIZED,
                Some(lang.t("login-invalid")),
            )
        }
        Err(LoginError::Throttled { retry_after_secs }) => {
            let text = lang.t_with(
                "login-throttled",
                &[("seconds", (retry_after_secs as f64).into())],
            );
            let mut resp = login_with_token(&headers, StatusCode::TOO_MANY_REQUESTS, Some(text));
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            resp
        }
        Err(e) => ConsoleError::Internal(e.to_string()).into_response(),
    }
}

/// A form with only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /console/logout`: ends the session and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    state
        .users
        .logout(state.store.as_ref(), &user.principal.id, now_ms())
        .await?;
    let mut resp = Redirect::to("/console/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", 0),
    );
    Ok(resp)
}

/// The language link's query.
#[derive(Debug, Deserialize)]
pub struct LangQuery {
    to: String,
}

/// `GET /console/lang?to=en`: keeps the language chosen in a cookie and goes back. A link, not
/// a form: it changes only how pages read, for whoever follows it.
pub async fn choose_lang(headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::parse(&q.to).unwrap_or(Lang::Es);
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/console").map(|i| r[i..].to_string()))
        .filter(|path| !path.starts_with("/console/lang"))
        .unwrap_or_else(|| "/console".into());
    let mut resp = Redirect::to(&back).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, LANG_COOKIE, lang.code(), 365 * 24 * 3600),
    );
    resp
}

/// The workspace form (operators).
#[derive(Debug, Deserialize)]
pub struct WorkspaceForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    workspace: String,
}

/// `POST /console/workspace`: an operator switches the workspace shown.
pub async fn choose_workspace(
    user: ConsoleUser,
    headers: HeaderMap,
    Form(form): Form<WorkspaceForm>,
) -> Result<Response, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    user.require(Scope::Admin)?;
    let ws = form
        .workspace
        .parse::<WorkspaceId>()
        .map_err(|_| ConsoleError::NotFound(user.lang))?;
    let mut resp = Redirect::to("/console").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, WORKSPACE_COOKIE, ws.as_str(), 30 * 24 * 3600),
    );
    Ok(resp)
}
