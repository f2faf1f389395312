//! What a new operator meets in the first hour: a second workspace with a sandbox channel that
//! sends `hello_world` at once, clear refusals of sender numbers, templates synced when a channel
//! appears (through the API or the CLI), an operator acting on any workspace's templates, a
//! causal timeline, and what the running build is.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::process::chasqui;
use crate::support::{fresh_number, Backend, TestServer};

fn hello_world(to: &str) -> Value {
    json!({"to": to, "type": "template",
           "template": {"name": "hello_world", "language": {"code": "en_US"}}})
}

/// The `errors[]` of a problem answer as (field, code) pairs.
fn problems(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or("").to_string(),
                        e["code"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn a_second_workspace_sends_hello_world_at_once(backend: Backend) {
    // Channel leases renewed every 40 s: a new channel must not wait for the renewal to send.
    let server = TestServer::start_with(backend, |c| c.dispatcher.channel_lease_ms = 120_000).await;
    let (status, ws) = server
        .request_json(
            Method::POST,
            "/v1/admin/workspaces",
            &json!({"name": "Segunda"}),
        )
        .await;
    assert_eq!(status, 201, "{ws}");
    let ws_id = ws["id"].as_str().expect("id").to_string();
    let channels = format!("/v1/admin/workspaces/{ws_id}/channels");
    let (phone_number_id, _) = fresh_number();

    // Meta's test range, as the default channel's own number, is a sandbox sender.
    let (status, ch) = server
        .request_json(
            Method::POST,
            &channels,
            &json!({"provider": "sandbox", "phone_number_id": phone_number_id,
                    "display_phone_number": "+15550000002", "window_policy": "off",
                    "rate_per_sec": 0, "pair_interval_ms": 0}),
        )
        .await;
    assert_eq!(status, 201, "{ch}");
    assert_eq!(ch["display_phone_number"], "+15550000002", "{ch}");
    assert!(
        ch["template_sync"]["templates"].as_u64().unwrap_or(0) >= 1,
        "the new channel's templates are synced before the answer: {ch}"
    );
    let channel_id = ch["id"].as_str().expect("id").to_string();

    let (status, key) = server
        .request_json(
            Method::POST,
            &format!("/v1/admin/workspaces/{ws_id}/keys"),
            &json!({"name": "segunda", "scopes": ["send", "read", "templates"]}),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let tenant_key = key["key"].as_str().expect("key").to_string();

    // The template is known at once: no waiting for the hourly sync.
    let resp = server
        .http
        .post(server.url("/v1/messages"))
        .bearer_auth(&tenant_key)
        .json(&hello_world("+5215512345678"))
        .send()
        .await
        .expect("send");
    let status = resp.status();
    let sent: Value = resp.json().await.expect("json");
    assert_eq!(status, 202, "{sent}");
    assert_eq!(sent["channel"], channel_id.as_str(), "{sent}");
    let id = sent["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, msg) = crate::support::request_with(
            &server.http,
            &server.base,
            &tenant_key,
            Method::GET,
            &format!("/v1/messages/{id}"),
            &Value::Null,
        )
        .await;
        if ["delivered", "read"].contains(&msg["status"].as_str().unwrap_or("")) {
            break;
        }
        assert!(Instant::now() < deadline, "never delivered: {msg}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The operator's key acts on another workspace's channel, as in the admin API ...
    let (status, synced) = server
        .request_json(
            Method::POST,
            &format!("/v1/templates/sync?channel={channel_id}"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{synced}");
    assert_eq!(synced["channels"][0]["channel"], channel_id.as_str());
    let (status, listed) = server
        .get_json(&format!("/v1/templates?channel={channel_id}"))
        .await;
    assert_eq!(status, 200, "{listed}");
    assert!(listed.to_string().contains("hello_world"), "{listed}");

    // ... and a business's key does not reach beyond its workspace.
    let other = server.new_workspace("Tercera").await;
    let (status, body) = other
        .request(
            Method::POST,
            &format!("/v1/templates/sync?channel={channel_id}"),
            &Value::Null,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        problems(&body),
        [("channel".to_string(), "unknown_channel".to_string())]
    );
    server.stop().await;
}

async fn a_refused_sender_number_is_one_problem(backend: Backend) {
    let server = TestServer::start(backend).await;
    let channels = "/v1/admin/workspaces/ws_default/channels";
    for (provider, number) in [
        ("sandbox", "+1555000000"),
        ("sandbox", "hola"),
        ("cloud_api", "+15550000003"),
    ] {
        let (phone_number_id, _) = fresh_number();
        let (status, body) = server
            .request_json(
                Method::POST,
                channels,
                &json!({"provider": provider, "phone_number_id": phone_number_id,
                        "display_phone_number": number, "access_token": "t-123456",
                        "app_secret": "s-123456"}),
            )
            .await;
        assert_eq!(status, 422, "{provider} {number}: {body}");
        assert_eq!(
            problems(&body),
            [(
                "display_phone_number".to_string(),
                "invalid_phone_number".to_string()
            )],
            "{provider} {number}: {body}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(number)),
            "the message names what was given: {body}"
        );
    }
    // Nothing was created.
    let (_, list) = server.get_json(channels).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
    server.stop().await;
}

async fn a_channel_made_by_the_cli_gets_its_templates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (phone_number_id, _) = fresh_number();
    let out = chasqui(&server.db)
        .args([
            "channel",
            "create",
            "--set",
            "provider=sandbox",
            "--set",
            &format!("phone_number_id={phone_number_id}"),
            "--set",
            "display_phone_number=+15550000009",
        ])
        .output()
        .expect("chasqui channel create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ch: Value = serde_json::from_slice(&out.stdout).expect("json");
    let channel_id = ch["id"].as_str().expect("id").to_string();
    // The running server notices the new channel and syncs it without being asked.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, listed) = server
            .get_json(&format!("/v1/templates?channel={channel_id}"))
            .await;
        if status == 200 && listed.to_string().contains("hello_world") {
            break;
        }
        assert!(Instant::now() < deadline, "never synced: {status} {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

async fn the_timeline_names_each_step_once_in_causal_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let customer = "+5215512340001";
    // Text (the test channel's window policy is off): the template registry's first sync runs
    // in the background at start, and this test is about the timeline.
    let id = server
        .send_ok(&json!({"to": customer, "type": "text", "text": {"body": "Hola"}}))
        .await;
    server.wait_for_timeline(&id, "read").await;
    let msg = server.wait_for_timeline(&id, "delivered").await;
    let timeline = msg["timeline"].as_array().expect("timeline").clone();
    let statuses: Vec<&str> = timeline
        .iter()
        .filter_map(|e| e["status"].as_str())
        .collect();
    for s in ["queued", "sending", "accepted", "sent", "delivered", "read"] {
        assert_eq!(
            statuses.iter().filter(|x| **x == s).count(),
            1,
            "{s} once in {statuses:?}"
        );
    }
    let accepted = timeline
        .iter()
        .find(|e| e["status"] == "accepted")
        .expect("accepted");
    assert_eq!(accepted["source"], "dispatcher");
    assert_eq!(accepted["wamid"], msg["wamid"]);
    let sent = timeline
        .iter()
        .find(|e| e["status"] == "sent")
        .expect("sent");
    assert_eq!(sent["source"], "webhook");
    assert!(sent["reported_at"].is_string(), "Meta's time kept: {sent}");
    // One clock: the entries' times never go back.
    let times: Vec<time::OffsetDateTime> = timeline
        .iter()
        .map(|e| {
            let at = e["at"].as_str().expect("at");
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{at}: {e}"))
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "times go back: {timeline:?}"
    );
    let pos = |s: &str| statuses.iter().position(|x| *x == s).expect(s);
    assert!(pos("queued") < pos("sending") && pos("sending") < pos("accepted"));
    assert!(pos("accepted") < pos("sent"), "{statuses:?}");

    // A reply after the customer wrote moves the conversation's last activity.
    server
        .customer_writes(
            &customer[1..],
            "Ana",
            json!({"type": "text", "text": {"body": "hola"}}),
        )
        .await;
    let (_, list) = server.get_json("/v1/conversations").await;
    let cv = list["data"][0].clone();
    let cv_id = cv["id"].as_str().expect("conversation").to_string();
    let reply = server
        .send_ok(&json!({"to": customer, "type": "text", "text": {"body": "¿En qué te ayudo?"}}))
        .await;
    let reply_at = server.message(&reply).await["created_at"].clone();
    let (_, cv) = server.get_json(&format!("/v1/conversations/{cv_id}")).await;
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap_or(""),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    let conversation = if cv["conversation"].is_object() {
        cv["conversation"].clone()
    } else {
        cv.clone()
    };
    assert!(
        parse(&conversation["last_message_at"]) >= parse(&reply_at),
        "last_message_at ignores the reply: {cv}"
    );
    server.stop().await;
}

async fn the_build_tells_what_it_is(backend: Backend) {
    let server = TestServer::start(backend).await;
    let resp = server
        .http
        .get(server.url("/version"))
        .send()
        .await
        .expect("version");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["commit"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
    let (_, ready) = server.get_json("/readyz").await;
    assert_eq!(ready["commit"], v["commit"], "{ready}");
    let out = std::process::Command::new(crate::process::BIN)
        .arg("--version")
        .output()
        .expect("--version");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains(env!("CARGO_PKG_VERSION"))
            && printed.contains(v["commit"].as_str().unwrap_or("?")),
        "{printed}"
    );
    server.stop().await;
}

on_both_backends!(
    a_second_workspace_sends_hello_world_at_once,
    a_refused_sender_number_is_one_problem,
    a_channel_made_by_the_cli_gets_its_templates,
    the_timeline_names_each_step_once_in_causal_order,
    the_build_tells_what_it_is,
);

/// A port already taken stops `serve` with the settings that move it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_port_names_the_setting_that_moves_it() {
    let db = crate::support::TestDb::create(Backend::Sqlite).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let out = chasqui(&db)
        .arg("serve")
        .env("CHASQUI_LISTEN", addr.to_string())
        .output()
        .expect("serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for hint in [addr.to_string().as_str(), "--listen", "CHASQUI_LISTEN"] {
        assert!(err.contains(hint), "{hint} missing from {err}");
    }
}

/// The first line `serve` logs, with `CHASQUI_LOG_COLOR` set to `color` (unset: `None`),
/// written to a pipe.
fn first_log_line(color: Option<&str>) -> String {
    use std::io::{BufRead, BufReader};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let db = rt.block_on(crate::support::TestDb::create(Backend::Sqlite));
    let mut cmd = chasqui(&db);
    cmd.arg("serve")
        .env("CHASQUI_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some(c) = color {
        cmd.env("CHASQUI_LOG_COLOR", c);
    }
    let mut child = crate::process::Proc(cmd.spawn().expect("serve"));
    let stderr = child.0.stderr.take().expect("stderr");
    let line = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("chasqui listening"))
        .expect("serve logs that it listens");
    drop(child);
    line
}

/// A log written to a file or a pipe has no colour codes unless asked for.
#[test]
fn logs_are_coloured_only_on_a_terminal_or_when_asked() {
    let plain = first_log_line(None);
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    let coloured = first_log_line(Some("always"));
    assert!(coloured.contains('\u{1b}'), "{coloured:?}");
}
