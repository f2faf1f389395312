//! API keys (operators): the workspace's keys, a form to create one (the key is shown this once,
//! never again), and revoking. The admin service does the work, as for `/v1/admin/.../keys`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chasqui_domain::Scope;
use chasqui_store::ApiKey;
use maud::{html, Markup};
use serde_json::json;

use super::render::Zone;
use super::{field, shell};
use crate::admin::{self, AdminError};
use crate::api::AppState;
use crate::console::session::{ConsoleError, ConsoleUser};

impl From<AdminError> for ConsoleError {
    fn from(e: AdminError) -> Self {
        ConsoleError::Internal(e.to_string())
    }
}

/// `GET /console/keys`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
) -> Result<Response, ConsoleError> {
    user.require(Scope::Admin)?;
    Ok(render(&state, &user, None, None).await?.into_response())
}

/// The page, with a key just created (shown once) or the problems of a refused creation.
async fn render(
    state: &AppState,
    user: &ConsoleUser,
    created: Option<(&ApiKey, &str)>,
    problems: Option<Vec<String>>,
) -> Result<axum::response::Html<String>, ConsoleError> {
    let lang = user.lang;
    let ws = &user.principal.workspace_id;
    let keys = admin::keys::list(state.store.as_ref(), ws).await?;
    let zone = Zone::of(state, user).await?;
    let body = html! {
        section.keys {
            h1 { (lang.t("keys-title")) }
            @if let Some((key, secret)) = created {
                div.created role="status" {
                    p { (lang.t("keys-shown-once")) }
                    code.secret data-key=(key.id) { (secret) }
                }
            }
            @if let Some(problems) = &problems {
                ul.error role="alert" { @for p in problems { li { (p) } } }
            }
            table.list {
                thead { tr {
                    th { (lang.t("keys-name")) } th { (lang.t("keys-prefix")) } th { (lang.t("keys-scopes")) }
                    th { (lang.t("keys-created")) } th { (lang.t("keys-last-used")) } th {}
                } }
                tbody {
                    @for k in &keys {
                        tr data-key=(k.id) data-revoked=(k.revoked_at.is_some()) {
                            td dir="auto" { (k.name) }
                            td { code { (k.prefix) "…" } }
                            td { @for s in k.scopes.iter() { span.tag { (s.as_str()) } " " } }
                            td { (zone.format(k.created_at)) }
                            td { (k.last_used_at.map(|t| zone.format(t)).unwrap_or_default()) }
                            td {
                                @if let Some(at) = k.revoked_at {
                                    span.revoked { (lang.t("keys-revoked")) " " (zone.format(at)) }
                                } @else {
                                    form.inline method="post" action={ "/console/keys/" (k.id) "/revoke" } {
                                        input type="hidden" name="_csrf" value=(user.csrf);
                                        button.danger type="submit" { (lang.t("keys-revoke")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (create_form(user))
        }
    };
    Ok(shell(Some(user), lang, &lang.t("keys-title"), body))
}

fn create_form(user: &ConsoleUser) -> Markup {
    let lang = user.lang;
    html! {
        form.create method="post" action="/console/keys" {
            h2 { (lang.t("keys-new")) }
            input type="hidden" name="_csrf" value=(user.csrf);
            label { (lang.t("keys-name")) input name="name" required maxlength="100"; }
            fieldset {
                legend { (lang.t("keys-scopes")) }
                @for s in Scope::ALL {
                    label.check {
                        input type="checkbox" name="scope" value=(s.as_str()) checked[s != Scope::Admin];
                        (s.as_str())
                    }
                }
            }
            button type="submit" { (lang.t("keys-create")) }
        }
    }
}

/// `POST /console/keys`: creates a key and shows it this once.
pub async fn create(
    State(state): State<AppState>,
    user: ConsoleUser,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    user.check_csrf(field(&form, "_csrf"))?;
    user.require(Scope::Admin)?;
    let scopes: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .collect();
    let body = json!({"name": field(&form, "name"), "scopes": scopes});
    match admin::keys::create(state.store.as_ref(), &user.principal.workspace_id, body).await {
        Ok(created) => Ok(
            render(&state, &user, Some((&created.key, &created.secret)), None)
                .await?
                .into_response(),
        ),
        Err(AdminError::Invalid(problems)) => {
            let lines = problems.into_iter().map(|p| p.message).collect();
            let page = render(&state, &user, None, Some(lines)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The revoke form.
#[derive(Debug, serde::Deserialize)]
pub struct RevokeForm {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// `POST /console/keys/{id}/revoke`: a key of the workspace shown; it stops working at once.
pub async fn revoke(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    user.require(Scope::Admin)?;
    match admin::keys::get(state.store.as_ref(), &id).await {
        Ok(k) if k.workspace_id == user.principal.workspace_id => {}
        Ok(_) | Err(AdminError::NotFound(_)) => return Err(ConsoleError::NotFound(user.lang)),
        Err(e) => return Err(e.into()),
    }
    admin::keys::revoke(state.store.as_ref(), &id).await?;
    Ok(Redirect::to("/console/keys").into_response())
}
