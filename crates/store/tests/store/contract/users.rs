//! UserStore: users, their sessions and the failed-login throttle.

use chasqui_domain::WorkspaceId;
use chasqui_store::{NewSession, NewUser, ThrottlePolicy, UserPatch};

use super::*;

fn user(id: &str, ws: &str, name: &str) -> NewUser {
    NewUser {
        id: id.into(),
        workspace_id: WorkspaceId::from_trusted(ws),
        username: name.into(),
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into(),
        scopes: "send read".into(),
    }
}

fn session(id: &str, user: &str, ws: &str, expires_at: i64) -> NewSession {
    NewSession {
        id: id.into(),
        token_hash: format!("hash_{id}"),
        user_id: user.into(),
        workspace_id: WorkspaceId::from_trusted(ws),
        scopes: "send".into(),
        expires_at,
    }
}

async fn users_are_created_found_changed_and_deleted(s: S, _db: &Db) {
    workspace(&s, "ws_a").await;
    workspace(&s, "ws_b").await;
    assert!(s
        .list_users(&WorkspaceId::from_trusted("ws_a"))
        .await
        .expect("list")
        .is_empty());
    let ana = s
        .create_user(&user("usr_1", "ws_a", "  Ana@Shop "), 10)
        .await
        .expect("create");
    assert_eq!(
        (
            ana.username.as_str(),
            ana.created_at,
            ana.updated_at,
            ana.disabled_at,
            ana.last_login_at
        ),
        ("ana@shop", 10, 10, None, None)
    );
    s.create_user(&user("usr_2", "ws_a", "bob"), 11)
        .await
        .expect("create");
    s.create_user(&user("usr_3", "ws_b", "carla"), 12)
        .await
        .expect("create");

    assert_eq!(
        s.get_user(None, "usr_1").await.expect("get"),
        Some(ana.clone())
    );
    assert_eq!(
        s.get_user(Some(&WorkspaceId::from_trusted("ws_a")), "usr_1")
            .await
            .expect("get"),
        Some(ana.clone())
    );
    assert!(s
        .get_user(Some(&WorkspaceId::from_trusted("ws_b")), "usr_1")
        .await
        .expect("get")
        .is_none());
    assert!(s.get_user(None, "usr_none").await.expect("get").is_none());
    assert_eq!(
        s.find_user_by_username("ANA@SHOP").await.expect("find"),
        Some(ana.clone())
    );
    assert!(s
        .find_user_by_username("nobody")
        .await
        .expect("find")
        .is_none());
    let names: Vec<String> = s
        .list_users(&WorkspaceId::from_trusted("ws_a"))
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["ana@shop", "bob"]);

    let changed = s
        .update_user(
            "usr_1",
            &UserPatch {
                scopes: Some("read".into()),
                disabled: Some(true),
                ..Default::default()
            },
            20,
        )
        .await
        .expect("update")
        .expect("user");
    assert_eq!(
        (
            changed.scopes.as_str(),
            changed.disabled_at,
            changed.updated_at
        ),
        ("read", Some(20), 20)
    );
    let again = s
        .update_user(
            "usr_1",
            &UserPatch {
                disabled: Some(true),
                ..Default::default()
            },
            30,
        )
        .await
        .expect("update")
        .expect("user");
    assert_eq!(
        again.disabled_at,
        Some(20),
        "disabling keeps the first time"
    );
    let enabled = s
        .update_user(
            "usr_1",
            &UserPatch {
                disabled: Some(false),
                ..Default::default()
            },
            40,
        )
        .await
        .expect("update")
        .expect("user");
    assert_eq!(enabled.disabled_at, None);
    assert!(s
        .update_user("usr_none", &UserPatch::default(), 50)
        .await
        .expect("update")
        .is_none());

    assert!(s.delete_user("usr_2").await.expect("delete"));
    assert!(!s.delete_user("usr_2").await.expect("delete again"));
    assert!(s.get_user(None, "usr_2").await.expect("get").is_none());
}

async fn a_user_conflict_names_its_cause(s: S, _db: &Db) {
    workspace(&s, "ws_a").await;
    workspace(&s, "ws_b").await;
    s.create_user(&user("usr_1", "ws_a", "ana"), 1)
        .await
        .expect("create");
    assert_conflict(
        "a taken username, in another workspace and case",
        s.create_user(&user("usr_2", "ws_b", "ANA"), 2).await,
        "username",
        &["workspace"],
    );
    assert_conflict(
        "a user of a missing workspace",
        s.create_user(&user("usr_3", "ws_missing", "bob"), 3).await,
        "workspace",
        &["username"],
    );
    assert_conflict(
        "a taken user id",
        s.create_user(&user("usr_1", "ws_a", "carla"), 4).await,
        "usr_1",
        &["workspace", "username"],
    );
    let names: Vec<String> = s
        .list_users(&WorkspaceId::from_trusted("ws_a"))
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["ana"]);
}

async fn sessions_live_until_expired_revoked_or_their_user_goes(s: S, _db: &Db) {
    workspace(&s, "ws_a").await;
    workspace(&s, "ws_off").await;
    s.create_user(&user("usr_1", "ws_a", "ana"), 1)
        .await
        .expect("create");
    s.create_user(&user("usr_2", "ws_a", "bob"), 1)
        .await
        .expect("create");
    s.create_user(&user("usr_3", "ws_off", "carla"), 1)
        .await
        .expect("create");
    s.insert_session(&session("ses_1", "usr_1", "ws_a", 1_000), 100)
        .await
        .expect("insert");
    s.insert_session(&session("ses_2", "usr_1", "ws_a", 1_000), 110)
        .await
        .expect("insert");
    s.insert_session(&session("ses_3", "usr_2", "ws_a", 1_000), 120)
        .await
        .expect("insert");
    s.insert_session(&session("ses_4", "usr_3", "ws_off", 1_000), 130)
        .await
        .expect("insert");
    assert_eq!(
        s.get_user(None, "usr_1")
            .await
            .expect("get")
            .expect("user")
            .last_login_at,
        Some(110)
    );

    let live = s
        .find_session("hash_ses_1", 500)
        .await
        .expect("find")
        .expect("session");
    assert_eq!(
        (
            live.id.as_str(),
            live.user_id.as_str(),
            live.workspace_id.as_str(),
            live.scopes.as_str(),
            live.expires_at,
            live.created_at
        ),
        ("ses_1", "usr_1", "ws_a", "send", 1_000, 100)
    );
    assert!(s
        .find_session("hash_nobody", 500)
        .await
        .expect("find")
        .is_none());
    assert!(
        s.find_session("hash_ses_1", 1_000)
            .await
            .expect("find")
            .is_none(),
        "expired"
    );
    // A disabled workspace's sessions stop working.
    let mut off = s
        .get_workspace(&WorkspaceId::from_trusted("ws_off"))
        .await
        .expect("get")
        .expect("ws");
    off.disabled_at = Some(200);
    s.save_workspace(&off).await.expect("disable");
    assert!(s
        .find_session("hash_ses_4", 500)
        .await
        .expect("find")
        .is_none());

    assert!(s.revoke_session("ses_1", 300).await.expect("revoke"));
    assert!(!s.revoke_session("ses_1", 301).await.expect("revoke again"));
    assert!(!s
        .revoke_session("ses_none", 301)
        .await
        .expect("revoke missing"));
    assert!(s
        .find_session("hash_ses_1", 500)
        .await
        .expect("find")
        .is_none());
    assert_eq!(
        s.revoke_user_sessions("usr_1", 310)
            .await
            .expect("revoke all"),
        1
    );
    assert_eq!(
        s.revoke_user_sessions("usr_1", 311)
            .await
            .expect("revoke all"),
        0
    );
    // A new password ends the user's sessions in the same change.
    s.update_user(
        "usr_2",
        &UserPatch {
            password_hash: Some("$argon2id$new".into()),
            ..Default::default()
        },
        320,
    )
    .await
    .expect("update")
    .expect("user");
    assert!(s
        .find_session("hash_ses_3", 500)
        .await
        .expect("find")
        .is_none());

    // A deleted user's sessions go with it.
    s.insert_session(&session("ses_5", "usr_2", "ws_a", 5_000), 330)
        .await
        .expect("insert");
    assert!(s
        .find_session("hash_ses_5", 500)
        .await
        .expect("find")
        .is_some());
    assert!(s.delete_user("usr_2").await.expect("delete"));
    assert!(s
        .find_session("hash_ses_5", 500)
        .await
        .expect("find")
        .is_none());

    // Purge: revoked and expired sessions.
    let purged = s.purge_logins(2_000, 60_000).await.expect("purge");
    assert!(purged >= 3, "purged {purged}");
    assert_eq!(s.purge_logins(2_000, 60_000).await.expect("purge again"), 0);
}

async fn failed_logins_lock_a_name_for_a_while(s: S, _db: &Db) {
    let policy = ThrottlePolicy {
        max_failures: 3,
        window_ms: 1_000,
        lockout_ms: 5_000,
    };
    assert!(s
        .login_locked_until("ana", 0)
        .await
        .expect("locked")
        .is_none());
    assert_eq!(
        s.record_login_failure("Ana", 100, &policy)
            .await
            .expect("fail"),
        None
    );
    assert_eq!(
        s.record_login_failure("ANA", 200, &policy)
            .await
            .expect("fail"),
        None
    );
    assert_eq!(
        s.record_login_failure("ana", 300, &policy)
            .await
            .expect("fail"),
        Some(5_300),
        "the third locks"
    );
    assert_eq!(
        s.login_locked_until("ana", 400).await.expect("locked"),
        Some(5_300)
    );
    assert!(s
        .login_locked_until("ana", 5_300)
        .await
        .expect("locked")
        .is_none());
    assert!(s
        .login_locked_until("bob", 400)
        .await
        .expect("locked")
        .is_none());
    // Failures outside the window start over.
    assert_eq!(
        s.record_login_failure("bob", 100, &policy)
            .await
            .expect("fail"),
        None
    );
    assert_eq!(
        s.record_login_failure("bob", 200, &policy)
            .await
            .expect("fail"),
        None
    );
    assert_eq!(
        s.record_login_failure("bob", 2_000, &policy)
            .await
            .expect("fail"),
        None
    );
    // Cleared by a successful login.
    s.clear_login_failures("BOB").await.expect("clear");
    s.clear_login_failures("nobody")
        .await
        .expect("clear nothing");
    assert_eq!(
        s.record_login_failure("bob", 2_100, &policy)
            .await
            .expect("fail"),
        None
    );
    assert_eq!(
        s.record_login_failure("bob", 2_200, &policy)
            .await
            .expect("fail"),
        None
    );
    // Concurrent failures all count: five at once lock the name once and count two more, so
    // the next one locks it again.
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.record_login_failure("carla", 10_000, &policy)
                .await
                .expect("fail")
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(
        s.login_locked_until("carla", 10_000).await.expect("locked"),
        Some(15_000)
    );
    assert_eq!(
        s.record_login_failure("carla", 10_500, &policy)
            .await
            .expect("fail"),
        Some(15_500)
    );
    // Purge: rows neither locked nor counting.
    assert!(s.purge_logins(1_000_000, 1_000).await.expect("purge") >= 3);
    assert!(s
        .login_locked_until("carla", 1_000_000)
        .await
        .expect("locked")
        .is_none());
}

contract!(
    users_are_created_found_changed_and_deleted,
    a_user_conflict_names_its_cause,
    sessions_live_until_expired_revoked_or_their_user_goes,
    failed_logins_lock_a_name_for_a_while,
);
