//! The edge refuses what the store or a second reader could get wrong: the NUL character in ids,
//! parameters and bodies, path segments that are not UTF-8, and JSON that names a key twice. Each
//! refusal is a 4xx in the route's own format (problem+json, or a dialect's envelope), never
//! axum's plain text, never a 500, and nothing is stored.

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{Backend, TestServer};

/// Status, content type and JSON body (`Null` when the body is not JSON).
async fn answer(resp: reqwest::Response) -> (u16, String, Value) {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        ct,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// `method` `path` with the test key and, when given, a raw body sent as JSON.
async fn raw(
    s: &TestServer,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, String, Value) {
    let mut req = s.http.request(method, s.url(path)).bearer_auth(&s.key);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    answer(req.send().await.expect("request")).await
}

/// Asserts a native problem answer and returns its body.
fn problem(what: &str, (status, ct, body): (u16, String, Value), want: (u16, &str)) -> Value {
    assert_eq!(
        (status, ct.as_str(), body["code"].as_str()),
        (want.0, "application/problem+json", Some(want.1)),
        "{what}: {body}"
    );
    body
}

/// The first problem's field and code.
fn first_error(body: &Value) -> (String, String) {
    let e = &body["errors"][0];
    (
        e["field"].as_str().unwrap_or("").to_string(),
        e["code"].as_str().unwrap_or("").to_string(),
    )
}

async fn assert_no_messages(s: &TestServer) {
    let (status, list) = s.get_json("/v1/messages").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"], json!([]), "nothing may be stored");
    assert!(s.sandbox_messages().await.is_empty(), "nothing may be sent");
}

/// NUL in a path segment, a query parameter or a stored string: a 4xx naming it, on both back
/// ends (PostgreSQL answered 500 to each of these, SQLite 404 or 422 without saying why).
async fn nul_is_refused_at_the_edge(backend: Backend) {
    let s = TestServer::start(backend).await;
    for path in [
        "/v1/messages/msg%00x",
        "/v1/contacts/ct%00",
        "/v1/media/%00",
        "/v1/admin/workspaces/ws%00",
        "/v1/webhooks/wh%00/deliveries",
    ] {
        let body = problem(
            path,
            raw(&s, Method::GET, path, None).await,
            (400, "invalid_parameter"),
        );
        assert_eq!(
            first_error(&body),
            ("id".into(), "invalid_character".into()),
            "{path}"
        );
    }
    for (path, field) in [
        ("/v1/contacts?search=a%00b", "search"),
        ("/v1/messages?status=sent&to=%00", "to"),
        ("/v1/templates?name=x%00", "name"),
        ("/v1/conversations?contact=%00", "contact"),
    ] {
        let body = problem(
            path,
            raw(&s, Method::GET, path, None).await,
            (400, "invalid_parameter"),
        );
        assert_eq!(
            first_error(&body),
            (field.into(), "invalid_character".into()),
            "{path}"
        );
    }

    let (_, before) = s.get_json("/v1/admin/workspaces").await;
    let text = r#"{"to": "+5215512345678", "type": "text", "text": {"body": "hola"}"#;
    for (method, path, body, field) in [
        (
            Method::POST,
            "/v1/admin/workspaces",
            r#"{"name": "Acme\u0000"}"#.to_string(),
            "name",
        ),
        (
            Method::POST,
            "/v1/messages",
            format!(r#"{text}, "channel": "ch\u0000"}}"#),
            "channel",
        ),
        (
            Method::POST,
            "/v1/messages",
            r#"{"to": "+5215512345678", "type": "text", "text": {"body": "a\u0000b"}}"#.into(),
            "text.body",
        ),
        (
            Method::POST,
            "/v1/webhooks",
            r#"{"url": "https://example.com/\u0000"}"#.into(),
            "url",
        ),
        (
            Method::PATCH,
            "/v1/admin/workspaces/ws_default",
            r#"{"name": "\u0000"}"#.into(),
            "name",
        ),
    ] {
        let what = format!("{method} {path} {body}");
        let answer = raw(&s, method, path, Some(&body)).await;
        let got = problem(&what, answer, (422, "validation_failed"));
        assert_eq!(
            first_error(&got),
            (field.into(), "invalid_character".into()),
            "{what}"
        );
    }
    let (_, after) = s.get_json("/v1/admin/workspaces").await;
    assert_eq!(before, after, "no workspace was made or renamed");
    let (_, hooks) = s.get_json("/v1/webhooks").await;
    assert_eq!(hooks["data"], json!([]), "no webhook endpoint was stored");
    assert_no_messages(&s).await;

    // The respond.io dialect answers in its own envelope.
    let (status, ct, body) = raw(&s, Method::GET, "/v2/contact/email:a%00@b.c", None).await;
    assert_eq!((status, ct.as_str()), (400, "application/json"), "{body}");
    assert_eq!(body["code"], 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("identifier")),
        "{body}"
    );
    s.stop().await;
}

/// A text that Meta accepts (any Unicode but NUL: other control characters, escapes, emoji, a
/// backslash-u text) is stored and sent exactly as given on both back ends.
async fn text_meta_accepts_goes_through(backend: Backend) {
    let s = TestServer::start(backend).await;
    let body = r#"{"to": "+5215512345678", "type": "text", "text": {"body": "h\u00e9llo \ud83d\ude00 \u0001\t\n\u202e \\u0000 \"q\""}}"#;
    let (status, _, sent) = raw(&s, Method::POST, "/v1/messages", Some(body)).await;
    assert_eq!(status, 202, "{sent}");
    let id = sent["id"].as_str().expect("id").to_string();
    s.wait_for(
        std::slice::from_ref(&id),
        &["sent", "delivered", "read"],
        std::time::Duration::from_secs(10),
    )
    .await;
    let want = "h\u{e9}llo \u{1F600} \u{1}\t\n\u{202e} \\u0000 \"q\"";
    let log = s.sandbox_messages().await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["body"]["text"]["body"], want, "{}", log[0]);
    let detail = s.message(&id).await;
    assert_eq!(detail["content"]["text"]["body"], want, "{detail}");
    s.stop().await;
}

/// A key named twice is refused with 400 `invalid_json` naming it and its path, on the native
/// API and every vendor dialect, and nothing is sent.
async fn duplicate_keys_are_refused(backend: Backend) {
    let s = TestServer::start(backend).await;
    for (body, path) in [
        (
            r#"{"to": "+5215512345678", "to": "+5215587654321", "type": "text", "text": {"body": "x"}}"#,
            "to",
        ),
        (
            r#"{"to": "+5215512345678", "type": "text", "text": {"body": "a", "body": "b"}}"#,
            "text.body",
        ),
    ] {
        let got = problem(
            body,
            raw(&s, Method::POST, "/v1/messages", Some(body)).await,
            (400, "invalid_json"),
        );
        assert_eq!(
            first_error(&got),
            (path.into(), "duplicate_key".into()),
            "{got}"
        );
    }
    // Every other JSON reader: the admin API, a template sync's optional body.
    let got = problem(
        "workspace",
        raw(
            &s,
            Method::POST,
            "/v1/admin/workspaces",
            Some(r#"{"name": "a", "name": "b"}"#),
        )
        .await,
        (400, "invalid_json"),
    );
    assert_eq!(first_error(&got).0, "name");
    problem(
        "sync",
        raw(
            &s,
            Method::POST,
            "/v1/templates/sync",
            Some(r#"{"channel": "a", "channel": "b"}"#),
        )
        .await,
        (400, "invalid_json"),
    );

    // The dialects, each in its envelope.
    let dup_to = r#"{"to": "+5215512345678", "to": "+5215587654321"}"#;
    let cases: [(&str, &str, String); 4] = [
        ("innova", "/api/whatsapp/enviar", r#"{"numero": "5215512345678", "numero": "5215587654321", "mensaje": "x"}"#.into()),
        ("curbe", "/api/WhatsappIntegration/send/message", r#"{"ref_number_to": "5215512345678", "ref_number_to": "5215587654321", "ref_text": "x"}"#.into()),
        ("respond", "/v2/contact/phone:+5215512345678/message", format!(r#"{{"message": {dup_to}, "message": {{}}}}"#)),
        ("wolkvox", "/api/v2/whatsapp.php?api=send_message_official", r#"{"telephone": "5215512345678", "telephone": "5215587654321", "message": "x", "connector_id": "1"}"#.into()),
    ];
    for (dialect, path, body) in cases {
        let req = s
            .http
            .post(s.url(path))
            .bearer_auth(&s.key)
            .header("wolkvox-token", &s.key)
            .header("content-type", "application/json")
            .body(body);
        let (status, ct, got) = answer(req.send().await.expect("request")).await;
        assert_eq!(
            (status, ct.as_str()),
            (400, "application/json"),
            "{dialect}: {got}"
        );
        let text = got.to_string();
        assert!(
            text.contains("more than once"),
            "{dialect} names the repeated key: {got}"
        );
    }
    assert_no_messages(&s).await;
    s.stop().await;
}

/// Segments that are not UTF-8 once decoded (`%FF`, overlong `%C0%AE`) or hold NUL, on every
/// route with a path parameter, and a NUL in the query of every route: a 4xx in the route's own
/// format, never axum's plain text, never a 500.
async fn every_route_refuses_bad_segments_in_its_format(backend: Backend) {
    let s = TestServer::start(backend).await;
    let segments = ["%FF", "%C0%AE%C0%AE%2Fetc%2Fpasswd", "%00", "x%00y"];
    let call = |method: Method, path: String| {
        let req = s
            .http
            .request(method, s.url(&path))
            .bearer_auth(&s.key)
            .header("wolkvox-token", &s.key)
            .json(&json!({}));
        async move { (path, answer(req.send().await.expect("request")).await) }
    };
    let mut native: Vec<(Method, &str)> = chasqui::api::routes::table()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    native.extend([
        (Method::GET, "/healthz"),
        (Method::GET, "/readyz"),
        (Method::POST, "/v1/auth/login"),
        (Method::POST, "/v1/auth/logout"),
        (Method::GET, "/webhooks/meta"),
        (Method::POST, "/webhooks/meta"),
    ]);
    let mut walked = 0;
    for (method, template) in &native {
        if template.contains('{') {
            for seg in segments {
                let path = template.replace("{id}", seg);
                let (path, (status, ct, body)) = call(method.clone(), path).await;
                let what = format!("{method} {path}");
                let body = problem(&what, (status, ct, body), (400, "invalid_parameter"));
                assert_eq!(first_error(&body).0, "id", "{what}: {body}");
                walked += 1;
            }
        }
        // A route that reads its query refuses the NUL; one that does not ignores it.
        let path = format!(
            "{}?limit=%00&hub.mode=%00",
            template.replace("{id}", "zz_missing")
        );
        let (path, (status, ct, body)) = call(method.clone(), path).await;
        let what = format!("{method} {path}");
        assert!(
            status < 500 && !ct.starts_with("text/plain"),
            "{what}: {status} {ct} {body}"
        );
        if status >= 400 {
            assert_eq!(ct, "application/problem+json", "{what}: {body}");
            assert!(
                body["code"].as_str().is_some_and(|c| !c.is_empty()),
                "{what}: {body}"
            );
        }
        walked += 1;
    }
    for (method, path, field) in [
        (Method::GET, "/v1/messages?limit=%00", "limit"),
        (Method::GET, "/v1/contacts?limit=%00", "limit"),
        (Method::GET, "/v1/conversations?limit=%00", "limit"),
        (Method::GET, "/v1/templates?status=%00", "status"),
        (Method::GET, "/v1/conversations/zz?limit=%00", "limit"),
        (Method::GET, "/v1/webhooks/zz/deliveries?limit=%00", "limit"),
        (Method::GET, "/webhooks/meta?hub.mode=%00", "hub.mode"),
        (Method::POST, "/v1/templates/sync?channel=%00", "channel"),
        (Method::POST, "/v1/media?filename=%00", "filename"),
    ] {
        let (path, got) = call(method, path.into()).await;
        let body = problem(&path, got, (400, "invalid_parameter"));
        assert_eq!(
            first_error(&body),
            (field.into(), "invalid_character".into()),
            "{path}"
        );
    }

    // Dialect routes answer in their vendor's envelope: JSON with the vendor's own `code`.
    for r in chasqui::api::dialects::table(&Default::default()) {
        // (path, whether the route must refuse it)
        let mut paths = Vec::new();
        if r.path.contains('{') {
            for seg in segments {
                let mut p = r.path.to_string();
                for name in ["{identifier}", "{message_id}", "{channel_id}"] {
                    p = p.replace(name, seg);
                }
                paths.push((p, true));
            }
        }
        let plain = r
            .path
            .replace("{identifier}", "id:1")
            .replace("{message_id}", "1")
            .replace("{channel_id}", "1");
        let reads_query =
            r.dialect == "wolkvox" || r.path.ends_with("/list") || r.path.starts_with("/v2/space");
        paths.push((format!("{plain}?api=%00&limit=%00"), reads_query));
        for (path, refused) in paths {
            let (path, (status, ct, body)) = call(r.method.clone(), path).await;
            let what = format!("{} {} {path}", r.dialect, r.method);
            assert!(
                status < 500 && ct == "application/json",
                "{what}: {status} {ct} {body}"
            );
            if refused {
                assert_eq!(
                    (status, &body["code"]),
                    (400, &json!(400)),
                    "{what}: {body}"
                );
            }
            walked += 1;
        }
    }
    assert!(walked > 150, "walked {walked} requests");
    assert_no_messages(&s).await;
    s.stop().await;
}

/// An id in a path is parsed before any lookup: one that cannot name a record gets a 400 naming
/// `id`; a well-formed id nobody has is a 404, as before.
async fn malformed_ids_are_refused_before_any_lookup(backend: Backend) {
    let s = TestServer::start(backend).await;
    for path in [
        "/v1/messages/msg'1",
        "/v1/messages/msg%20x",
        "/v1/admin/workspaces/ws%2Fx",
        "/v1/admin/channels/ch;drop",
    ] {
        let body = problem(
            path,
            raw(&s, Method::GET, path, None).await,
            (400, "invalid_parameter"),
        );
        assert_eq!(
            first_error(&body),
            ("id".into(), "invalid_value".into()),
            "{path}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains("letters, digits"), "{path}: {body}");
    }
    let long = format!("/v1/messages/msg_{}", "x".repeat(200));
    problem(
        &long,
        raw(&s, Method::GET, &long, None).await,
        (400, "invalid_parameter"),
    );
    for path in [
        "/v1/messages/msg_0000",
        "/v1/admin/workspaces/ws_nobody",
        "/v1/admin/channels/ch_nobody",
    ] {
        problem(
            path,
            raw(&s, Method::GET, path, None).await,
            (404, "not_found"),
        );
    }
    s.stop().await;
}

on_both_backends!(
    nul_is_refused_at_the_edge,
    malformed_ids_are_refused_before_any_lookup,
    text_meta_accepts_goes_through,
    duplicate_keys_are_refused,
    every_route_refuses_bad_segments_in_its_format,
);
