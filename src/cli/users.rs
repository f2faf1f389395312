//! `chasqui user ...`: users straight on the database, through the same service as the admin
//! API. Passwords come from stdin or `CHASQUI_USER_PASSWORD`, never from a flag, so they stay
//! out of shell history and process listings.

use chasqui_domain::WorkspaceId;
use std::io::Read;

use chasqui_domain::ScopeSet;
use chasqui_store::{Store, User, UserPatch};
use clap::{Args, Subcommand};

use crate::admin::users;
use crate::admin::AdminError;
use crate::bootstrap::{default_workspace, DEFAULT_WORKSPACE};
use crate::users::Users;

/// The environment variable a password may come from.
pub const PASSWORD_ENV: &str = "CHASQUI_USER_PASSWORD";

/// Where a new password comes from.
#[derive(Debug, Args, Clone, Default)]
pub struct PasswordSource {
    /// Read the password from stdin (one trailing newline is dropped); otherwise it is taken
    /// from the CHASQUI_USER_PASSWORD environment variable.
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordSource {
    fn read(&self) -> Result<String, String> {
        if self.password_stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            let text = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            return Ok(text.to_string());
        }
        std::env::var(PASSWORD_ENV).map_err(|_| {
            format!("give the password with --password-stdin or the {PASSWORD_ENV} variable")
        })
    }
}

/// `chasqui user ...`.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user who logs in with a username and password.
    Create {
        /// The owning workspace (default: the default workspace, created if missing).
        #[arg(long)]
        workspace: Option<WorkspaceId>,
        /// Login name: 3 to 64 of a-z 0-9 . _ @ - (case-insensitive).
        #[arg(long)]
        username: String,
        /// Scopes, comma separated (send, read, contacts, templates, webhooks, admin); default:
        /// every scope but admin.
        #[arg(long)]
        scopes: Option<String>,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List a workspace's users.
    List {
        #[arg(long, default_value = DEFAULT_WORKSPACE)]
        workspace: WorkspaceId,
    },
    /// Set a user's password (by id or username); their sessions end.
    Passwd {
        user: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Disable a user (by id or username): their sessions end and they cannot log in.
    Disable { user: String },
    /// Enable a disabled user.
    Enable { user: String },
    /// Delete a user (by id or username) and their sessions.
    Delete { user: String },
}

fn explain(e: AdminError) -> String {
    match e {
        AdminError::Invalid(problems) => problems
            .iter()
            .map(|p| format!("{}: {} ({})", p.field, p.message, p.code))
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

fn print(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// The user named by id or username.
async fn resolve(store: &dyn Store, user: &str) -> Result<User, AdminError> {
    match users::get(store, user).await {
        Err(AdminError::NotFound(_)) => users::find(store, user).await,
        found => found,
    }
}

/// Runs a user command.
pub async fn user(store: &dyn Store, service: &Users, action: UserAction) -> Result<(), String> {
    let toggle = |disabled: bool| UserPatch {
        disabled: Some(disabled),
        ..Default::default()
    };
    let changed = match action {
        UserAction::Create {
            workspace,
            username,
            scopes,
            password,
        } => {
            let scopes = match scopes {
                Some(text) => users::parse_scopes(&text)?,
                None => ScopeSet::tenant(),
            };
            let password = password.read()?;
            let workspace = match workspace {
                Some(ws) => ws,
                None => {
                    // Works before the first `serve`, for scripts that provision a database.
                    let now = crate::clock::now_ms();
                    store
                        .ensure_workspace(&default_workspace(), "Default", now)
                        .await
                        .map_err(|e| e.to_string())?
                        .id
                }
            };
            users::add(store, service, &workspace, &username, &password, scopes).await
        }
        UserAction::List { workspace } => {
            let all = users::list(store, &workspace).await.map_err(explain)?;
            print(&serde_json::Value::Array(
                all.iter()
                    .map(|u| crate::admin::views::to_json(&crate::admin::views::UserView::from(u)))
                    .collect(),
            ));
            return Ok(());
        }
        UserAction::Passwd { user, password } => {
            let found = resolve(store, &user).await.map_err(explain)?;
            let password = password.read()?;
            users::set_password(store, service, &found.id, &password).await
        }
        UserAction::Disable { user } => {
            let found = resolve(store, &user).await.map_err(explain)?;
            users::apply(store, &found.id, &toggle(true)).await
        }
        UserAction::Enable { user } => {
            let found = resolve(store, &user).await.map_err(explain)?;
            users::apply(store, &found.id, &toggle(false)).await
        }
        UserAction::Delete { user } => {
            let found = resolve(store, &user).await.map_err(explain)?;
            users::delete(store, &found.id).await.map_err(explain)?;
            eprintln!("user {} deleted", found.username);
            return Ok(());
        }
    };
    print(&crate::admin::views::to_json(
        &crate::admin::views::UserView::from(&changed.map_err(explain)?),
    ));
    Ok(())
}
