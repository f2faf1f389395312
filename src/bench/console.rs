//! `chasqui bench --console`: the console's page times with a full workspace. A real
//! `chasqui serve` (dispatcher off) gets `--console-conversations` people writing
//! `--console-messages` messages in all, through signed Meta webhooks as in production, plus
//! one reply each through the API; then a console user loads the inbox's first page, walks its
//! older pages, and opens conversations, one request at a time. The times are measured at the
//! client over loopback: the server's own time is at most that.

use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::figures::Phase;
use super::procs::Server;
use super::Bench;

/// How many messages one webhook delivery carries.
const PER_DELIVERY: usize = 100;
/// How many times each page kind is loaded.
const LOADS: usize = 200;

/// One page kind's times.
pub struct PageTimes {
    name: &'static str,
    /// Milliseconds, sorted.
    ms: Vec<f64>,
}

impl PageTimes {
    fn quantile(&self, p: f64) -> f64 {
        if self.ms.is_empty() {
            return 0.0;
        }
        self.ms[((self.ms.len() as f64 - 1.0) * p).round() as usize]
    }
}

fn signed(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Runs the console benchmark and prints its figures.
pub async fn run(bench: &Bench) -> Result<(), String> {
    let args = &bench.args;
    let (people, messages) = (args.console_conversations, args.console_messages);
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", bench.dir.join("console.db").display()));
    // The accept-only deployment: a server without its dispatcher, on a sandbox process.
    let deployment = bench.deploy(Phase::AcceptOnly, &database, None).await?;
    let result = measure(bench, &deployment.server, &database, people, messages).await;
    deployment.stop();
    let pages = result?;
    println!(
        "console pages, {} ({people} conversations, {messages} inbound + {people} outbound messages; \
         {LOADS} sequential loads each, ms at the client over loopback)",
        if database.starts_with("postgres") { "postgresql" } else { "sqlite" }
    );
    println!("{:<28} {:>8} {:>8} {:>8}", "page", "p50", "p99", "max");
    for p in &pages {
        println!(
            "{:<28} {:>8.2} {:>8.2} {:>8.2}",
            p.name,
            p.quantile(0.5),
            p.quantile(0.99),
            p.quantile(1.0)
        );
    }
    Ok(())
}

async fn measure(
    bench: &Bench,
    server: &Server,
    database: &str,
    people: usize,
    messages: usize,
) -> Result<Vec<PageTimes>, String> {
    let http = &bench.http;
    let api = |path: &str| format!("{}{path}", server.base);
    let (_, channels) = get_json(
        http,
        &api("/v1/admin/workspaces/ws_default/channels"),
        &server.key,
    )
    .await?;
    let pnid = channels["data"][0]["phone_number_id"]
        .as_str()
        .ok_or("no channel")?
        .to_string();

    eprintln!("chasqui bench: {messages} inbound messages from {people} people");
    let started = Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let mut batch = Vec::with_capacity(PER_DELIVERY);
    for i in 0..messages {
        let from = format!("52155{:08}", i % people);
        batch.push(json!({"from": from, "id": format!("wamid.bench-{i}"),
            "timestamp": (now - (messages - i) as u64 / 10).to_string(), "type": "text",
            "text": {"body": format!("mensaje {i} de la prueba de la consola")}}));
        if batch.len() == PER_DELIVERY || i + 1 == messages {
            let contacts: Vec<Value> = batch
                .iter()
                .map(|m| json!({"profile": {"name": format!("Cliente {}", m["from"])}, "wa_id": m["from"]}))
                .collect();
            let body = serde_json::to_vec(&json!({"object": "whatsapp_business_account",
                "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550000001", "phone_number_id": pnid},
                    "contacts": contacts, "messages": batch}}]}]}))
            .map_err(|e| e.to_string())?;
            let resp = http
                .post(api("/webhooks/meta"))
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signed(&bench.app_secret, &body))
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("a webhook delivery got {}", resp.status()));
            }
            batch.clear();
        }
    }
    let store = chasqui_store::open(database)
        .await
        .map_err(|e| e.to_string())?;
    while store.pending_webhooks().await.map_err(|e| e.to_string())? > 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "chasqui bench: applied in {:.1} s; one reply to each person",
        started.elapsed().as_secs_f64()
    );
    for i in 0..people {
        let resp = http
            .post(api("/v1/messages"))
            .bearer_auth(&server.key)
            .json(&json!({"to": format!("+52155{i:08}"), "type": "text", "text": {"body": "gracias"}}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("a reply got {}", resp.status()));
        }
    }

    // A console user, logged in through the login form.
    let password = crate::ids::random_token();
    let resp = http
        .post(api("/v1/admin/workspaces/ws_default/users"))
        .bearer_auth(&server.key)
        .json(&json!({"username": "bench", "password": password, "scopes": ["send", "read"]}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("creating the console user got {}", resp.status()));
    }
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    // The login form's token and cookie first, as a browser gets them.
    let form = plain
        .get(api("/console/login"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let form_cookie = first_cookie(form.headers(), "chasqui_login=")?;
    let html = form.text().await.map_err(|e| e.to_string())?;
    let token = html
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("the login form has no token")?
        .to_string();
    let resp = plain
        .post(api("/console/login"))
        .header("cookie", form_cookie)
        .form(&[
            ("_csrf", token.as_str()),
            ("username", "bench"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie = first_cookie(resp.headers(), "chasqui_session=")?;
    let page = |path: String| {
        let (plain, cookie, url) = (plain.clone(), cookie.clone(), api(&path));
        async move {
            let t = Instant::now();
            let resp = plain
                .get(&url)
                .header("cookie", cookie)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = resp.text().await.map_err(|e| e.to_string())?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if !status.is_success() {
                return Err(format!("{url} got {status}"));
            }
            Ok::<_, String>((ms, body))
        }
    };

    let mut first = Vec::new();
    for _ in 0..LOADS {
        first.push(page("/console".into()).await?.0);
    }
    // Older pages: each page's "older" link, as far as LOADS pages go.
    let mut older = Vec::new();
    let mut path = "/console".to_string();
    let mut conversations = Vec::new();
    while older.len() < LOADS {
        let (ms, body) = page(path.clone()).await?;
        if path != "/console" {
            older.push(ms);
        }
        conversations.extend(
            body.match_indices("href=\"/console/c/")
                .map(|(i, _)| body[i + 17..].split('"').next().unwrap_or("").to_string()),
        );
        match body.find("href=\"/console?before=") {
            Some(i) => {
                path = body[i + 6..]
                    .split('"')
                    .next()
                    .unwrap_or("")
                    .replace("&amp;", "&")
            }
            None => path = "/console".into(),
        }
    }
    let mut opened = Vec::new();
    for (i, id) in conversations
        .iter()
        .cycle()
        .step_by(7)
        .take(LOADS)
        .enumerate()
    {
        let _ = i;
        opened.push(page(format!("/console/c/{id}")).await?.0);
    }
    let mut dashboard = Vec::new();
    for _ in 0..LOADS {
        dashboard.push(page("/console/dashboard".into()).await?.0);
    }
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    Ok(vec![
        PageTimes {
            name: "inbox, first page",
            ms: sorted(first),
        },
        PageTimes {
            name: "inbox, older pages",
            ms: sorted(older),
        },
        PageTimes {
            name: "a conversation",
            ms: sorted(opened),
        },
        PageTimes {
            name: "the dashboard",
            ms: sorted(dashboard),
        },
    ])
}

async fn get_json(http: &reqwest::Client, url: &str, key: &str) -> Result<(u16, Value), String> {
    let resp = http
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.map_err(|e| e.to_string())?))
}

/// The `name=value` of the `Set-Cookie` starting with `prefix`.
fn first_cookie(headers: &reqwest::header::HeaderMap, prefix: &str) -> Result<String, String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(prefix))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| format!("no {prefix} cookie"))
}
