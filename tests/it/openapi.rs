//! The published contract does not drift from the server: every route of the route tables is
//! in `/openapi.json` with its scope, every operation there is served behind that scope, a
//! switched-off dialect leaves it, the README's endpoint tables match it both ways, and `/docs`
//! is served from the binary.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use chasqui::api::{dialects, routes};
use chasqui::config::DialectsConfig;

use fantoccini::Locator;

use crate::browser::Browser;
use crate::support::{request_with, Backend, TestServer};

async fn spec(s: &TestServer) -> Value {
    let resp = s
        .http
        .get(s.url("/openapi.json"))
        .send()
        .await
        .expect("spec");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("the spec is JSON")
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                all.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    all
}

/// A path with every `{param}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_spec_lists_every_route_with_its_scope() {
    let s = TestServer::start(Backend::Sqlite).await;
    let doc = spec(&s).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for r in routes::table() {
        let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
        assert!(op.is_object(), "{} {} is not in the spec", r.method, r.path);
        assert_eq!(
            op["x-required-scope"],
            r.scope.as_str(),
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(
            op["security"],
            json!([{ "bearer": [] }]),
            "{} {}",
            r.method,
            r.path
        );
    }
    for (prefix, scope, example) in routes::NESTED {
        let under: Vec<_> = operations(&doc)
            .into_iter()
            .filter(|(_, p, _)| p.starts_with(&format!("{prefix}/")))
            .collect();
        assert!(
            under.iter().any(|(_, p, _)| p == example),
            "{example} is documented"
        );
        for (method, path, op) in under {
            assert_eq!(op["x-required-scope"], scope.as_str(), "{method} {path}");
        }
    }
    for r in dialects::table(&DialectsConfig::default()) {
        let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} ({}) is not in the spec",
            r.method,
            r.path,
            r.dialect
        );
        match r.scope {
            Some(scope) => assert_eq!(op["x-required-scope"], scope.as_str()),
            None => assert_eq!(op["security"], json!([])),
        }
        assert_ne!(op["tags"][0], "Messages", "a dialect has its own tag");
    }
    // Every error a native operation documents is a problem with its codes.
    let (_, _, send) = operations(&doc)
        .into_iter()
        .find(|(m, p, _)| m == "POST" && p == "/v1/messages")
        .expect("POST /v1/messages");
    let codes = |status: &str| {
        send["responses"][status]["content"]["application/problem+json"]["schema"]["allOf"][1]
            ["properties"]["code"]["enum"]
            .clone()
    };
    assert!(codes("422")
        .as_array()
        .unwrap()
        .contains(&json!("window_closed")));
    assert!(codes("401")
        .as_array()
        .unwrap()
        .contains(&json!("missing_api_key")));
    assert!(codes("429")
        .as_array()
        .unwrap()
        .contains(&json!("rate_limited")));
    // The message object has a schema per type, as Meta's file does.
    let kinds: BTreeSet<String> = doc["components"]["schemas"]["OutboundMessage"]["oneOf"]
        .as_array()
        .expect("oneOf per message type")
        .iter()
        .filter_map(|v| {
            v["allOf"].as_array()?.iter().find_map(|part| {
                part["properties"]["type"]["enum"][0]
                    .as_str()
                    .map(str::to_string)
            })
        })
        .collect();
    for kind in [
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "template",
        "reaction",
    ] {
        assert!(kinds.contains(kind), "no schema for {kind}: {kinds:?}");
    }
    // Operation ids are unique, so generated clients get one method per operation.
    let ids: Vec<String> = operations(&doc)
        .iter()
        .map(|(_, _, op)| op["operationId"].as_str().expect("operationId").to_string())
        .collect();
    assert_eq!(
        ids.len(),
        ids.iter().collect::<BTreeSet<_>>().len(),
        "{ids:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn every_operation_in_the_spec_is_served_behind_its_scope() {
    let s = TestServer::start(Backend::Sqlite).await;
    let doc = spec(&s).await;
    let tenant = s.new_workspace("scopes").await;
    let key_with = |scopes: &'static [&'static str]| {
        let s = &s;
        let ws = tenant.workspace_id.clone();
        async move {
            let (status, key) = s
                .request_json(
                    Method::POST,
                    &format!("/v1/admin/workspaces/{ws}/keys"),
                    &json!({ "scopes": scopes }),
                )
                .await;
            assert_eq!(status, 201, "{key}");
            key["key"].as_str().unwrap().to_string()
        }
    };
    let read_only = key_with(&["read"]).await;
    let send_only = key_with(&["send"]).await;
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let url = s.url(&concrete(&path));
        let Some(scope) = op["x-required-scope"].as_str() else {
            // Public: served (not the router's 404 or 405).
            let status = s
                .http
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap()
                .status();
            assert!(
                ![404, 405].contains(&status.as_u16()),
                "{method} {path} answered {status}"
            );
            continue;
        };
        let dialect = op["tags"][0] != json!("Sandbox")
            && !path.starts_with("/v1/")
            && !path.starts_with("/webhooks");
        let anonymous = s.http.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{method} {path} without a key");
        if dialect {
            checked += 1;
            continue;
        }
        let body: Value = anonymous.json().await.unwrap();
        assert_eq!(body["code"], "missing_api_key", "{method} {path}");
        let other = if scope == "read" {
            &send_only
        } else {
            &read_only
        };
        let (status, body) = request_with(
            &s.http,
            &s.base,
            other,
            method.clone(),
            &concrete(&path),
            &Value::Null,
        )
        .await;
        assert_eq!(
            status, 403,
            "{method} {path} with a key lacking {scope}: {body}"
        );
        assert_eq!(body["code"], "insufficient_scope");
        checked += 1;
    }
    assert!(
        checked >= routes::table().len(),
        "{checked} operations checked"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_switched_off_dialect_leaves_the_spec() {
    let s = TestServer::start_with(Backend::Sqlite, |cfg| {
        cfg.dialects.wolkvox.enabled = false;
        cfg.dialects.curbe = false;
    })
    .await;
    let doc = spec(&s).await;
    let paths: Vec<String> = operations(&doc).into_iter().map(|(_, p, _)| p).collect();
    assert!(
        !paths.iter().any(|p| p.starts_with("/api/v2/")),
        "{paths:?}"
    );
    assert!(!paths.iter().any(|p| p.eq_ignore_ascii_case("/api/login")));
    assert!(
        paths.iter().any(|p| p == "/api/whatsapp/enviar"),
        "innova stays"
    );
    let tags = doc["tags"].to_string();
    assert!(
        !tags.contains("Wolkvox") && !tags.contains("Curbe"),
        "{tags}"
    );
    assert!(tags.contains("InnovaAPI"));
    // What the spec leaves out is not served either.
    let status = s
        .http
        .post(s.url("/api/v2/whatsapp.php"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test]
async fn the_docs_page_and_its_assets_come_from_the_binary() {
    let s = TestServer::start(Backend::Sqlite).await;
    let page = s.http.get(s.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and stylesheet the page loads is a relative URL this server answers.
    let assets: Vec<String> = html
        .split(['"', '\''])
        .filter(|w| w.ends_with(".js") || w.ends_with(".css"))
        .map(str::to_string)
        .collect();
    assert!(assets.len() >= 2, "{assets:?}");
    for asset in &assets {
        assert!(!asset.contains("//"), "{asset} is not served by Chasqui");
        let url = s.url(&format!("/docs/{}", asset.trim_start_matches("./")));
        let resp = s.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        assert!(!resp.bytes().await.unwrap().is_empty());
    }
    let init = s
        .http
        .get(s.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(init.text().await.unwrap().contains("/openapi.json"));
    s.stop().await;
}

/// The (method, path) pairs an endpoint table cell names: `GET/POST /v1/x`, `` `GET /a` / `PATCH
/// /a` ``; a bare path (`/v1/webhooks`, `/v1/sandbox/*`) names every operation under it.
fn readme_endpoints(readme: &str) -> (BTreeSet<(String, String)>, Vec<String>) {
    let mut exact = BTreeSet::new();
    let mut prefixes = Vec::new();
    for line in readme.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap_or_default();
        for item in cell.split('`').skip(1).step_by(2) {
            let (methods, path) = match item.split_once(' ') {
                Some((m, p)) if m.chars().all(|c| c.is_ascii_uppercase() || c == '/') => (m, p),
                _ => ("", item),
            };
            let path = path.split('?').next().unwrap_or_default().trim();
            if ![
                "/v1/",
                "/webhooks",
                "/healthz",
                "/readyz",
                "/version",
                "/openapi",
                "/docs",
            ]
            .iter()
            .any(|p| path.starts_with(p))
            {
                continue;
            }
            if methods.is_empty() {
                prefixes.push(path.trim_end_matches('*').trim_end_matches('/').to_string());
            } else {
                for m in methods.split('/') {
                    exact.insert((m.to_string(), path.to_string()));
                }
            }
        }
    }
    (exact, prefixes)
}

#[tokio::test]
async fn the_readme_endpoint_tables_match_the_spec() {
    let s = TestServer::start(Backend::Sqlite).await;
    let doc = spec(&s).await;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let (exact, prefixes) = readme_endpoints(&readme);
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    // The contract's own two routes are served outside it.
    let outside = [("GET", "/openapi.json"), ("GET", "/docs")];
    for (m, p) in &exact {
        if outside.contains(&(m.as_str(), p.as_str())) {
            let status = s.http.get(s.url(p)).send().await.unwrap().status();
            assert!(
                status.is_success() || status.is_redirection(),
                "{m} {p}: {status}"
            );
            continue;
        }
        assert!(
            documented.contains(&(m.clone(), p.clone())),
            "README's {m} {p} is not in the spec"
        );
    }
    for prefix in &prefixes {
        assert!(
            documented
                .iter()
                .any(|(_, p)| p.starts_with(prefix.as_str())),
            "README's {prefix} names nothing in the spec"
        );
    }
    let vendor = |op: &Value| {
        let tag = op["tags"][0].as_str().unwrap_or_default().to_string();
        ["Curbe", "respond.io", "Wolkvox", "InnovaAPI"]
            .iter()
            .any(|v| tag.starts_with(v))
    };
    for (m, p, op) in operations(&doc) {
        if vendor(&op) {
            continue;
        }
        let listed = exact.contains(&(m.clone(), p.clone()))
            || prefixes.iter().any(|prefix| p.starts_with(prefix.as_str()));
        assert!(listed, "the spec's {m} {p} is in no README endpoint table");
    }
    s.stop().await;
}

#[tokio::test]
async fn the_docs_page_lists_the_operations_and_sends_an_authorized_request() {
    let s = TestServer::start(Backend::Sqlite).await;
    let id = s
        .send_ok(&json!({"to": "+5215512345678", "type": "text", "text": {"body": "Hola"}}))
        .await;
    let b = Browser::start().await;
    b.client.goto(&s.url("/docs/")).await.expect("open /docs");
    b.find(".opblock-summary-path[data-path='/v1/messages']")
        .await;
    let listed = b
        .client
        .find_all(Locator::Css(".opblock"))
        .await
        .expect("operations");
    assert!(
        listed.len() >= routes::table().len(),
        "{} operations listed",
        listed.len()
    );

    // Authorize with the API key, in the bearer scheme's box.
    b.find(".btn.authorize")
        .await
        .click()
        .await
        .expect("open Authorize");
    let bearer = "//div[contains(@class,'auth-container')][.//h4[contains(., 'bearer')]]";
    let boxed = b
        .client
        .wait()
        .for_element(Locator::XPath(bearer))
        .await
        .expect("the bearer scheme's box");
    boxed
        .find(Locator::Css("input"))
        .await
        .expect("key input")
        .send_keys(&s.key)
        .await
        .expect("type the key");
    boxed
        .find(Locator::Css("button.authorize"))
        .await
        .expect("its Authorize button")
        .click()
        .await
        .expect("authorize");
    b.find(".btn-done")
        .await
        .click()
        .await
        .expect("close the dialog");

    // Try GET /v1/messages from the page.
    let op = "#operations-Messages-get_v1_messages";
    b.find(&format!("{op} .opblock-summary"))
        .await
        .click()
        .await
        .expect("expand");
    // Try-it-out is on from the start (the docs' configuration): Execute is there at once.
    b.find(&format!("{op} .btn.execute"))
        .await
        .click()
        .await
        .expect("execute");
    let status = b
        .find(&format!(
            "{op} .live-responses-table tr.response .response-col_status"
        ))
        .await;
    assert_eq!(status.text().await.expect("status text").trim(), "200");
    let body = b
        .find(&format!(
            "{op} .live-responses-table tr.response .response-col_description"
        ))
        .await
        .text()
        .await
        .expect("body text");
    assert!(
        body.contains(&id),
        "the page shows the sent message: {body}"
    );
    b.screenshot("docs-try-it-out").await;
    b.close().await;
    s.stop().await;
}
