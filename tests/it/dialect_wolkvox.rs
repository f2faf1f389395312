//! Wolkvox's `whatsapp.php?api=…` and `information.php?api=connectors`: the vendor document's
//! request runs verbatim (only the host, the token, the connector and the placeholder telephone
//! changed) and its message is read in the sandbox; `send_message_official` needs the window the
//! customer's reply opened; templates are created, listed, synced and sent; every row of the
//! response-code table is exercised; a switched-off dialect is not there.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::on_both_backends;
use crate::support::{Backend, TestServer, PHONE_NUMBER_ID};

const CUSTOMER: &str = "573001234567";

/// `method` `path` with `wolkvox-token: <token>` (when given) and a raw JSON body (when given).
async fn call(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut req = s.http.request(method, s.url(path));
    if let Some(t) = token {
        req = req.header("wolkvox-token", t);
    }
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post(s: &TestServer, api: &str, body: &str) -> (u16, Value) {
    call(
        s,
        reqwest::Method::POST,
        &format!("/api/v2/whatsapp.php?api={api}"),
        Some(&s.key),
        Some(body),
    )
    .await
}

fn sent() -> Value {
    json!({"code": 201, "error": null, "msg": "Message has been sent successfully"})
}

fn refusal(code: u16, error: &str, msg: &str) -> Value {
    json!({"code": code, "error": error, "msg": msg})
}

async fn channel_id(s: &TestServer) -> String {
    let (_, channels) = s.get_json("/v1/admin/workspaces/ws_default/channels").await;
    channels["data"][0]["id"]
        .as_str()
        .expect("channel id")
        .to_string()
}

/// The ids of the messages to `digits`, newest first.
async fn messages_to(s: &TestServer, digits: &str) -> Vec<String> {
    let (_, page) = s
        .get_json(&format!("/v1/messages?to=%2B{digits}&limit=100"))
        .await;
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect()
}

async fn seed_example_inside_the_window_only(backend: Backend) {
    // The channel's own policy is `off` in tests: Wolkvox's rule applies regardless.
    let s = TestServer::start(backend).await;
    let connector = channel_id(&s).await;
    // Seed 002, with connector "1" → the channel and "9319xxxxxxxx" → a real number.
    let body = format!(
        "{{\n    \"connector_id\": \"{connector}\",\n    \"telephone\": \"{CUSTOMER}\",\n    \"message\": \"it is a message\"\n}}"
    );
    let (status, answer) = post(&s, "send_message_official", &body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "BAD REQUEST");
    assert!(
        answer["msg"]
            .as_str()
            .unwrap_or("")
            .contains("window_closed"),
        "{answer}"
    );
    assert!(messages_to(&s, CUSTOMER).await.is_empty());

    s.customer_writes(
        CUSTOMER,
        "Ana",
        json!({"type": "text", "text": {"body": "hola"}}),
    )
    .await;
    assert_eq!(
        post(&s, "send_message_official", &body).await,
        (201, sent())
    );
    let ids = messages_to(&s, CUSTOMER).await;
    assert_eq!(ids.len(), 1);
    s.wait_for(&ids, &["read"], Duration::from_secs(20)).await;
}

async fn mobil_messages_and_connectors(backend: Backend) {
    let s = TestServer::start(backend).await;
    let connector = channel_id(&s).await;
    // By the sender number, with numbers where Wolkvox documents strings.
    let text = format!(
        r#"{{"connector_id": 15550000001, "telephone": {CUSTOMER}, "message": "hola", "url_attach": ""}}"#
    );
    assert_eq!(post(&s, "send_message_mobil", &text).await, (201, sent()));
    let image = format!(
        r#"{{"connector_id": "{connector}", "telephone": "{CUSTOMER}", "message": "mira", "url_attach": "https://example.com/a.jpg"}}"#
    );
    assert_eq!(post(&s, "send_message_mobil", &image).await, (201, sent()));
    let ids = messages_to(&s, CUSTOMER).await;
    assert_eq!(ids.len(), 2);
    let done = s.wait_for(&ids, &["read"], Duration::from_secs(20)).await;
    let kinds: Vec<&str> = done.iter().filter_map(|m| m["type"].as_str()).collect();
    assert!(
        kinds.contains(&"image") && kinds.contains(&"text"),
        "{done:?}"
    );

    let (status, answer) = call(
        &s,
        reqwest::Method::GET,
        "/api/v2/information.php?api=connectors",
        Some(&s.key),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["code"], 200);
    assert_eq!(answer["error"], Value::Null);
    let first = &answer["data"][0];
    assert_eq!(first["connector_id"], connector.as_str());
    assert_eq!(first["rp_id"], PHONE_NUMBER_ID);
    assert_eq!(first["channel"], "whatsapp");
}

/// A Wolkvox customer's code sends the numeric `connector_id` Wolkvox gave the number: set on
/// the channel, it keeps working unchanged.
async fn the_connector_id_wolkvox_gave_keeps_working(backend: Backend) {
    let s = TestServer::start(backend).await;
    let text = format!(r#"{{"connector_id": "1", "telephone": "{CUSTOMER}", "message": "hola"}}"#);
    let (status, _) = post(&s, "send_message_mobil", &text).await;
    assert_eq!(status, 400, "unknown before it is set");
    let (status, ch) = s
        .request_json(
            reqwest::Method::PATCH,
            "/v1/admin/channels/ch_default",
            &json!({"wolkvox_connector_id": "1"}),
        )
        .await;
    assert_eq!(status, 200, "{ch}");
    assert_eq!(ch["wolkvox_connector_id"], "1");
    assert_eq!(post(&s, "send_message_mobil", &text).await, (201, sent()));
    let numeric = format!(r#"{{"connector_id": 1, "telephone": "{CUSTOMER}", "message": "otra"}}"#);
    assert_eq!(
        post(&s, "send_message_mobil", &numeric).await,
        (201, sent())
    );
    let ids = messages_to(&s, CUSTOMER).await;
    assert_eq!(ids.len(), 2);
    for id in &ids {
        assert_eq!(s.message(id).await["channel"], "ch_default");
    }
    let (_, answer) = call(
        &s,
        reqwest::Method::GET,
        "/api/v2/information.php?api=connectors",
        Some(&s.key),
        None,
    )
    .await;
    assert_eq!(answer["data"][0]["connector_id"], "1", "{answer}");
    // One workspace, one channel per id.
    let (status, other) = s
        .request_json(
            reqwest::Method::POST,
            "/v1/admin/workspaces/ws_default/channels",
            &json!({"provider": "sandbox", "phone_number_id": "300000000000999",
                    "display_phone_number": "+15550000999", "wolkvox_connector_id": "1"}),
        )
        .await;
    assert_eq!(status, 422, "{other}");
    assert_eq!(other["errors"][0]["field"], "wolkvox_connector_id");
    assert_eq!(other["errors"][0]["code"], "duplicate");
}

async fn templates_created_listed_synced_and_sent(backend: Backend) {
    let s = TestServer::start(backend).await;
    let connector = channel_id(&s).await;
    // Sync first: the sandbox's hello_world (en_US) arrives in Wolkvox's shape.
    let (status, synced) = post(
        &s,
        "sync_templates",
        &format!(r#"{{"connector_id": "{connector}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{synced}");
    let hello = synced["data"]
        .as_array()
        .and_then(|d| d.iter().find(|t| t["name_template"] == "hello_world"))
        .unwrap_or_else(|| panic!("{synced}"))
        .clone();
    assert_eq!(hello["idiom"], "en_US");
    assert!(hello["body_template"].is_string());

    // A utility template, whatever category the body says.
    let create = format!(
        r#"{{"connector_id": "{connector}", "name": "pedido_wolkvox", "language": "es", "category": "MARKETING",
            "components": [{{"type": "BODY", "text": "Hola {{{{1}}}}, tu pedido {{{{2}}}} va en camino.",
                            "example": {{"body_text": [["Ana", "A-1"]]}}}}]}}"#
    );
    let (status, created) = post(&s, "create_utility_template", &create).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["category"], "UTILITY");

    // Marketing (no category in the body) and authentication templates, each its own category.
    let marketing = format!(
        r#"{{"connector_id": "{connector}", "name": "oferta_wolkvox", "language": "es",
            "components": [{{"type": "BODY", "text": "Descuento de hoy"}}]}}"#
    );
    let (status, created) = post(&s, "create_template", &marketing).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["category"], "MARKETING");
    let auth = format!(
        r#"{{"connector_id": "{connector}", "name": "codigo_wolkvox", "language": "es", "category": "UTILITY",
            "components": [{{"type": "BODY", "add_security_recommendation": true}},
                           {{"type": "BUTTONS", "buttons": [{{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copiar"}}]}}]}}"#
    );
    let (status, created) = post(&s, "create_auth_template", &auth).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["category"], "AUTHENTICATION");
    // Meta's rules are the domain's: a bad name is refused, descriptively.
    let (status, refused) = post(
        &s,
        "create_utility_template",
        &create.replace("pedido_wolkvox", "Pedido Wolkvox"),
    )
    .await;
    assert_eq!(
        (status, &refused["error"]),
        (400, &json!("BAD REQUEST")),
        "{refused}"
    );
    assert!(
        refused["msg"].as_str().unwrap_or("").contains("name"),
        "{refused}"
    );

    // Listed (GET, connector in the query) once the sandbox approved it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, listed) = call(
            &s,
            reqwest::Method::GET,
            &format!("/api/v2/whatsapp.php?api=list_templates&connector_id={connector}"),
            Some(&s.key),
            None,
        )
        .await;
        assert_eq!(status, 200, "{listed}");
        let approved = listed["data"]["meta_templates"]
            .as_array()
            .is_some_and(|ts| {
                ts.iter()
                    .any(|t| t["name"] == "pedido_wolkvox" && t["status"] == "APPROVED")
            });
        if approved {
            break;
        }
        assert!(Instant::now() < deadline, "never approved: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let with_vars = format!(
        r#"{{"connector_id": "{connector}", "telephone": "{CUSTOMER}", "template_name": "pedido_wolkvox",
            "template_vars": "Ana;A-1", "customer_id": "", "url_attach": ""}}"#
    );
    assert_eq!(
        post(&s, "send_template_official", &with_vars).await,
        (201, sent())
    );
    let bare = format!(
        r#"{{"connector_id": "{connector}", "telephone": "{CUSTOMER}", "template_name": "hello_world",
            "template_vars": "", "customer_id": "123", "url_attach": ""}}"#
    );
    assert_eq!(
        post(&s, "send_template_official", &bare).await,
        (201, sent())
    );
    let ids = messages_to(&s, CUSTOMER).await;
    assert_eq!(ids.len(), 2);
    s.wait_for(&ids, &["read"], Duration::from_secs(20)).await;

    // A template the registry lacks is refused, descriptively.
    let unknown = bare.replace("hello_world", "no_such_template");
    let (status, answer) = post(&s, "send_template_official", &unknown).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "BAD REQUEST");
}

async fn response_code_table(backend: Backend) {
    let s = TestServer::start(backend).await;
    let connector = channel_id(&s).await;
    let body = format!(
        r#"{{"connector_id": "{connector}", "telephone": "{CUSTOMER}", "message": "hola"}}"#
    );
    let path = "/api/v2/whatsapp.php?api=send_message_mobil";
    assert_eq!(
        call(&s, reqwest::Method::POST, path, None, Some(&body)).await,
        (
            401,
            refusal(401, "UNAUTHORIZED", "PLEASE ENTER THE WOLKVOX-TOKEN")
        )
    );
    assert_eq!(
        call(
            &s,
            reqwest::Method::POST,
            path,
            Some("not-a-token"),
            Some(&body)
        )
        .await,
        (403, refusal(403, "FORBIDDEN", "PLEASE VALIDATE TOKEN"))
    );
    assert_eq!(
        post(&s, "send_whatever", &body).await,
        (
            400,
            refusal(
                400,
                "BAD REQUEST",
                "THE API YOU WANT TO CONSULT DOES NOT EXIST"
            )
        )
    );
    assert_eq!(
        call(
            &s,
            reqwest::Method::GET,
            "/api/v2/information.php?api=nothing",
            Some(&s.key),
            None
        )
        .await,
        (
            400,
            refusal(
                400,
                "BAD REQUEST",
                "THE API YOU WANT TO CONSULT DOES NOT EXIST"
            )
        )
    );
    // A key without the operation's scope is not a valid token for it.
    let (status, limited) = s
        .request_json(
            reqwest::Method::POST,
            "/v1/admin/workspaces/ws_default/keys",
            &json!({"name": "reader", "scopes": ["read"]}),
        )
        .await;
    assert_eq!(status, 201, "{limited}");
    let reader = limited["key"].as_str().expect("key");
    assert_eq!(
        call(&s, reqwest::Method::POST, path, Some(reader), Some(&body)).await,
        (403, refusal(403, "FORBIDDEN", "PLEASE VALIDATE TOKEN"))
    );
    let missing = format!(r#"{{"connector_id": "{connector}", "message": "hola"}}"#);
    assert_eq!(
        post(&s, "send_message_mobil", &missing).await,
        (
            400,
            refusal(400, "BAD REQUEST", "SOME PARAMETERS ARE REQUIRED")
        )
    );
    let (status, answer) = post(
        &s,
        "send_message_mobil",
        &body.replace(&connector, "no-such-connector"),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]),
        (400, &json!("BAD REQUEST")),
        "{answer}"
    );
    // Another workspace's channel is no connector of this token's.
    let (status, other) = s
        .request_json(
            reqwest::Method::POST,
            "/v1/admin/workspaces",
            &json!({"name": "Otra"}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let other_ws = other["id"].as_str().expect("id");
    let (status, ch) = s
        .request_json(
            reqwest::Method::POST,
            &format!("/v1/admin/workspaces/{other_ws}/channels"),
            &json!({"provider": "cloud_api", "phone_number_id": "300000000000003",
                    "display_phone_number": "+51 987 654 322", "access_token": "EAAG-other-token",
                    "app_secret": "other-app-secret"}),
        )
        .await;
    assert_eq!(status, 201, "{ch}");
    let foreign = ch["id"].as_str().expect("id");
    let (status, answer) = post(&s, "send_message_mobil", &body.replace(&connector, foreign)).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = post(
        &s,
        "list_templates",
        &format!(r#"{{"connector_id": "{foreign}"}}"#),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(messages_to(&s, CUSTOMER).await.is_empty());
}

async fn daily_quota_is_token_limit_exceeded(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.dialects.wolkvox.daily_quota = Some(2)).await;
    let connector = channel_id(&s).await;
    let body = format!(
        r#"{{"connector_id": "{connector}", "telephone": "{CUSTOMER}", "message": "hola"}}"#
    );
    for _ in 0..2 {
        assert_eq!(post(&s, "send_message_mobil", &body).await, (201, sent()));
    }
    assert_eq!(
        post(&s, "send_message_mobil", &body).await,
        (403, refusal(403, "FORBIDDEN", "TOKEN LIMIT EXCEEDED"))
    );
    assert_eq!(messages_to(&s, CUSTOMER).await.len(), 2);
}

async fn a_third_simultaneous_request_is_refused(backend: Backend) {
    let s = TestServer::start(backend).await;
    let connector = channel_id(&s).await;
    let body = format!(
        r#"{{"connector_id": "{connector}", "telephone": "{CUSTOMER}", "message": "hola"}}"#
    );
    // Two slow requests: their headers arrive, their bodies only later, so each holds a slot.
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut conn = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let head = format!(
            "POST /api/v2/whatsapp.php?api=send_message_mobil HTTP/1.1\r\nHost: {addr}\r\n\
             wolkvox-token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            s.key,
            body.len()
        );
        conn.write_all(head.as_bytes()).await.expect("write");
        conn.write_all(&body.as_bytes()[..5]).await.expect("write");
        slow.push(conn);
    }
    // Let the server admit both before probing: a probe that got in first would take a slot
    // and leave a slow request refused instead.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, answer) = post(&s, "send_message_mobil", &body).await;
        if status == 403 {
            assert_eq!(
                answer,
                refusal(
                    403,
                    "FORBIDDEN",
                    "EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN (2)"
                )
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never refused: {status} {answer}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Refused while they ran (the loop may have got one in before both were admitted).
    let before = messages_to(&s, CUSTOMER).await.len();
    // The slow ones complete and are sent.
    for mut conn in slow {
        conn.write_all(&body.as_bytes()[5..]).await.expect("write");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    }
    assert_eq!(messages_to(&s, CUSTOMER).await.len(), before + 2);
    // And the token is free again.
    assert_eq!(post(&s, "send_message_mobil", &body).await, (201, sent()));
}

async fn switched_off_is_not_found(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.dialects.wolkvox.enabled = false).await;
    let (status, _) = post(&s, "send_message_mobil", "{}").await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &s,
        reqwest::Method::GET,
        "/api/v2/information.php?api=connectors",
        Some(&s.key),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

on_both_backends!(
    seed_example_inside_the_window_only,
    mobil_messages_and_connectors,
    the_connector_id_wolkvox_gave_keeps_working,
    templates_created_listed_synced_and_sent,
    response_code_table,
    daily_quota_is_token_limit_exceeded,
    a_third_simultaneous_request_is_refused,
    switched_off_is_not_found,
);
