//! Users: the store's users, sessions and login throttle on both back ends, and (over HTTP)
//! login, session tokens, throttling, logout and the admin API.

use chasqui_domain::WorkspaceId;
use std::time::Duration;

use chasqui_store::{NewSession, NewUser, StoreError, ThrottlePolicy, UserPatch};
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestDb, TestServer};

async fn open_store(db: &TestDb) -> std::sync::Arc<dyn chasqui_store::Store> {
    let store = chasqui_store::open(&db.url).await.expect("store");
    store.migrate().await.expect("migrate");
    store
}

fn new_user(id: &str, ws: &str, name: &str) -> NewUser {
    NewUser {
        id: id.into(),
        workspace_id: WorkspaceId::from_trusted(ws),
        username: name.into(),
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        scopes: "send read".into(),
    }
}

async fn the_store_keeps_users_and_their_sessions(backend: Backend) {
    let db = TestDb::create(backend).await;
    let store = open_store(&db).await;
    store
        .ensure_workspace(&WorkspaceId::from_trusted("ws_a"), "A", 1)
        .await
        .expect("ws");
    store
        .ensure_workspace(&WorkspaceId::from_trusted("ws_b"), "B", 1)
        .await
        .expect("ws");

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
        .get_user(Some(&WorkspaceId::from_trusted("ws_b")), "usr_1")
        .await
        .expect("get")
        .is_none());
    assert!(store
        .get_user(Some(&WorkspaceId::from_trusted("ws_a")), "usr_1")
        .await
        .expect("get")
        .is_some());
    assert!(store.get_user(None, "usr_1").await.expect("get").is_some());
    let names: Vec<String> = store
        .list_users(&WorkspaceId::from_trusted("ws_b"))
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
        workspace_id: WorkspaceId::from_trusted("ws_a"),
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

    // The purge drops the three revoked sessions and keeps the live one.
    store
        .insert_session(&session("ses_keep", "h_keep", 9_000), 850)
        .await
        .expect("insert");
    assert_eq!(store.purge_logins(900, 1_000).await.expect("purge"), 3);
    assert!(store
        .find_session("h_keep", 901)
        .await
        .expect("find")
        .is_some());

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
        2
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

    // The purge keeps locked names and running windows and forgets the rest.
    store
        .record_login_failure("fresh", 10_000, &policy)
        .await
        .expect("f");
    store
        .purge_logins(5_000, policy.window_ms)
        .await
        .expect("purge");
    assert_eq!(
        store
            .login_locked_until("ana", 5_000)
            .await
            .expect("locked"),
        Some(5_004)
    );
    store
        .purge_logins(10_500, policy.window_ms)
        .await
        .expect("purge");
    assert_eq!(
        store
            .login_locked_until("ana", 5_000)
            .await
            .expect("locked"),
        None
    );
    // "fresh" still counts its first failure: two more lock it.
    assert_eq!(
        store
            .record_login_failure("fresh", 10_600, &policy)
            .await
            .expect("f"),
        None
    );
    assert!(store
        .record_login_failure("fresh", 10_700, &policy)
        .await
        .expect("f")
        .is_some());
    store
        .purge_logins(16_000, policy.window_ms)
        .await
        .expect("purge");
    assert_eq!(
        store
            .login_locked_until("fresh", 15_000)
            .await
            .expect("locked"),
        None
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
    store
        .ensure_workspace(&WorkspaceId::from_trusted("ws_a"), "A", 1)
        .await
        .expect("ws");
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

// ---- over HTTP ----

/// The default workspace (what the first key belongs to).
const WS: &str = chasqui::bootstrap::DEFAULT_WORKSPACE;
const PASSWORD: &str = "correct horse battery";

/// A server whose password hashing is cheap (tests only), with `tweak` on top.
async fn server(backend: Backend, tweak: impl FnOnce(&mut chasqui::config::Config)) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.users.argon2_memory_kib = 1024;
        c.users.argon2_iterations = 1;
        tweak(c);
    })
    .await
}

/// `method path` with `token` (or none) and an optional JSON body: status, headers, JSON.
async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = server.http.request(method, server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

/// Creates a user through the admin API; answers it.
async fn create_user(server: &TestServer, ws: &str, body: Value) -> Value {
    let path = format!("/v1/admin/workspaces/{ws}/users");
    let (status, _, user) = call(server, Method::POST, &path, Some(&server.key), Some(&body)).await;
    assert_eq!(status, 201, "{user}");
    user
}

async fn login(
    server: &TestServer,
    username: &str,
    password: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let body = json!({"username": username, "password": password});
    call(server, Method::POST, "/v1/auth/login", None, Some(&body)).await
}

/// Logs in and answers the token.
async fn token(server: &TestServer, username: &str, password: &str) -> String {
    let (status, _, body) = login(server, username, password).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("token").to_string()
}

fn text(to: &str) -> Value {
    json!({"to": to, "type": "text", "text": {"body": "hola"}})
}

async fn a_user_logs_in_sends_and_logs_out(backend: Backend) {
    let server = server(backend, |_| {}).await;
    let user = create_user(
        &server,
        WS,
        json!({"username": "Ana.Perez", "password": PASSWORD, "scopes": ["send", "read"]}),
    )
    .await;
    assert_eq!(user["username"], "ana.perez");
    assert_eq!(user["scopes"], json!(["send", "read"]));
    assert_eq!(user["disabled"], false);
    let shown = user.to_string();
    assert!(
        !shown.contains("argon2") && !shown.contains(PASSWORD),
        "{shown}"
    );
    let list_path = format!("/v1/admin/workspaces/{WS}/users");
    let (status, _, list) = call(&server, Method::GET, &list_path, Some(&server.key), None).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"][0]["id"], user["id"]);
    assert!(!list.to_string().contains("argon2"));

    let (status, _, session) = login(&server, "ANA.perez", PASSWORD).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["workspace_id"], WS);
    assert_eq!(session["user_id"], user["id"]);
    assert!(session["expires_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let token = session["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("chs_"), "{token}");

    // The token works like an API key: the send reaches the sandbox.
    let (status, _, sent) = call(
        &server,
        Method::POST,
        "/v1/messages",
        Some(&token),
        Some(&text("+5215512340001")),
    )
    .await;
    assert_eq!(status, 202, "{sent}");
    let id = sent["id"].as_str().expect("id").to_string();
    server
        .wait_for(
            std::slice::from_ref(&id),
            &["delivered", "read"],
            Duration::from_secs(20),
        )
        .await;
    let (status, _, read) = call(
        &server,
        Method::GET,
        &format!("/v1/messages/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!((status, read["id"].as_str()), (200, Some(id.as_str())));
    // ... within its scopes only.
    let (status, _, refused) =
        call(&server, Method::GET, "/v1/templates", Some(&token), None).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("insufficient_scope")),
        "{refused}"
    );
    let (status, _, got) = call(
        &server,
        Method::GET,
        "/v1/admin/users/x",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 403, "{got}");
    let (status, _, last) = call(
        &server,
        Method::GET,
        &format!("/v1/admin/users/{}", user["id"].as_str().unwrap_or("")),
        Some(&server.key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{last}");
    assert!(last["last_login_at"].is_string(), "{last}");

    // Logging out ends the session on the next request; the API key is not a session.
    let (status, _, _) = call(&server, Method::POST, "/v1/auth/logout", Some(&token), None).await;
    assert_eq!(status, 204);
    let (status, _, after) = call(
        &server,
        Method::GET,
        &format!("/v1/messages/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 401, "{after}");
    let (status, _, _) = call(&server, Method::POST, "/v1/auth/logout", Some(&token), None).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&server, Method::POST, "/v1/auth/logout", None, None).await;
    assert_eq!(status, 401);
    let made_up = format!("chs_{}", "0".repeat(64));
    let (status, _, body) = call(&server, Method::GET, "/v1/messages", Some(&made_up), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_api_key")),
        "{body}"
    );
    let key = server.key.clone();
    let (status, _, _) = call(&server, Method::POST, "/v1/auth/logout", Some(&key), None).await;
    assert_eq!(status, 400);
    server.stop().await;
}

async fn wrong_passwords_and_unknown_users_get_one_answer(backend: Backend) {
    let server = server(backend, |_| {}).await;
    create_user(
        &server,
        WS,
        json!({"username": "bruno", "password": PASSWORD}),
    )
    .await;
    let (s1, h1, mut wrong) = login(&server, "bruno", "not the password").await;
    let (s2, h2, mut unknown) = login(&server, "nobody-here", PASSWORD).await;
    let (s3, _, mut garbage) = login(&server, "no such name!", PASSWORD).await;
    assert_eq!((s1, s2, s3), (401, 401, 401));
    // Each answer names its own request; the rest must be the same.
    for body in [&mut wrong, &mut unknown, &mut garbage] {
        let id = body.as_object_mut().and_then(|o| o.remove("request_id"));
        assert!(id.is_some_and(|id| id.is_string()), "{body}");
    }
    assert_eq!(wrong["code"], "invalid_credentials", "{wrong}");
    assert_eq!(
        wrong, unknown,
        "the answers must not tell which users exist"
    );
    assert_eq!(wrong, garbage);
    assert_eq!(h1.get("www-authenticate"), h2.get("www-authenticate"));

    // Missing or mistyped fields: 422 naming them.
    let missing = json!({"username": "bruno"});
    let (status, _, body) = call(
        &server,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(&missing),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("password")),
        "{body}"
    );
    let typed = json!({"username": 7, "password": PASSWORD});
    let (status, _, body) = call(&server, Method::POST, "/v1/auth/login", None, Some(&typed)).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("username")),
        "{body}"
    );
    let (status, _, _) = call(
        &server,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(&json!([1])),
    )
    .await;
    assert_eq!(status, 422);
    server.stop().await;
}

async fn repeated_failures_lock_a_username(backend: Backend) {
    let server = server(backend, |c| c.users.max_failed_logins = 3).await;
    create_user(
        &server,
        WS,
        json!({"username": "carla", "password": PASSWORD}),
    )
    .await;
    for _ in 0..3 {
        let (status, _, _) = login(&server, "carla", "wrong password").await;
        assert_eq!(status, 401);
    }
    // Locked: even the right password waits, and says how long.
    let (status, headers, body) = login(&server, "Carla", PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("login_throttled")),
        "{body}"
    );
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(!body.to_string().contains(PASSWORD));
    // Names nobody has are locked the same way.
    for _ in 0..3 {
        let (status, _, _) = login(&server, "ghost", "wrong password").await;
        assert_eq!(status, 401);
    }
    let (status, _, _) = login(&server, "ghost", "wrong password").await;
    assert_eq!(status, 429);
    // Other names are not affected.
    create_user(
        &server,
        WS,
        json!({"username": "dario", "password": PASSWORD}),
    )
    .await;
    token(&server, "dario", PASSWORD).await;
    server.stop().await;
}

async fn sessions_end_on_expiry_disable_password_change_and_delete(backend: Backend) {
    let server = self::server(backend, |c| c.users.session_ttl_secs = 1).await;
    create_user(
        &server,
        WS,
        json!({"username": "elena", "password": PASSWORD, "scopes": ["read"]}),
    )
    .await;

    // Expiry (the configured lifetime is one second).
    let t = token(&server, "elena", PASSWORD).await;
    let (status, _, _) = call(&server, Method::GET, "/v1/messages", Some(&t), None).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (status, _, _) = call(&server, Method::GET, "/v1/messages", Some(&t), None).await;
    assert_eq!(status, 401);
    server.stop().await;

    let server = self::server(backend, |_| {}).await;
    let user = create_user(
        &server,
        WS,
        json!({"username": "elena", "password": PASSWORD, "scopes": ["read"]}),
    )
    .await;
    let user_path = format!("/v1/admin/users/{}", user["id"].as_str().expect("id"));
    let key = server.key.clone();

    // Disabling: the token stops at once and logins are refused like a wrong password.
    let t = token(&server, "elena", PASSWORD).await;
    let (status, _, off) = call(
        &server,
        Method::PATCH,
        &user_path,
        Some(&key),
        Some(&json!({"disabled": true})),
    )
    .await;
    assert_eq!(
        (status, off["disabled"].as_bool()),
        (200, Some(true)),
        "{off}"
    );
    let (status, _, _) = call(&server, Method::GET, "/v1/messages", Some(&t), None).await;
    assert_eq!(status, 401);
    let (status, _, body) = login(&server, "elena", PASSWORD).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (status, _, _) = call(
        &server,
        Method::PATCH,
        &user_path,
        Some(&key),
        Some(&json!({"disabled": false})),
    )
    .await;
    assert_eq!(status, 200);

    // A new password: old sessions end, the old password stops working, the new one works.
    let t = token(&server, "elena", PASSWORD).await;
    let new_password = "another fine passphrase";
    let (status, _, changed) = call(
        &server,
        Method::PATCH,
        &user_path,
        Some(&key),
        Some(&json!({"password": new_password, "scopes": ["read", "send"]})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["scopes"], json!(["send", "read"]));
    assert!(!changed.to_string().contains(new_password));
    let (status, _, _) = call(&server, Method::GET, "/v1/messages", Some(&t), None).await;
    assert_eq!(status, 401);
    let (status, _, _) = login(&server, "elena", PASSWORD).await;
    assert_eq!(status, 401);
    let t = token(&server, "elena", new_password).await;

    // Deleting.
    let (status, _, _) = call(&server, Method::DELETE, &user_path, Some(&key), None).await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&server, Method::GET, "/v1/messages", Some(&t), None).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&server, Method::GET, &user_path, Some(&key), None).await;
    assert_eq!(status, 404);
    let (status, _, _) = call(&server, Method::DELETE, &user_path, Some(&key), None).await;
    assert_eq!(status, 404);
    server.stop().await;
}

async fn a_users_token_sees_only_its_workspace(backend: Backend) {
    let server = server(backend, |_| {}).await;
    let key = server.key.clone();
    let (status, _, ws_b) = call(
        &server,
        Method::POST,
        "/v1/admin/workspaces",
        Some(&key),
        Some(&json!({"name": "Bravo"})),
    )
    .await;
    assert_eq!(status, 201, "{ws_b}");
    let ws_b = ws_b["id"].as_str().expect("id").to_string();
    create_user(
        &server,
        WS,
        json!({"username": "alfa-user", "password": PASSWORD}),
    )
    .await;
    create_user(
        &server,
        &ws_b,
        json!({"username": "bravo-user", "password": PASSWORD}),
    )
    .await;

    let a = token(&server, "alfa-user", PASSWORD).await;
    let b = token(&server, "bravo-user", PASSWORD).await;
    let id = server.send_ok(&text("+5215512340002")).await;
    let path = format!("/v1/messages/{id}");
    let (status, _, _) = call(&server, Method::GET, &path, Some(&a), None).await;
    assert_eq!(status, 200);
    let (status, _, body) = call(&server, Method::GET, &path, Some(&b), None).await;
    assert_eq!(status, 404, "{body}");
    let (status, _, list) = call(&server, Method::GET, "/v1/messages", Some(&b), None).await;
    assert_eq!(
        (status, list["data"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{list}"
    );
    // Each workspace lists only its own users.
    let (_, _, users_b) = call(
        &server,
        Method::GET,
        &format!("/v1/admin/workspaces/{ws_b}/users"),
        Some(&key),
        None,
    )
    .await;
    let names: Vec<&str> = users_b["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert_eq!(names, ["bravo-user"]);
    // Disabling the workspace ends its users' sessions; deleting it deletes its users.
    let ws_path = format!("/v1/admin/workspaces/{ws_b}");
    let off = json!({"disabled": true});
    let (status, _, body) = call(&server, Method::PATCH, &ws_path, Some(&key), Some(&off)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = call(&server, Method::GET, "/v1/messages", Some(&b), None).await;
    assert_eq!(status, 401);
    let (status, _, body) = call(&server, Method::DELETE, &ws_path, Some(&key), None).await;
    assert_eq!(status, 204, "{body}");
    let (status, _, _) = login(&server, "bravo-user", PASSWORD).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&server, Method::GET, "/v1/messages", Some(&a), None).await;
    assert_eq!(status, 200);
    server.stop().await;
}

async fn bad_user_input_is_refused_and_nothing_created(backend: Backend) {
    let server = server(backend, |_| {}).await;
    let key = server.key.clone();
    let path = format!("/v1/admin/workspaces/{WS}/users");
    let cases = [
        (
            json!({"username": "ok-name", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "ok-name", "password": "x".repeat(257)}),
            "password",
        ),
        (json!({"username": "ok-name"}), "password"),
        (
            json!({"username": "ok-name", "password": 12345678}),
            "password",
        ),
        (
            json!({"username": "no spaces", "password": PASSWORD}),
            "username",
        ),
        (json!({"username": "ab", "password": PASSWORD}), "username"),
        (json!({"password": PASSWORD}), "username"),
        (
            json!({"username": "ok-name", "password": PASSWORD, "scopes": ["send", "fly"]}),
            "scopes",
        ),
        (
            json!({"username": "ok-name", "password": PASSWORD, "scopes": []}),
            "scopes",
        ),
        (
            json!({"username": "ok-name", "password": PASSWORD, "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let (status, _, answer) = call(&server, Method::POST, &path, Some(&key), Some(&body)).await;
        assert_eq!(status, 422, "{body} → {answer}");
        let fields: Vec<&str> = answer["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{body} → {answer}");
        assert!(!answer.to_string().contains(PASSWORD));
    }
    let (_, _, list) = call(&server, Method::GET, &path, Some(&key), None).await;
    assert_eq!(list["data"], json!([]), "nothing was created");

    // Names are unique regardless of case; unknown workspaces and users are 404.
    create_user(
        &server,
        WS,
        json!({"username": "fabio", "password": PASSWORD}),
    )
    .await;
    let dup = json!({"username": "FABIO", "password": PASSWORD});
    let (status, _, body) = call(&server, Method::POST, &path, Some(&key), Some(&dup)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let (status, _, _) = call(
        &server,
        Method::POST,
        "/v1/admin/workspaces/ws_nope/users",
        Some(&key),
        Some(&json!({"username": "gil", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &server,
        Method::PATCH,
        "/v1/admin/users/usr_nope",
        Some(&key),
        Some(&json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 404);
    // A bad patch changes nothing.
    let (_, _, list) = call(&server, Method::GET, &path, Some(&key), None).await;
    let id = list["data"][0]["id"].as_str().expect("id").to_string();
    let (status, _, _) = call(
        &server,
        Method::PATCH,
        &format!("/v1/admin/users/{id}"),
        Some(&key),
        Some(&json!({"password": "short", "disabled": true})),
    )
    .await;
    assert_eq!(status, 422);
    token(&server, "fabio", PASSWORD).await;
    server.stop().await;
}

/// `chasqui user ARGS` on `db` with cheap hashing, `stdin` piped in and `env` set; answers
/// success, stdout and stderr.
fn user_cli(
    db: &TestDb,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = crate::process::chasqui(db);
    cmd.arg("user")
        .args(args)
        .env("CHASQUI_USERS__ARGON2_MEMORY_KIB", "1024")
        .env("CHASQUI_USERS__ARGON2_ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("chasqui user");
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).expect("stdin");
        }
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn the_user_cli_manages_users(backend: Backend) {
    let db = TestDb::create(backend).await;
    let migrate = crate::process::chasqui(&db)
        .arg("migrate")
        .output()
        .expect("migrate");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    // The password comes from stdin or the environment, never a flag.
    let (ok, _, err) = user_cli(&db, &["create", "--username", "Gaby"], None, &[]);
    assert!(!ok && err.contains("--password-stdin"), "{err}");
    let (ok, out, err) = user_cli(
        &db,
        &[
            "create",
            "--username",
            "Gaby",
            "--scopes",
            "send,read",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
        &[],
    );
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(created["username"], "gaby");
    assert_eq!(created["scopes"], json!(["send", "read"]));
    assert!(!out.contains(PASSWORD) && !out.contains("argon2") && !err.contains(PASSWORD));
    let (ok, _, err) = user_cli(
        &db,
        &["create", "--username", "x y", "--password-stdin"],
        Some(PASSWORD),
        &[],
    );
    assert!(!ok && err.contains("username"), "{err}");
    let (ok, _, err) = user_cli(
        &db,
        &["create", "--username", "gaby"],
        None,
        &[("CHASQUI_USER_PASSWORD", PASSWORD)],
    );
    assert!(!ok && err.contains("taken"), "{err}");
    let (ok, out, _) = user_cli(&db, &["list"], None, &[]);
    assert!(ok);
    let listed: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(listed[0]["id"], created["id"]);

    // The server logs the user in with the password set through stdin (newline dropped).
    let cfg = crate::support::test_config(&db);
    let server = TestServer::start_on(db, cfg).await;
    token(&server, "gaby", PASSWORD).await;

    let new_password = "a brand new passphrase";
    let (ok, _, err) = user_cli(
        &server.db,
        &["passwd", "GABY"],
        None,
        &[("CHASQUI_USER_PASSWORD", new_password)],
    );
    assert!(ok, "{err}");
    let (status, _, _) = login(&server, "gaby", PASSWORD).await;
    assert_eq!(status, 401);
    token(&server, "gaby", new_password).await;

    let (ok, out, _) = user_cli(&server.db, &["disable", "gaby"], None, &[]);
    assert!(ok && out.contains("\"disabled\": true"), "{out}");
    let (status, _, _) = login(&server, "gaby", new_password).await;
    assert_eq!(status, 401);
    let (ok, _, _) = user_cli(&server.db, &["enable", "gaby"], None, &[]);
    assert!(ok);
    token(&server, "gaby", new_password).await;

    let id = created["id"].as_str().expect("id");
    let (ok, _, err) = user_cli(&server.db, &["delete", id], None, &[]);
    assert!(ok, "{err}");
    let (ok, out, _) = user_cli(&server.db, &["list"], None, &[]);
    assert!(ok && out.trim() == "[]", "{out}");
    let (ok, _, err) = user_cli(&server.db, &["delete", "gaby"], None, &[]);
    assert!(!ok && err.contains("not found"), "{err}");
    server.stop().await;
}

on_both_backends!(
    the_user_cli_manages_users,
    a_user_logs_in_sends_and_logs_out,
    wrong_passwords_and_unknown_users_get_one_answer,
    repeated_failures_lock_a_username,
    sessions_end_on_expiry_disable_password_change_and_delete,
    a_users_token_sees_only_its_workspace,
    bad_user_input_is_refused_and_nothing_created,
);

on_both_backends!(
    the_login_service_checks_passwords_and_throttles,
    the_store_keeps_users_and_their_sessions,
    the_throttle_locks_a_name_after_repeated_failures,
    concurrent_failures_all_count,
);
