//! TenancyStore: workspaces, API keys and channels.

use chasqui_domain::consent::MarketingKeywords;
use chasqui_domain::Scope;
use chasqui_domain::{ChannelId, WorkspaceId};
use chasqui_store::{KeyLimits, Workspace};

use super::*;

async fn workspaces_are_created_updated_listed_and_deleted(s: S, _db: &Db) {
    assert!(s.list_workspaces().await.expect("list").is_empty());
    assert!(s
        .get_workspace(&WorkspaceId::from_trusted("ws_none"))
        .await
        .expect("get")
        .is_none());

    let a = s
        .ensure_workspace(&WorkspaceId::from_trusted("ws_a"), "A", 10)
        .await
        .expect("ensure");
    assert_eq!(
        a,
        Workspace {
            id: WorkspaceId::from_trusted("ws_a"),
            name: "A".into(),
            disabled_at: None,
            daily_quota: None,
            timezone: None,
            marketing_keywords: None,
            created_at: 10,
        }
    );
    // A second call finds it as it is.
    let again = s
        .ensure_workspace(&WorkspaceId::from_trusted("ws_a"), "other name", 99)
        .await
        .expect("ensure");
    assert_eq!(again, a);

    // save_workspace creates...
    let b = Workspace {
        id: WorkspaceId::from_trusted("ws_b"),
        name: "B".into(),
        disabled_at: None,
        daily_quota: Some(500),
        timezone: Some("America/Mexico_City".into()),
        marketing_keywords: None,
        created_at: 20,
    };
    s.save_workspace(&b).await.expect("save");
    assert_eq!(
        s.get_workspace(&WorkspaceId::from_trusted("ws_b"))
            .await
            .expect("get"),
        Some(b.clone())
    );
    // ...and updates by id.
    let changed = Workspace {
        name: "B2".into(),
        disabled_at: Some(30),
        daily_quota: None,
        timezone: None,
        marketing_keywords: Some(MarketingKeywords {
            stop: Some(vec!["Basta".into()]),
            resume: None,
        }),
        ..b.clone()
    };
    s.save_workspace(&changed).await.expect("save");
    assert_eq!(
        s.get_workspace(&WorkspaceId::from_trusted("ws_b"))
            .await
            .expect("get"),
        Some(changed.clone())
    );

    // Oldest first.
    let ids: Vec<String> = s
        .list_workspaces()
        .await
        .expect("list")
        .into_iter()
        .map(|w| w.id.into_string())
        .collect();
    assert_eq!(ids, ["ws_a", "ws_b"]);

    // Not while it has channels.
    s.upsert_channel(&channel("ch_a", "ws_a", "1001"), 40)
        .await
        .expect("channel");
    assert_conflict(
        "delete a workspace with channels",
        s.delete_workspace(&WorkspaceId::from_trusted("ws_a")).await,
        "channels",
        &[],
    );
    assert!(s
        .get_workspace(&WorkspaceId::from_trusted("ws_a"))
        .await
        .expect("get")
        .is_some());
    assert!(s
        .delete_channel(&ChannelId::from_trusted("ch_a"))
        .await
        .expect("delete channel"));
    // Its keys go with it.
    s.insert_api_key(&api_key("key_a", "ws_a", "hash_a"), 41)
        .await
        .expect("key");
    assert!(s
        .delete_workspace(&WorkspaceId::from_trusted("ws_a"))
        .await
        .expect("delete"));
    assert!(s
        .get_workspace(&WorkspaceId::from_trusted("ws_a"))
        .await
        .expect("get")
        .is_none());
    assert!(s.get_api_key("key_a").await.expect("get key").is_none());
    assert!(!s
        .delete_workspace(&WorkspaceId::from_trusted("ws_a"))
        .await
        .expect("delete again"));
    assert!(!s
        .delete_workspace(&WorkspaceId::from_trusted("ws_never"))
        .await
        .expect("delete missing"));
}

async fn api_keys_are_found_only_while_usable(s: S, _db: &Db) {
    workspace(&s, "ws_k").await;
    workspace(&s, "ws_off").await;
    assert!(s
        .list_api_keys(&WorkspaceId::from_trusted("ws_k"))
        .await
        .expect("list")
        .is_empty());
    assert_eq!(
        s.count_api_keys(&WorkspaceId::from_trusted("ws_k"))
            .await
            .expect("count"),
        0
    );

    let mut one = api_key("key_1", "ws_k", "hash_1");
    one.limits = KeyLimits {
        daily_quota: Some(100),
        max_concurrent: Some(4),
        rate_per_minute: Some(60),
    };
    one.expires_at = Some(1_000_000);
    s.insert_api_key(&one, 100).await.expect("insert");
    s.insert_api_key(&api_key("key_2", "ws_k", "hash_2"), 200)
        .await
        .expect("insert");
    s.insert_api_key(&api_key("key_off", "ws_off", "hash_off"), 300)
        .await
        .expect("insert");

    let found = s
        .find_api_key("hash_1", 500)
        .await
        .expect("find")
        .expect("usable key");
    assert_eq!(found.id, "key_1");
    assert_eq!(found.workspace_id, "ws_k");
    assert_eq!(found.scopes, ScopeSet::tenant());
    assert_eq!(found.limits, one.limits);
    assert_eq!(
        (found.created_at, found.expires_at, found.revoked_at),
        (100, Some(1_000_000), None)
    );
    assert!(s
        .find_api_key("hash_nobody", 500)
        .await
        .expect("find")
        .is_none());
    // Expired.
    assert!(s
        .find_api_key("hash_1", 1_000_000)
        .await
        .expect("find")
        .is_none());
    // A disabled workspace's keys stop working.
    let mut off = s
        .get_workspace(&WorkspaceId::from_trusted("ws_off"))
        .await
        .expect("get")
        .expect("ws");
    off.disabled_at = Some(400);
    s.save_workspace(&off).await.expect("disable");
    assert!(s
        .find_api_key("hash_off", 500)
        .await
        .expect("find")
        .is_none());

    // Oldest first; get finds any state.
    let listed: Vec<String> = s
        .list_api_keys(&WorkspaceId::from_trusted("ws_k"))
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, ["key_1", "key_2"]);
    assert!(s.get_api_key("key_nobody").await.expect("get").is_none());
    assert_eq!(
        s.count_api_keys(&WorkspaceId::from_trusted("ws_k"))
            .await
            .expect("count"),
        2
    );

    // Update: name, scopes, revocation, limits.
    let mut two = s.get_api_key("key_2").await.expect("get").expect("key");
    two.name = "renamed".into();
    two.scopes = ScopeSet::default().with(Scope::Read);
    two.revoked_at = Some(600);
    two.limits.daily_quota = Some(7);
    assert!(s.update_api_key(&two).await.expect("update"));
    let stored = s.get_api_key("key_2").await.expect("get").expect("key");
    assert_eq!(stored, two);
    assert!(
        s.find_api_key("hash_2", 700).await.expect("find").is_none(),
        "revoked"
    );
    assert_eq!(
        s.count_api_keys(&WorkspaceId::from_trusted("ws_k"))
            .await
            .expect("count"),
        1,
        "live keys only"
    );
    let mut ghost = two.clone();
    ghost.id = "key_ghost".into();
    assert!(!s.update_api_key(&ghost).await.expect("update missing"));

    // Touch: written, then skipped within a minute, then written again.
    s.touch_api_key("key_1", 100_000).await.expect("touch");
    assert_eq!(
        s.get_api_key("key_1")
            .await
            .expect("get")
            .expect("key")
            .last_used_at,
        Some(100_000)
    );
    s.touch_api_key("key_1", 130_000).await.expect("touch");
    assert_eq!(
        s.get_api_key("key_1")
            .await
            .expect("get")
            .expect("key")
            .last_used_at,
        Some(100_000)
    );
    s.touch_api_key("key_1", 200_000).await.expect("touch");
    assert_eq!(
        s.get_api_key("key_1")
            .await
            .expect("get")
            .expect("key")
            .last_used_at,
        Some(200_000)
    );
    s.touch_api_key("key_nobody", 200_000)
        .await
        .expect("touch missing is a no-op");
}

async fn an_api_key_conflict_names_its_cause(s: S, _db: &Db) {
    workspace(&s, "ws_k").await;
    s.insert_api_key(&api_key("key_1", "ws_k", "hash_1"), 1)
        .await
        .expect("insert");
    assert_conflict(
        "a key of a missing workspace",
        s.insert_api_key(&api_key("key_2", "ws_missing", "hash_2"), 2)
            .await,
        "workspace",
        &["hash"],
    );
    assert_conflict(
        "a key whose hash is taken",
        s.insert_api_key(&api_key("key_3", "ws_k", "hash_1"), 3)
            .await,
        "hash",
        &["workspace"],
    );
    assert_eq!(
        s.count_api_keys(&WorkspaceId::from_trusted("ws_k"))
            .await
            .expect("count"),
        1
    );
}

async fn channels_are_stored_found_and_deleted(s: S, _db: &Db) {
    workspace(&s, "ws_c").await;
    workspace(&s, "ws_other").await;
    assert!(s
        .list_channels(&WorkspaceId::from_trusted("ws_c"))
        .await
        .expect("list")
        .is_empty());
    assert!(s.all_channels().await.expect("all").is_empty());
    assert!(s
        .get_channel(&ChannelId::from_trusted("ch_none"))
        .await
        .expect("get")
        .is_none());
    assert!(s
        .default_channel(&WorkspaceId::from_trusted("ws_c"))
        .await
        .expect("default")
        .is_none());

    let mut one = channel("ch_1", "ws_c", "2001");
    one.is_default = true;
    one.messaging_limit = Some(1_000);
    s.upsert_channel(&one, 10).await.expect("upsert");
    let mut two = channel("ch_2", "ws_c", "2002");
    two.provider = chasqui_domain::ProviderKind::Dialog360;
    s.upsert_channel(&two, 20).await.expect("upsert");
    s.upsert_channel(&channel("ch_3", "ws_other", "2003"), 30)
        .await
        .expect("upsert");

    let stored = s
        .get_channel(&ChannelId::from_trusted("ch_1"))
        .await
        .expect("get")
        .expect("channel");
    assert!(stored.num > 0, "the store numbers channels");
    assert_eq!(
        Channel {
            num: stored.num,
            ..one.clone()
        },
        stored
    );
    let nums: Vec<i64> = s
        .all_channels()
        .await
        .expect("all")
        .iter()
        .map(|c| c.num)
        .collect();
    assert_eq!(nums.len(), 3);
    assert!(
        nums.iter()
            .all(|n| nums.iter().filter(|m| *m == n).count() == 1),
        "unique numbers: {nums:?}"
    );

    // Oldest first.
    let ids: Vec<String> = s
        .list_channels(&WorkspaceId::from_trusted("ws_c"))
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(ids, ["ch_1", "ch_2"]);
    let all: Vec<String> = s
        .all_channels()
        .await
        .expect("all")
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(all, ["ch_1", "ch_2", "ch_3"]);

    // By id, or by number with or without '+', only within the workspace.
    let by_id = s
        .find_channel(&WorkspaceId::from_trusted("ws_c"), "ch_2")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(by_id.id, "ch_2");
    let by_number = s
        .find_channel(&WorkspaceId::from_trusted("ws_c"), "+521552002")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(by_number.id, "ch_2");
    assert!(s
        .find_channel(&WorkspaceId::from_trusted("ws_c"), "ch_3")
        .await
        .expect("find")
        .is_none());
    assert!(s
        .find_channel(&WorkspaceId::from_trusted("ws_c"), "999")
        .await
        .expect("find")
        .is_none());

    // A new default makes the others non-default; the number stays.
    assert_eq!(
        s.default_channel(&WorkspaceId::from_trusted("ws_c"))
            .await
            .expect("default")
            .map(|c| c.id.into_string())
            .as_deref(),
        Some("ch_1")
    );
    two.is_default = true;
    two.name = "renamed".into();
    s.upsert_channel(&two, 40).await.expect("update");
    let now_default = s
        .default_channel(&WorkspaceId::from_trusted("ws_c"))
        .await
        .expect("default")
        .expect("default");
    assert_eq!(
        (now_default.id.as_str(), now_default.name.as_str()),
        ("ch_2", "renamed")
    );
    assert!(
        !s.get_channel(&ChannelId::from_trusted("ch_1"))
            .await
            .expect("get")
            .expect("channel")
            .is_default
    );
    let before = by_id.num;
    assert_eq!(
        s.get_channel(&ChannelId::from_trusted("ch_2"))
            .await
            .expect("get")
            .expect("channel")
            .num,
        before,
        "numbers are stable"
    );

    // Not while messages wait to be sent.
    accept(&s, message("msg_1", "ws_c", "ch_1", "5215512345678", 50)).await;
    assert_conflict(
        "delete a busy channel",
        s.delete_channel(&ChannelId::from_trusted("ch_1")).await,
        "waiting",
        &[],
    );
    assert!(s
        .get_channel(&ChannelId::from_trusted("ch_1"))
        .await
        .expect("get")
        .is_some());
    assert!(s
        .delete_channel(&ChannelId::from_trusted("ch_2"))
        .await
        .expect("delete"));
    assert!(s
        .get_channel(&ChannelId::from_trusted("ch_2"))
        .await
        .expect("get")
        .is_none());
    assert!(!s
        .delete_channel(&ChannelId::from_trusted("ch_2"))
        .await
        .expect("delete again"));
}

async fn a_channel_conflict_names_its_cause(s: S, _db: &Db) {
    workspace(&s, "ws_c").await;
    s.upsert_channel(&channel("ch_1", "ws_c", "3001"), 1)
        .await
        .expect("upsert");
    assert_conflict(
        "a taken phone_number_id",
        s.upsert_channel(&channel("ch_2", "ws_c", "3001"), 2).await,
        "phone_number_id",
        &[],
    );
    assert_conflict(
        "a channel of a missing workspace",
        s.upsert_channel(&channel("ch_3", "ws_missing", "3003"), 3)
            .await,
        "workspace",
        &["phone_number_id"],
    );
    // Moving a channel onto a taken number is a conflict too; the row is unchanged.
    s.upsert_channel(&channel("ch_4", "ws_c", "3004"), 4)
        .await
        .expect("upsert");
    assert_conflict(
        "an update onto a taken phone_number_id",
        s.upsert_channel(&channel("ch_4", "ws_c", "3001"), 5).await,
        "phone_number_id",
        &[],
    );
    assert_eq!(
        s.get_channel(&ChannelId::from_trusted("ch_4"))
            .await
            .expect("get")
            .expect("channel")
            .phone_number_id,
        "3004"
    );
    let ids: Vec<String> = s
        .all_channels()
        .await
        .expect("all")
        .into_iter()
        .map(|c| c.id.into_string())
        .collect();
    assert_eq!(ids, ["ch_1", "ch_4"]);
}

async fn an_unknown_provider_kind_is_corrupt(s: S, db: &Db) {
    workspace_with_channel(&s, "ws_c", "ch_1", "4001").await;
    assert!(
        corrupt(
            db,
            "UPDATE channels SET provider = 'carrier_pigeon' WHERE id = 'ch_1'"
        )
        .await
    );
    assert_corrupt(
        "get_channel",
        s.get_channel(&ChannelId::from_trusted("ch_1")).await,
    );
    assert_corrupt(
        "list_channels",
        s.list_channels(&WorkspaceId::from_trusted("ws_c")).await,
    );
    assert_corrupt(
        "find_channel",
        s.find_channel(&WorkspaceId::from_trusted("ws_c"), "ch_1")
            .await,
    );
    assert_corrupt("all_channels", s.all_channels().await);
}

async fn an_unknown_window_policy_is_corrupt(s: S, db: &Db) {
    workspace(&s, "ws_c").await;
    let mut warn = channel("ch_1", "ws_c", "4101");
    warn.window_policy = chasqui_domain::window::WindowPolicy::Warn;
    warn.is_default = true;
    s.upsert_channel(&warn, 2).await.expect("upsert");
    let stored = s
        .get_channel(&ChannelId::from_trusted("ch_1"))
        .await
        .expect("get")
        .expect("channel");
    assert_eq!(
        stored.window_policy,
        chasqui_domain::window::WindowPolicy::Warn
    );
    // Read as the default (`enforce`), the channel would start refusing what it was set to send.
    assert!(
        corrupt(
            db,
            "UPDATE channels SET window_policy = 'sometimes' WHERE id = 'ch_1'"
        )
        .await
    );
    assert_corrupt(
        "get_channel",
        s.get_channel(&ChannelId::from_trusted("ch_1")).await,
    );
    assert_corrupt(
        "default_channel",
        s.default_channel(&WorkspaceId::from_trusted("ws_c")).await,
    );
    assert_corrupt(
        "channel_by_num",
        s.channel_by_num(&WorkspaceId::from_trusted("ws_c"), stored.num)
            .await,
    );
    assert_corrupt("lease_channels", s.lease_channels("w", 10, 1_000).await);
}

async fn a_channel_without_its_number_is_corrupt(s: S, db: &Db) {
    let ch = workspace_with_channel(&s, "ws_c", "ch_1", "5001").await;
    assert!(ch.num > 0);
    // PostgreSQL's schema refuses it; where it is stored, reading must not make it 0.
    if corrupt(db, "UPDATE channels SET num = NULL WHERE id = 'ch_1'").await {
        assert_corrupt(
            "get_channel",
            s.get_channel(&ChannelId::from_trusted("ch_1")).await,
        );
        assert_corrupt(
            "list_channels",
            s.list_channels(&WorkspaceId::from_trusted("ws_c")).await,
        );
    }
}

async fn garbage_in_a_number_column_is_corrupt(s: S, db: &Db) {
    workspace(&s, "ws_g").await;
    s.insert_api_key(&api_key("key_1", "ws_g", "hash_1"), 1)
        .await
        .expect("key");
    // PostgreSQL's types refuse these; SQLite stores the text, which must not decode.
    if corrupt(
        db,
        "UPDATE workspaces SET daily_quota = 'lots' WHERE id = 'ws_g'",
    )
    .await
    {
        assert_corrupt(
            "get_workspace",
            s.get_workspace(&WorkspaceId::from_trusted("ws_g")).await,
        );
        assert_corrupt("list_workspaces", s.list_workspaces().await);
    }
    if corrupt(
        db,
        "UPDATE api_keys SET expires_at = 'never' WHERE id = 'key_1'",
    )
    .await
    {
        assert_corrupt("get_api_key", s.get_api_key("key_1").await);
        assert_corrupt(
            "list_api_keys",
            s.list_api_keys(&WorkspaceId::from_trusted("ws_g")).await,
        );
    }
}

contract!(
    workspaces_are_created_updated_listed_and_deleted,
    api_keys_are_found_only_while_usable,
    an_api_key_conflict_names_its_cause,
    channels_are_stored_found_and_deleted,
    a_channel_conflict_names_its_cause,
    an_unknown_provider_kind_is_corrupt,
    an_unknown_window_policy_is_corrupt,
    a_channel_without_its_number_is_corrupt,
    garbage_in_a_number_column_is_corrupt,
);
