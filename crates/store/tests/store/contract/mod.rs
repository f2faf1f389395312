//! The store contract: every public method of `Store` and its sub-traits, written once as
//! `async fn case(store, db)` and run on both back ends (`…::sqlite` and `…::postgres`). Only
//! the public API is used, plus [`Db::exec`] to corrupt one column of a row the store wrote, so
//! the suite keeps holding while the store's internals move.

use chasqui_domain::MessageId;
use chasqui_domain::{ChannelId, WorkspaceId};
use std::fmt::Debug;
use std::sync::Arc;

use chasqui_domain::ScopeSet;
use chasqui_store::{
    Channel, ClaimRequest, IdempotencyClaim, KeyLimits, NewApiKey, NewMessage, Store, StoreError,
};

pub use crate::common::{Backend, Db};

/// Generates, for each `case`, the tests `case::sqlite` and `case::postgres`, each on a fresh
/// database with a migrated store.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let db = $crate::common::Db::sqlite().await;
                    let store = db.open().await;
                    super::$case(store, &db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let db = $crate::common::Db::postgres().await;
                    let store = db.open().await;
                    super::$case(store, &db).await;
                }
            }
        )*
    };
}

mod consent;
mod conversations;
mod dialect_ids;
mod inbox;
mod media;
mod messages;
mod quotas;
mod templates;
mod tenancy;
mod users;
mod webhooks;

/// The store as a case gets it.
pub type S = Arc<dyn Store>;

/// Asserts a `Corrupt` error, never a silent default.
#[track_caller]
pub fn assert_corrupt<T: Debug>(what: &str, r: chasqui_store::Result<T>) {
    assert!(
        matches!(r, Err(StoreError::Corrupt(_))),
        "{what}: expected StoreError::Corrupt, got {r:?}"
    );
}

/// Asserts a `Conflict` error whose message names `cause` (and none of `not`).
#[track_caller]
pub fn assert_conflict<T: Debug>(
    what: &str,
    r: chasqui_store::Result<T>,
    cause: &str,
    not: &[&str],
) {
    match &r {
        Err(StoreError::Conflict(msg)) => {
            assert!(
                msg.contains(cause),
                "{what}: the conflict should name {cause:?}: {msg:?}"
            );
            for wrong in not {
                assert!(
                    !msg.contains(wrong),
                    "{what}: the conflict names {wrong:?}, which is not the cause: {msg:?}"
                );
            }
        }
        other => panic!("{what}: expected StoreError::Conflict naming {cause:?}, got {other:?}"),
    }
}

/// Corrupts rows with one plain statement. A database that refuses it (PostgreSQL's types and
/// NOT NULL checks) keeps that corruption out by itself: answers `false`, and the case skips
/// the read that would have seen it.
pub async fn corrupt(db: &Db, sql: &str) -> bool {
    match db.exec(sql).await {
        Ok(n) => {
            assert!(n > 0, "the corruption {sql:?} changed no row");
            true
        }
        Err(why) => {
            assert_eq!(
                db.backend(),
                Backend::Postgres,
                "SQLite refused the corruption {sql:?}: {why}"
            );
            false
        }
    }
}

/// A workspace created through the store.
pub async fn workspace(s: &S, id: &str) {
    s.ensure_workspace(
        &WorkspaceId::from_trusted(id),
        &format!("Workspace {id}"),
        1,
    )
    .await
    .expect("ensure workspace");
}

/// A channel to store (its `num` is the store's to give).
pub fn channel(id: &str, ws: &str, phone_number_id: &str) -> Channel {
    Channel {
        id: ChannelId::from_trusted(id),
        workspace_id: WorkspaceId::from_trusted(ws),
        name: format!("Channel {id}"),
        provider: chasqui_domain::ProviderKind::CloudApi,
        phone_number_id: phone_number_id.into(),
        display_phone_number: format!("52155{phone_number_id}"),
        waba_id: Some(format!("waba_{ws}")),
        base_url: None,
        api_version: "v23.0".into(),
        access_token: Some("sealed-token".into()),
        app_secret: Some("sealed-secret".into()),
        verify_token: None,
        rate_per_sec: 80,
        pair_interval_ms: 0,
        pair_burst: 1,
        is_default: false,
        window_policy: chasqui_domain::window::WindowPolicy::Enforce,
        enabled: true,
        messaging_limit: None,
        auto_read: false,
        wolkvox_connector_id: None,
        respond_channel_id: None,
        window_fallback: None,
        marketing_messages: false,
        num: 0,
    }
}

/// A workspace with one channel, both created through the store.
pub async fn workspace_with_channel(s: &S, ws: &str, ch: &str, phone_number_id: &str) -> Channel {
    workspace(s, ws).await;
    s.upsert_channel(&channel(ch, ws, phone_number_id), 2)
        .await
        .expect("upsert channel");
    s.get_channel(&ChannelId::from_trusted(ch))
        .await
        .expect("get channel")
        .expect("channel")
}

/// A text message to accept.
pub fn message(id: &str, ws: &str, ch: &str, to: &str, at: i64) -> NewMessage {
    NewMessage {
        id: MessageId::from_trusted(id),
        workspace_id: WorkspaceId::from_trusted(ws),
        channel_id: ChannelId::from_trusted(ch),
        recipient: to.into(),
        kind: "text".into(),
        body: format!(r#"{{"type":"text","text":{{"body":"hello from {id}"}}}}"#),
        created_at: at,
        idempotency: None,
        rendered: None,
        client_message: None,
        failed: None,
    }
}

/// `message` with an idempotency key of API key `key_id`.
pub fn idempotent(mut m: NewMessage, key_id: &str, key: &str, hash: &str) -> NewMessage {
    m.idempotency = Some(IdempotencyClaim {
        api_key_id: key_id.into(),
        key: key.into(),
        request_hash: hash.into(),
    });
    m
}

/// Accepts a message that must be created; answers its `seq`.
pub async fn accept(s: &S, m: NewMessage) -> i64 {
    match s.accept_message(m).await.expect("accept") {
        chasqui_store::AcceptOutcome::Created(r) => r.seq,
        other => panic!("expected a new message, got {other:?}"),
    }
}

/// An API key to store.
pub fn api_key(id: &str, ws: &str, hash: &str) -> NewApiKey {
    NewApiKey {
        id: id.into(),
        workspace_id: WorkspaceId::from_trusted(ws),
        name: format!("key {id}"),
        prefix: "chq_".into(),
        hash: hash.into(),
        scopes: ScopeSet::tenant(),
        expires_at: None,
        limits: KeyLimits::default(),
    }
}

/// A claim of up to `limit` messages of `channel` by `owner` at `now`.
pub fn claim_req(owner: &str, channel: &str, now: i64, limit: i64) -> ClaimRequest {
    ClaimRequest {
        owner: owner.into(),
        channel_id: ChannelId::from_trusted(channel),
        now,
        limit,
        lease_ms: 30_000,
        reconcile_ms: 60_000,
    }
}
