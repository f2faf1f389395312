//! The console, from outside: its security over HTTP (cookies, CSRF, headers, tenants), and
//! its flows in headless Chromium against a real server with the sandbox: log in, a customer
//! writes and the message appears live, a reply reaches read, customer content shows as text.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::on_both_backends;
use crate::support::{Backend, TestServer, APP_SECRET, PHONE_NUMBER_ID};
use crate::templates::submit_approved;

const PASSWORD: &str = "clave-segura-123";

/// A user of `workspace` with `scopes`.
async fn user(s: &TestServer, workspace: &str, name: &str, scopes: &[&str]) {
    let (status, body) = s
        .request_json(
            Method::POST,
            &format!("/v1/admin/workspaces/{workspace}/users"),
            &json!({"username": name, "password": PASSWORD, "scopes": scopes}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// An HTTP client that follows no redirects, so answers are seen as the browser gets them.
fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The login form's token and its cookie, as a browser gets them.
async fn login_token(s: &TestServer) -> (String, String) {
    let resp = plain()
        .get(s.url("/console/login"))
        .send()
        .await
        .expect("get");
    let cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = resp.text().await.unwrap();
    (csrf_of(&html), cookie)
}

/// Logs in over HTTP; answers the `Set-Cookie` line and the `name=value` cookie.
async fn login(s: &TestServer, name: &str, proto: Option<&str>) -> (String, String) {
    let (token, form_cookie) = login_token(s).await;
    let mut req = plain()
        .post(s.url("/console/login"))
        .header(header::COOKIE, form_cookie)
        .form(&[
            ("_csrf", token.as_str()),
            ("username", name),
            ("password", PASSWORD),
        ]);
    if let Some(p) = proto {
        req = req.header("x-forwarded-proto", p);
    }
    let resp = req.send().await.expect("login");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let line = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("chasqui_session="))
        .expect("a session cookie")
        .to_string();
    let pair = line.split(';').next().unwrap().to_string();
    (line, pair)
}

async fn get(s: &TestServer, path: &str, cookie: &str) -> (StatusCode, header::HeaderMap, String) {
    let resp = plain()
        .get(s.url(path))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .expect("get");
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap_or_default())
}

/// The first conversation of the default workspace, by the API.
async fn first_conversation(s: &TestServer) -> String {
    let (_, page) = s.get_json("/v1/conversations").await;
    page["data"][0]["id"]
        .as_str()
        .expect("a conversation")
        .to_string()
}

/// The CSRF token of a page's first form.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a csrf field") + 20;
    html[at..].split('"').next().unwrap().to_string()
}

async fn console_security_holds(backend: Backend) {
    let s = TestServer::start(backend).await;
    user(&s, "ws_default", "ana", &["send", "read"]).await;

    // Signed out: every page sends to the login page, which carries the security headers.
    let resp = plain().get(s.url("/console")).send().await.expect("get");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/console/login");
    let resp = plain()
        .get(s.url("/console/login"))
        .send()
        .await
        .expect("get");
    let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(resp.headers()[header::X_FRAME_OPTIONS], "DENY");
    let html = resp.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("onclick"),
        "inline script: {html}"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "a remote origin: {html}"
    );

    // A login posted without the form's token (from another site) logs nobody in.
    let resp = plain()
        .post(s.url("/console/login"))
        .form(&[
            ("_csrf", "forged"),
            ("username", "ana"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let no_session = |resp: &reqwest::Response| {
        !resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.to_str().unwrap_or("").starts_with("chasqui_session="))
    };
    assert!(no_session(&resp));

    // A wrong password: 401, no session.
    let (token, form_cookie) = login_token(&s).await;
    let resp = plain()
        .post(s.url("/console/login"))
        .header(header::COOKIE, form_cookie)
        .form(&[
            ("_csrf", token.as_str()),
            ("username", "ana"),
            ("password", "wrong-password"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(no_session(&resp));

    // The cookie: HttpOnly and SameSite; Secure behind https.
    let (line, cookie) = login(&s, "ana", None).await;
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict"),
        "{line}"
    );
    assert!(!line.contains("Secure"), "{line}");
    let (line, _) = login(&s, "ana", Some("https")).await;
    assert!(line.contains("Secure"), "{line}");

    // A customer writes; the user sees the conversation.
    s.customer_writes(
        "5215511112222",
        "Luz",
        json!({"type": "text", "text": {"body": "hola"}}),
    )
    .await;
    let id = first_conversation(&s).await;
    let (status, _, html) = get(&s, &format!("/console/c/{id}"), &cookie).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("hola"));

    // A reply without the CSRF token, or with another, is refused and sends nothing.
    for token in [
        "",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        let resp = plain()
            .post(s.url(&format!("/console/c/{id}/reply")))
            .header(header::COOKIE, &cookie)
            .form(&[("_csrf", token), ("text", "¿sin token?")])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
    let (_, sent) = s.get_json("/v1/messages").await;
    assert_eq!(sent["data"].as_array().map(Vec::len), Some(0), "{sent}");

    // With it, the reply goes through the send service.
    let resp = plain()
        .post(s.url(&format!("/console/c/{id}/reply")))
        .header(header::COOKIE, &cookie)
        .form(&[("_csrf", csrf_of(&html).as_str()), ("text", "¡Hola, Luz!")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, sent) = s.get_json("/v1/messages").await;
    let reply_id = sent["data"][0]["id"]
        .as_str()
        .expect("the reply")
        .to_string();
    let reply = s.message(&reply_id).await;
    assert_eq!(reply["content"]["text"]["body"], "¡Hola, Luz!", "{reply}");

    // The message log takes the API's filters, and its timeline page shows the message.
    let (status, _, html) = get(&s, "/console/messages?to=&status=", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("data-message=\"{reply_id}\"")),
        "{html}"
    );
    let (status, _, html) = get(&s, "/console/messages?to=%2B5215599990000", &cookie).await;
    assert_eq!(status, 200);
    assert!(
        !html.contains(&reply_id),
        "the filter let another recipient through"
    );
    let (status, _, html) = get(&s, "/console/messages?since=yesterday", &cookie).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("since: must be an RFC 3339 time"), "{html}");
    let (status, _, html) = get(&s, &format!("/console/m/{reply_id}"), &cookie).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("¡Hola, Luz!") && html.contains("queued"),
        "{html}"
    );

    // An API key in the cookie opens nothing.
    let (status, _, _) = get(&s, "/console", &format!("chasqui_session={}", s.key)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Another workspace's user: the conversation is 404, and its inbox does not list it.
    let (status, ws) = s
        .request_json(
            Method::POST,
            "/v1/admin/workspaces",
            &json!({"name": "Otra"}),
        )
        .await;
    assert_eq!(status, 201, "{ws}");
    let other = ws["id"].as_str().unwrap();
    user(&s, other, "otro", &["send", "read"]).await;
    let (_, other_cookie) = login(&s, "otro", None).await;
    let (status, _, _) = get(&s, &format!("/console/c/{id}"), &other_cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&s, &format!("/console/m/{reply_id}"), &other_cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, html) = get(&s, "/console", &other_cookie).await;
    assert_eq!(status, 200);
    assert!(!html.contains(&id) && !html.contains("Luz"), "{html}");
    // Nor can it choose to look at the default workspace.
    let resp = plain()
        .post(s.url("/console/workspace"))
        .header(header::COOKIE, &other_cookie)
        .form(&[
            ("_csrf", csrf_of(&html).as_str()),
            ("workspace", "ws_default"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Logging out ends the session on the server.
    let (_, _, html) = get(&s, "/console", &cookie).await;
    let resp = plain()
        .post(s.url("/console/logout"))
        .header(header::COOKIE, &cookie)
        .form(&[("_csrf", csrf_of(&html).as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (status, _, _) = get(&s, "/console", &cookie).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the ended session still works"
    );
    s.stop().await;
}

on_both_backends!(console_security_holds);

/// A message written `hours_ago`, signed as Meta signs it: its window is that old.
fn old_message(from: &str, wamid: &str, hours_ago: u64) -> Value {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - hours_ago * 3600;
    json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Rafa"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": at.to_string(),
            "type": "text", "text": {"body": "¿siguen abiertos?"}}]}}]}]})
}

/// Waits until `script` (a JavaScript expression) is true in the page.
async fn until(b: &Browser, script: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = b
            .client
            .execute(&format!("return !!({script});"), vec![])
            .await
            .expect("script");
        if v == Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn the_inbox_works_in_a_browser(backend: Backend) {
    let s = TestServer::start(backend).await;
    user(&s, "ws_default", "agente", &["send", "read"]).await;
    submit_approved(
        &s,
        &json!({"name": "aviso_pedido", "language": "es", "category": "UTILITY", "components": [
            {"type": "BODY", "text": "Hola {{1}}, su pedido {{2}} está listo.",
             "example": {"body_text": [["Ana", "A-1"]]}}]}),
    )
    .await;
    let b = Browser::start().await;
    let c = &b.client;

    // Log in. Headless Chromium asks for English; the top bar switches to Spanish.
    c.goto(&s.url("/console")).await.expect("goto");
    assert_eq!(b.find("h1").await.text().await.unwrap(), "Log in");
    b.find("a.lang").await.click().await.unwrap();
    until(
        &b,
        "document.querySelector('h1').textContent === 'Iniciar sesión'",
        "Spanish",
    )
    .await;
    b.find("input[name=username]")
        .await
        .send_keys("agente")
        .await
        .unwrap();
    b.find("input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    b.screenshot("console-login").await;
    b.find("form[action='/console/login'] button")
        .await
        .click()
        .await
        .unwrap();
    b.find("section.inbox").await;
    assert_eq!(b.find("h1").await.text().await.unwrap(), "Conversaciones");

    // A customer writes while the inbox is open: it appears without a reload.
    let name = "<script>alert(1)</script> مرحبا 👋";
    let body = "\"><img src=x onerror=alert(1)> hola שלום 🎉";
    s.customer_writes(
        "5215533334444",
        name,
        json!({"type": "text", "text": {"body": body}}),
    )
    .await;
    until(
        &b,
        "document.querySelector('li[data-conversation]')",
        "the live conversation",
    )
    .await;
    let shown = b
        .find("li[data-conversation] .name")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(shown, name, "the name is shown as text");
    assert!(
        b.find("li[data-conversation] .unread")
            .await
            .text()
            .await
            .unwrap()
            == "1"
    );
    b.screenshot("console-inbox").await;

    // The conversation: customer content as text, nothing injected.
    b.find("li[data-conversation] a")
        .await
        .click()
        .await
        .unwrap();
    b.find("ol.messages li.entry.inbound").await;
    let text = b
        .find("li.entry.inbound p.text")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text, body);
    until(
        &b,
        "document.querySelectorAll('main script, main img').length === 0",
        "no injected element",
    )
    .await;

    // Reply inside the window; the ticks reach read live.
    b.find("form.reply textarea")
        .await
        .send_keys("¡Hola! ¿En qué le ayudo?")
        .await
        .unwrap();
    b.find("form.reply button").await.click().await.unwrap();
    b.find("li.entry.outbound").await;
    until(
        &b,
        "document.querySelector('li.entry.outbound .ticks.read')",
        "the read ticks",
    )
    .await;
    b.screenshot("console-conversation").await;

    // A person whose window closed: the composer says why and offers no reply.
    assert_eq!(
        s.post_meta(
            &old_message("5215555556666", "wamid.old-1", 30),
            Some(APP_SECRET)
        )
        .await
        .0,
        200
    );
    c.goto(&s.url("/console")).await.unwrap();
    until(&b, "[...document.querySelectorAll('li[data-conversation] .name')].some(e => e.textContent === 'Rafa')", "the old conversation").await;
    let link = c
        .find(Locator::XPath(
            "//li[@data-conversation][.//span[@class='name' and text()='Rafa']]//a",
        ))
        .await
        .expect("Rafa's conversation");
    link.click().await.unwrap();
    b.find("section.composer p.notice[data-reason=window_closed]")
        .await;
    assert!(
        c.find(Locator::Css("form.reply")).await.is_err(),
        "a reply form outside the window"
    );
    b.screenshot("console-window-closed").await;

    // A template instead: its form has a field per placeholder, checked and previewed by the
    // server before it goes.
    b.find("select[name=template] option[value='aviso_pedido:es']")
        .await
        .click()
        .await
        .unwrap();
    b.find("form.choose button").await.click().await.unwrap();
    b.find("input[name='b.1']")
        .await
        .send_keys("Rafa")
        .await
        .unwrap();
    b.find("button[value=preview]").await.click().await.unwrap();
    until(
        &b,
        "document.querySelector('.preview .rendered').textContent.includes('Hola Rafa, su pedido')",
        "the preview",
    )
    .await;
    // A missing parameter is refused before anything is sent, with the reason.
    b.find("button[value=send]").await.click().await.unwrap();
    b.find("form.template-params ul.error li, section.composer ul.error li")
        .await;
    b.screenshot("console-template-refused").await;
    b.find("input[name='b.2']")
        .await
        .send_keys("A-100")
        .await
        .unwrap();
    b.find("button[value=send]").await.click().await.unwrap();
    until(
        &b,
        "document.querySelector('li.entry.outbound p.template')",
        "the template message",
    )
    .await;
    let (_, sent) = s.get_json("/v1/messages?to=%2B5215555556666").await;
    assert_eq!(sent["data"].as_array().map(Vec::len), Some(1), "{sent}");
    let m = s.message(sent["data"][0]["id"].as_str().expect("id")).await;
    assert_eq!(
        m["rendered_text"], "Hola Rafa, su pedido A-100 está listo.",
        "{m}"
    );

    // The dashboard draws what happened, failures with Meta's code and title.
    s.patch_sandbox(json!({"recipient_errors": {"5215577778888": 131026}}))
        .await;
    let failed = s
        .send_ok(&json!({"to": "+5215577778888", "type": "text", "text": {"body": "hola"}}))
        .await;
    s.wait_for(&[failed], &["failed"], Duration::from_secs(20))
        .await;
    c.goto(&s.url("/console/dashboard")).await.unwrap();
    let code = b
        .find("[data-chart=failures] text[data-code='131026']")
        .await;
    assert!(
        code.text().await.unwrap().starts_with("131026 · "),
        "Meta's title"
    );
    let read = b
        .find("[data-chart=funnel] text[data-step='3']")
        .await
        .text()
        .await
        .unwrap();
    assert!(read.starts_with("2 · "), "two messages were read: {read}");
    assert!(c
        .find(Locator::Css("[data-chart=hourly] rect.s-read"))
        .await
        .is_ok());
    b.screenshot("console-dashboard").await;

    b.close().await;
    s.stop().await;
}

on_both_backends!(the_inbox_works_in_a_browser);

/// Logs `name` in through the browser's login form.
async fn browser_login(b: &Browser, s: &TestServer, name: &str) {
    b.client.goto(&s.url("/console/login")).await.expect("goto");
    b.find("input[name=username]")
        .await
        .send_keys(name)
        .await
        .unwrap();
    b.find("input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    b.find("form[action='/console/login'] button")
        .await
        .click()
        .await
        .unwrap();
    b.find("section.inbox").await;
}

/// An operator creates a key, sees it once, uses it, revokes it, and sees it refused. A user
/// without `admin` gets no keys page.
async fn an_operator_creates_and_revokes_a_key(backend: Backend) {
    let s = TestServer::start(backend).await;
    user(&s, "ws_default", "operadora", &["admin", "read", "send"]).await;
    user(&s, "ws_default", "agente", &["read", "send"]).await;
    let (_, agent) = login(&s, "agente", None).await;
    let (status, _, _) = get(&s, "/console/keys", &agent).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let b = Browser::start().await;
    browser_login(&b, &s, "operadora").await;
    b.find("a[href='/console/keys']")
        .await
        .click()
        .await
        .unwrap();
    b.find("form.create input[name=name]")
        .await
        .send_keys("tienda <b>web</b>")
        .await
        .unwrap();
    b.find("form.create button").await.click().await.unwrap();
    let shown = b.find("code.secret").await;
    let secret = shown.text().await.unwrap();
    let key_id = shown.attr("data-key").await.unwrap().expect("the key's id");
    assert!(secret.starts_with("chq_"), "{secret}");
    b.screenshot("console-key-created").await;
    let api = |key: String| {
        let url = s.url("/v1/messages");
        async move {
            plain()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("get")
                .status()
        }
    };
    assert_eq!(api(secret.clone()).await, StatusCode::OK);

    // Shown once: the list never shows it again.
    b.client.goto(&s.url("/console/keys")).await.unwrap();
    let row = b.find(&format!("tr[data-key='{key_id}']")).await;
    assert_eq!(
        row.find(Locator::Css("td"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "tienda <b>web</b>"
    );
    assert!(
        !b.client.source().await.unwrap().contains(&secret),
        "the key was shown again"
    );

    row.find(Locator::Css("button.danger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.find(&format!("tr[data-key='{key_id}'][data-revoked=true]"))
        .await;
    assert_eq!(api(secret).await, StatusCode::UNAUTHORIZED);
    b.close().await;
    s.stop().await;
}

on_both_backends!(an_operator_creates_and_revokes_a_key);
