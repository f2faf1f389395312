//! Users: the store's users, sessions and login throttle on both back ends, and (over HTTP)
//! login, session tokens, throttling, logout and the admin API.

use chasqui_store::{NewSession, NewUser, StoreError, ThrottlePolicy, UserPatch};

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

async fn open_store(db: &TestDb) -> std::sync::Arc<dyn chasqui_store::Store> {
    let store = chasqui_store::open(&db.url).await.expect("store");
    store.migrate().await.expect("migrate");
    store
}

fn new_user(id: &str, ws: &str, name: &str) -> NewUser {
    NewUser {
        id: id.into(),
        workspace_id: ws.into(),
        username: name.into(),
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        scopes: "send read".into(),
    }
}

async fn the_store_keeps_users_and_their_sessions(backend: Backend) {
    let db = TestDb::create(backend).await;
    let store = open_store(&db).await;
    store.ensure_workspace("ws_a", "A", 1).await.expect("ws");
    store.ensure_workspace("ws_b", "B", 1).await.expect("ws");

    let ana = store
        .create_user(&new_user("usr_1", "ws_a", "Ana@Shop"), 10)
        .await
        .expect("create");
    assert_eq!(ana.username, "ana@shop", "stored lower-cased");
    assert_eq!((ana.created_at, ana.disabled_at), (10, None));
    // Unique regardless of case and across workspaces.
    let dup = store
        .create_user(&new_user("usr_2", "ws_b", "ANA@shop"), 11)
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let no_ws = store
        .create_user(&new_user("usr_3", "ws_missing", "bob"), 11)
        .await;
    assert!(matches!(no_ws, Err(StoreError::Conflict(_))), "{no_ws:?}");
    store
        .create_user(&new_user("usr_4", "ws_b", "carla"), 12)
        .await
        .expect("create");

    let found = store.find_user_by_username("ANA@SHOP").await.expect("find");
    assert_eq!(found.map(|u| u.id).as_deref(), Some("usr_1"));
    assert!(store
        .get_user(Some("ws_b"), "usr_1")
        .await
        .expect("get")
        .is_none());
    assert!(store
        .get_user(Some("ws_a"), "usr_1")
        .await
        .expect("get")
        .is_some());
    assert!(store.get_user(None, "usr_1").await.expect("get").is_some());
    let names: Vec<String> = store
        .list_users("ws_b")
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["carla"]);

    // Sessions: live until expiry, revocation, or the user's disabling.
    let session = |id: &str, hash: &str, expires_at| NewSession {
        id: id.into(),
        token_hash: hash.into(),
        user_id: "usr_1".into(),
        workspace_id: "ws_a".into(),
        scopes: "send read".into(),
        expires_at,
    };
    store
        .insert_session(&session("ses_1", "h1", 1_000), 100)
        .await
        .expect("insert");
    store
        .insert_session(&session("ses_2", "h2", 1_000), 100)
        .await
        .expect("insert");
    let live = store
        .find_session("h1", 999)
        .await
        .expect("find")
        .expect("live");
    assert_eq!(
        (live.id.as_str(), live.workspace_id.as_str()),
        ("ses_1", "ws_a")
    );
    assert!(
        store
            .find_session("h1", 1_000)
            .await
            .expect("find")
            .is_none(),
        "expired"
    );
    assert!(store
        .find_session("nope", 500)
        .await
        .expect("find")
        .is_none());
    let user = store
        .get_user(None, "usr_1")
        .await
        .expect("get")
        .expect("user");
    assert_eq!(user.last_login_at, Some(100));

    assert!(store.revoke_session("ses_1", 200).await.expect("revoke"));
    assert!(!store
        .revoke_session("ses_1", 201)
        .await
        .expect("revoke twice"));
    assert!(store.find_session("h1", 300).await.expect("find").is_none());
    assert!(store.find_session("h2", 300).await.expect("find").is_some());

    // Disabling ends sessions; enabling does not bring them back.
    let patch = UserPatch {
        disabled: Some(true),
        ..Default::default()
    };
    let off = store
        .update_user("usr_1", &patch, 400)
        .await
        .expect("update")
        .expect("user");
    assert_eq!(off.disabled_at, Some(400));
    assert!(store.find_session("h2", 401).await.expect("find").is_none());
    let patch = UserPatch {
        disabled: Some(false),
        scopes: None,
        password_hash: None,
    };
    let on = store
        .update_user("usr_1", &patch, 500)
        .await
        .expect("update")
        .expect("user");
    assert_eq!(on.disabled_at, None);
    assert!(store.find_session("h2", 501).await.expect("find").is_none());

    // A new password hash revokes; the hash is stored.
    store
        .insert_session(&session("ses_3", "h3", 9_000), 600)
        .await
        .expect("insert");
    let patch = UserPatch {
        password_hash: Some("$argon2id$new".into()),
        ..Default::default()
    };
    let changed = store
        .update_user("usr_1", &patch, 700)
        .await
        .expect("update")
        .expect("user");
    assert_eq!(changed.password_hash, "$argon2id$new");
    assert_eq!(changed.scopes, "send read");
    assert!(store.find_session("h3", 701).await.expect("find").is_none());
    assert!(store
        .update_user("usr_missing", &patch, 700)
        .await
        .expect("update")
        .is_none());

    // Deleting a user deletes its sessions.
    store
        .insert_session(&session("ses_4", "h4", 9_000), 800)
        .await
        .expect("insert");
    assert_eq!(
        store
            .revoke_user_sessions("usr_1", 801)
            .await
            .expect("revoke all"),
        1
    );
    store
        .insert_session(&session("ses_5", "h5", 9_000), 802)
        .await
        .expect("insert");
    assert!(store.delete_user("usr_1").await.expect("delete"));
    assert!(!store.delete_user("usr_1").await.expect("delete twice"));
    assert!(store.find_session("h5", 803).await.expect("find").is_none());
    assert!(store
        .find_user_by_username("ana@shop")
        .await
        .expect("find")
        .is_none());
    // The name is free again.
    store
        .create_user(&new_user("usr_5", "ws_b", "ana@shop"), 900)
        .await
        .expect("create again");
}

async fn the_throttle_locks_a_name_after_repeated_failures(backend: Backend) {
    let db = TestDb::create(backend).await;
    let store = open_store(&db).await;
    let policy = ThrottlePolicy {
        max_failures: 3,
        window_ms: 1_000,
        lockout_ms: 5_000,
    };
    // Names are counted whether or not a user has them, regardless of case.
    assert_eq!(
        store
            .record_login_failure("ghost", 0, &policy)
            .await
            .expect("f1"),
        None
    );
    assert_eq!(
        store
            .record_login_failure("GHOST", 10, &policy)
            .await
            .expect("f2"),
        None
    );
    assert_eq!(
        store.login_locked_until("ghost", 20).await.expect("locked"),
        None
    );
    assert_eq!(
        store
            .record_login_failure("Ghost", 20, &policy)
            .await
            .expect("f3"),
        Some(5_020)
    );
    assert_eq!(
        store
            .login_locked_until("ghost", 5_019)
            .await
            .expect("locked"),
        Some(5_020)
    );
    assert_eq!(
        store
            .login_locked_until("ghost", 5_020)
            .await
            .expect("locked"),
        None
    );
    // After the lock the count starts over.
    assert_eq!(
        store
            .record_login_failure("ghost", 6_000, &policy)
            .await
            .expect("f"),
        None
    );

    // Failures further apart than the window do not add up.
    for at in [0, 1_500, 3_000, 4_500] {
        assert_eq!(
            store
                .record_login_failure("slow", at, &policy)
                .await
                .expect("f"),
            None
        );
    }
    // Clearing forgets the count.
    store
        .record_login_failure("ana", 0, &policy)
        .await
        .expect("f");
    store
        .record_login_failure("ana", 1, &policy)
        .await
        .expect("f");
    store.clear_login_failures("ANA").await.expect("clear");
    assert_eq!(
        store
            .record_login_failure("ana", 2, &policy)
            .await
            .expect("f"),
        None
    );
    assert_eq!(
        store
            .record_login_failure("ana", 3, &policy)
            .await
            .expect("f"),
        None
    );
    assert_eq!(
        store
            .record_login_failure("ana", 4, &policy)
            .await
            .expect("f"),
        Some(5_004)
    );
}

async fn concurrent_failures_all_count(backend: Backend) {
    let db = TestDb::create(backend).await;
    let store = open_store(&db).await;
    let policy = ThrottlePolicy {
        max_failures: 20,
        window_ms: 60_000,
        lockout_ms: 60_000,
    };
    let tasks: Vec<_> = (0..19)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.record_login_failure("eve", i, &policy).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("join").expect("failure"), None);
    }
    assert!(store
        .record_login_failure("eve", 100, &policy)
        .await
        .expect("20th")
        .is_some());
}

/// The login service with cheap Argon2 parameters (tests only) and a small throttle.
fn cheap_users(max_failed_logins: u32) -> chasqui::users::Users {
    let cfg = chasqui::config::UsersConfig {
        argon2_memory_kib: 1024,
        argon2_iterations: 1,
        max_failed_logins,
        session_ttl_secs: 60,
        ..Default::default()
    };
    chasqui::users::Users::new(&cfg).expect("users")
}

async fn the_login_service_checks_passwords_and_throttles(backend: Backend) {
    use chasqui::users::LoginError;
    let db = TestDb::create(backend).await;
    let store = open_store(&db).await;
    store.ensure_workspace("ws_a", "A", 1).await.expect("ws");
    let users = cheap_users(3);
    let hash = users.hasher().hash("correct horse").await.expect("hash");
    assert!(!hash.contains("correct horse"));
    let mut ana = new_user("usr_1", "ws_a", "ana");
    ana.password_hash = hash;
    store.create_user(&ana, 1).await.expect("create");

    let s = users
        .login(store.as_ref(), "ANA", "correct horse", 1_000)
        .await
        .expect("login");
    assert!(
        s.token.starts_with("chs_") && s.token.len() == 68,
        "{}",
        s.token
    );
    assert_eq!((s.expires_at, s.workspace_id.as_str()), (61_000, "ws_a"));
    let hash = chasqui::ids::sha256_hex(s.token.as_bytes());
    let live = store
        .find_session(&hash, 1_001)
        .await
        .expect("find")
        .expect("live");
    assert_eq!((live.id, live.user_id), (s.id.clone(), "usr_1".to_string()));

    for (name, password) in [
        ("ana", "wrong horse"),
        ("nobody", "correct horse"),
        ("x", ""),
    ] {
        let err = users.login(store.as_ref(), name, password, 2_000).await;
        assert!(
            matches!(err, Err(LoginError::InvalidCredentials)),
            "{name}: {err:?}"
        );
    }
    // One failure for ana so far; two more lock her, and then even the right password waits.
    let err = users.login(store.as_ref(), "ana", "bad", 2_001).await;
    assert!(
        matches!(err, Err(LoginError::InvalidCredentials)),
        "{err:?}"
    );
    let err = users.login(store.as_ref(), "ana", "bad", 2_002).await;
    assert!(
        matches!(err, Err(LoginError::InvalidCredentials)),
        "{err:?}"
    );
    let err = users
        .login(store.as_ref(), "ana", "correct horse", 2_003)
        .await;
    assert!(
        matches!(
            err,
            Err(LoginError::Throttled {
                retry_after_secs: 900
            })
        ),
        "{err:?}"
    );
    // After the lockout the right password works again.
    users
        .login(store.as_ref(), "ana", "correct horse", 2_002 + 900_000)
        .await
        .expect("login after the lock");

    // A disabled user cannot log in, with the same answer.
    let off = UserPatch {
        disabled: Some(true),
        ..Default::default()
    };
    store
        .update_user("usr_1", &off, 5_000_000)
        .await
        .expect("disable");
    let err = users
        .login(store.as_ref(), "ana", "correct horse", 5_000_001)
        .await;
    assert!(
        matches!(err, Err(LoginError::InvalidCredentials)),
        "{err:?}"
    );
    assert!(users.logout(store.as_ref(), &s.id, 5_000_002).await.is_ok());
}

on_both_backends!(
    the_login_service_checks_passwords_and_throttles,
    the_store_keeps_users_and_their_sessions,
    the_throttle_locks_a_name_after_repeated_failures,
    concurrent_failures_all_count,
);
