//! Users: created with a password and scopes, listed, changed (password, scopes, disabled) and
//! deleted. The admin API and the CLI both come through here; passwords are hashed by the
//! [`Users`] service off the async workers, and no answer ever carries a hash.

use chasqui_domain::problem::code;
use chasqui_domain::WorkspaceId;
use chasqui_domain::{Problem, Scope, ScopeSet};
use chasqui_store::{NewUser, Store, User, UserPatch};
use serde_json::Value;

use super::input::Fields;
use super::workspaces;
use super::{AdminError, AdminResult};
use crate::clock::now_ms;
use crate::ids;
use crate::users::{check_password, check_username, Users};

/// Takes the password out of a body before the other fields are read: it is used exactly as
/// given (never trimmed), and must never end up in a problem message.
fn take_password(body: &mut Value, problems: &mut Vec<Problem>, required: bool) -> Option<String> {
    match body.as_object_mut().and_then(|m| m.remove("password")) {
        None if required => {
            problems.push(Problem::new("password", code::REQUIRED, "is required"));
            None
        }
        None => None,
        Some(Value::String(p)) => match check_password(&p) {
            Ok(()) => Some(p),
            Err(why) => {
                problems.push(Problem::new("password", code::INVALID_VALUE, why));
                None
            }
        },
        Some(_) => {
            problems.push(Problem::new(
                "password",
                code::INVALID_TYPE,
                "must be a string",
            ));
            None
        }
    }
}

fn scopes(fields: &mut Fields) -> Option<ScopeSet> {
    let names = fields.strings("scopes")?;
    match parse_scopes(&names.join(" ")) {
        Ok(set) => Some(set),
        Err(why) => {
            let c = if names.is_empty() {
                code::EMPTY
            } else {
                code::INVALID_VALUE
            };
            fields.reject("scopes", c, why);
            None
        }
    }
}

/// Scopes from space- or comma-separated names; at least one.
pub fn parse_scopes(text: &str) -> Result<ScopeSet, String> {
    match ScopeSet::parse(&text.replace(',', " ")) {
        Ok(set) if !set.is_empty() => Ok(set),
        Ok(_) => Err("at least one scope is required".into()),
        Err(unknown) => {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            Err(format!(
                "unknown scope(s) {}; known: {}",
                unknown.join(", "),
                known.join(", ")
            ))
        }
    }
}

/// Creates a user from an admin request body: `username`, `password`, optional `scopes`
/// (default: every scope but admin).
pub async fn create(
    store: &dyn Store,
    users: &Users,
    workspace_id: &WorkspaceId,
    mut body: Value,
) -> AdminResult<User> {
    workspaces::get(store, workspace_id).await?;
    let mut problems = Vec::new();
    let password = take_password(&mut body, &mut problems, true);
    let mut fields = Fields::new(body)?;
    fields.problems.append(&mut problems);
    let username = fields
        .required_string("username", 256)
        .and_then(|u| match check_username(&u) {
            Ok(name) => Some(name),
            Err(why) => {
                fields.reject("username", code::INVALID_VALUE, why);
                None
            }
        });
    let scopes = scopes(&mut fields).unwrap_or_else(ScopeSet::tenant);
    fields.finish()?;
    match (username, password) {
        (Some(username), Some(password)) => {
            add(store, users, workspace_id, &username, &password, scopes).await
        }
        // `finish` has already refused a missing or bad value; this only keeps the match total.
        _ => Err(AdminError::Invalid(vec![Problem::new(
            "",
            code::REQUIRED,
            "username and password are required",
        )])),
    }
}

/// Creates a user from checked values (the CLI's path).
pub async fn add(
    store: &dyn Store,
    users: &Users,
    workspace_id: &WorkspaceId,
    username: &str,
    password: &str,
    scopes: ScopeSet,
) -> AdminResult<User> {
    workspaces::get(store, workspace_id).await?;
    let username = check_username(username).map_err(|why| {
        AdminError::Invalid(vec![Problem::new("username", code::INVALID_VALUE, why)])
    })?;
    check_password(password).map_err(|why| {
        AdminError::Invalid(vec![Problem::new("password", code::INVALID_VALUE, why)])
    })?;
    let password_hash = users.hasher().hash(password).await.map_err(internal)?;
    let new = NewUser {
        id: ids::prefixed("usr_"),
        workspace_id: workspace_id.clone(),
        username,
        password_hash,
        scopes: scopes.to_text(),
    };
    Ok(store.create_user(&new, now_ms()).await?)
}

fn internal(e: impl std::fmt::Display) -> AdminError {
    AdminError::Store(chasqui_store::StoreError::Config(e.to_string()))
}

/// One user.
pub async fn get(store: &dyn Store, id: &str) -> AdminResult<User> {
    store
        .get_user(None, id)
        .await?
        .ok_or(AdminError::NotFound("user"))
}

/// The user named `username` (any case).
pub async fn find(store: &dyn Store, username: &str) -> AdminResult<User> {
    store
        .find_user_by_username(username)
        .await?
        .ok_or(AdminError::NotFound("user"))
}

/// A workspace's users.
pub async fn list(store: &dyn Store, workspace_id: &WorkspaceId) -> AdminResult<Vec<User>> {
    workspaces::get(store, workspace_id).await?;
    Ok(store.list_users(workspace_id).await?)
}

/// Changes `password`, `scopes` or `disabled` from an admin request body.
pub async fn update(
    store: &dyn Store,
    users: &Users,
    id: &str,
    mut body: Value,
) -> AdminResult<User> {
    get(store, id).await?;
    let mut problems = Vec::new();
    let password = take_password(&mut body, &mut problems, false);
    let mut fields = Fields::new(body)?;
    fields.problems.append(&mut problems);
    let scopes = scopes(&mut fields);
    let disabled = fields.bool("disabled");
    fields.finish()?;
    let password_hash = match password {
        Some(p) => Some(users.hasher().hash(&p).await.map_err(internal)?),
        None => None,
    };
    let patch = UserPatch {
        password_hash,
        scopes: scopes.map(ScopeSet::to_text),
        disabled,
    };
    apply(store, id, &patch).await
}

/// Applies a checked change (the CLI's path).
pub async fn apply(store: &dyn Store, id: &str, patch: &UserPatch) -> AdminResult<User> {
    store
        .update_user(id, patch, now_ms())
        .await?
        .ok_or(AdminError::NotFound("user"))
}

/// Sets a new password (the CLI's `passwd`); the user's sessions end.
pub async fn set_password(
    store: &dyn Store,
    users: &Users,
    id: &str,
    password: &str,
) -> AdminResult<User> {
    check_password(password).map_err(|why| {
        AdminError::Invalid(vec![Problem::new("password", code::INVALID_VALUE, why)])
    })?;
    let patch = UserPatch {
        password_hash: Some(users.hasher().hash(password).await.map_err(internal)?),
        ..Default::default()
    };
    apply(store, id, &patch).await
}

/// Deletes a user and its sessions.
pub async fn delete(store: &dyn Store, id: &str) -> AdminResult<()> {
    if store.delete_user(id).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound("user"))
    }
}
