//! `chasqui workspace|channel|key ...`: the operator's commands, straight on the database. They
//! call the same services as the admin API, so the same rules hold; answers are the API's JSON.

use chasqui_domain::ChannelId;
use chasqui_domain::WorkspaceId;
use std::io::Read;

use chasqui_domain::ScopeSet;
use chasqui_store::{KeyLimits, Store};
use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use crate::admin::channels::{self, ChannelDefaults};
use crate::admin::{keys, views, workspaces, AdminError};
use crate::bootstrap::{default_workspace, DEFAULT_WORKSPACE};
use crate::config::Config;
use crate::secrets::Sealer;

/// Field values for create and update.
#[derive(Debug, Args, Clone, Default)]
pub struct Fields {
    /// A field (repeatable): `name=text` sets text, `name:=json` a JSON value
    /// (`rate_per_sec:=40`, `enabled:=false`, `messaging_limit:=null`).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
    /// Read a JSON object of fields from stdin (keeps secrets out of the shell history).
    #[arg(long)]
    stdin: bool,
}

impl Fields {
    /// The JSON object the fields make.
    fn to_json(&self) -> Result<Value, String> {
        let mut map = Map::new();
        if self.stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            match serde_json::from_str(&text) {
                Ok(Value::Object(m)) => map = m,
                _ => return Err("stdin must hold one JSON object".into()),
            }
        }
        for pair in &self.set {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("--set {pair}: expected FIELD=TEXT or FIELD:=JSON"))?;
            let (k, value) = match k.strip_suffix(':') {
                Some(k) => (
                    k,
                    serde_json::from_str(v)
                        .map_err(|e| format!("--set {pair}: the value is not JSON: {e}"))?,
                ),
                None => (k, Value::String(v.into())),
            };
            map.insert(k.to_string(), value);
        }
        Ok(Value::Object(map))
    }
}

/// `chasqui workspace ...`.
#[derive(Debug, Subcommand)]
pub enum WorkspaceAction {
    /// Create a workspace (`--set name=...`, `daily_quota`, `timezone`, `marketing_keywords:=...`).
    Create(Fields),
    /// List every workspace.
    List,
    /// Show one workspace.
    Get { id: WorkspaceId },
    /// Change a workspace's fields.
    Update {
        id: WorkspaceId,
        #[command(flatten)]
        fields: Fields,
    },
    /// Disable a workspace: its keys stop working at once.
    Disable { id: WorkspaceId },
    /// Enable a disabled workspace.
    Enable { id: WorkspaceId },
    /// Delete a workspace without channels, with its keys.
    Delete { id: WorkspaceId },
}

/// `chasqui channel ...`.
#[derive(Debug, Subcommand)]
pub enum ChannelAction {
    /// Create a channel (`--set provider=cloud_api --set phone_number_id=...`, secrets via `--stdin`).
    Create {
        /// The owning workspace.
        #[arg(long, default_value = DEFAULT_WORKSPACE)]
        workspace: WorkspaceId,
        #[command(flatten)]
        fields: Fields,
    },
    /// List a workspace's channels.
    List {
        #[arg(long, default_value = DEFAULT_WORKSPACE)]
        workspace: WorkspaceId,
    },
    /// Show one channel (secrets as hints).
    Get { id: ChannelId },
    /// Change a channel's fields.
    Update {
        id: ChannelId,
        #[command(flatten)]
        fields: Fields,
    },
    /// Stop a channel sending (its queue waits).
    Disable { id: ChannelId },
    /// Let a disabled channel send again.
    Enable { id: ChannelId },
    /// Delete a channel with nothing waiting to be sent.
    Delete { id: ChannelId },
}

/// `chasqui key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Print a new API key alone on stdout. Without `--workspace`: a key of the default
    /// workspace with every scope (the operator's); with it: the tenant scopes unless `--scopes`.
    Create {
        /// The owning workspace.
        #[arg(long)]
        workspace: Option<WorkspaceId>,
        /// A label for the key.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Scopes, comma separated (send, read, contacts, templates, webhooks, admin).
        #[arg(long)]
        scopes: Option<String>,
    },
    /// List a workspace's keys.
    List {
        #[arg(long, default_value = DEFAULT_WORKSPACE)]
        workspace: WorkspaceId,
    },
    /// Change a key's name, scopes, expiry or limits.
    Update {
        id: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Revoke a key: refused from the next request on.
    Revoke { id: String },
}

fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn list(values: Vec<Value>) {
    print(&Value::Array(values));
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

/// Runs a workspace command.
pub async fn workspace(store: &dyn Store, action: WorkspaceAction) -> Result<(), String> {
    let toggle = |disabled: bool| serde_json::json!({ "disabled": disabled });
    let ws = match action {
        WorkspaceAction::Create(f) => workspaces::create(store, f.to_json()?).await,
        WorkspaceAction::List => {
            let all = store.list_workspaces().await.map_err(|e| e.to_string())?;
            list(
                all.iter()
                    .map(|w| views::to_json(&views::WorkspaceView::from(w)))
                    .collect(),
            );
            return Ok(());
        }
        WorkspaceAction::Get { id } => workspaces::get(store, &id).await,
        WorkspaceAction::Update { id, fields } => {
            workspaces::update(store, &id, fields.to_json()?).await
        }
        WorkspaceAction::Disable { id } => workspaces::update(store, &id, toggle(true)).await,
        WorkspaceAction::Enable { id } => workspaces::update(store, &id, toggle(false)).await,
        WorkspaceAction::Delete { id } => {
            workspaces::delete(store, &id).await.map_err(explain)?;
            eprintln!("workspace {id} deleted");
            return Ok(());
        }
    };
    print(&views::to_json(&views::WorkspaceView::from(
        &ws.map_err(explain)?,
    )));
    Ok(())
}

/// Runs a channel command.
pub async fn channel(
    store: &dyn Store,
    config: &Config,
    sealer: &Sealer,
    action: ChannelAction,
) -> Result<(), String> {
    let toggle = |enabled: bool| serde_json::json!({ "enabled": enabled });
    let ch = match action {
        ChannelAction::Create { workspace, fields } => {
            let defaults = ChannelDefaults::from_config(config);
            channels::create(store, sealer, &defaults, &workspace, fields.to_json()?).await
        }
        ChannelAction::List { workspace } => {
            let all = channels::list(store, &workspace).await.map_err(explain)?;
            list(
                all.iter()
                    .map(|c| views::to_json(&views::ChannelView::new(sealer, c)))
                    .collect(),
            );
            return Ok(());
        }
        ChannelAction::Get { id } => channels::get(store, &id).await,
        ChannelAction::Update { id, fields } => {
            channels::update(store, sealer, &id, fields.to_json()?).await
        }
        ChannelAction::Disable { id } => channels::update(store, sealer, &id, toggle(false)).await,
        ChannelAction::Enable { id } => channels::update(store, sealer, &id, toggle(true)).await,
        ChannelAction::Delete { id } => {
            channels::delete(store, &id).await.map_err(explain)?;
            eprintln!("channel {id} deleted");
            return Ok(());
        }
    };
    print(&views::to_json(&views::ChannelView::new(
        sealer,
        &ch.map_err(explain)?,
    )));
    Ok(())
}

/// Runs a key command.
pub async fn key(store: &dyn Store, action: KeyAction) -> Result<(), String> {
    let k = match action {
        KeyAction::Create {
            workspace,
            name,
            scopes,
        } => {
            let default = match &workspace {
                None => ScopeSet::all(),
                Some(_) => ScopeSet::tenant(),
            };
            let scopes = match scopes {
                None => default,
                Some(text) => ScopeSet::parse(&text)
                    .map_err(|unknown| format!("unknown scope(s): {}", unknown.join(", ")))?,
            };
            let ws = match workspace {
                Some(ws) => {
                    workspaces::get(store, &ws).await.map_err(explain)?;
                    ws
                }
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
            let created = keys::mint(store, &ws, &name, scopes, None, KeyLimits::default())
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", created.secret);
            return Ok(());
        }
        KeyAction::List { workspace } => {
            let all = keys::list(store, &workspace).await.map_err(explain)?;
            list(
                all.iter()
                    .map(|k| views::to_json(&views::KeyView::from(k)))
                    .collect(),
            );
            return Ok(());
        }
        KeyAction::Update { id, fields } => keys::update(store, &id, fields.to_json()?).await,
        KeyAction::Revoke { id } => keys::revoke(store, &id).await,
    };
    print(&views::to_json(&views::KeyView::from(&k.map_err(explain)?)));
    Ok(())
}
