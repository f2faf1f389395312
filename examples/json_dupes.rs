//! The cost of the strict request JSON reader (repeated keys and NUL refused) against plain
//! `serde_json::from_slice::<Value>`, per body, on typical send bodies.
//!
//! `cargo run --release --example json_dupes [ITERATIONS]` (figures, no assertions).

use std::hint::black_box;
use std::time::Instant;

use serde_json::Value;

/// Nanoseconds per call of `f` over `n` calls, after a warm-up.
fn ns_per(n: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let text = br#"{"to": "+5215512345678", "type": "text", "channel": "ch_01JABCDEF", "text": {"preview_url": false, "body": "Hola Mar\u00eda, tu pedido #48213 sali\u00f3 hoy y llega el jueves. Responde STOP para no recibir m\u00e1s avisos."}}"#;
    let template = br#"{"to": "+5215512345678", "type": "template", "template": {"name": "order_shipped", "language": {"code": "es_MX"}, "components": [{"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/p/48213.jpg"}}]}, {"type": "body", "parameters": [{"type": "text", "text": "Mar\u00eda"}, {"type": "text", "text": "48213"}, {"type": "text", "text": "jueves 4"}]}, {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "48213"}]}]}}"#;
    println!("iterations per case: {n}");
    println!(
        "{:<10} {:>6} {:>14} {:>14} {:>10}",
        "body", "bytes", "serde_json ns", "strict ns", "extra"
    );
    for (name, body) in [("text", &text[..]), ("template", &template[..])] {
        // Both read the same bodies to the same values.
        let plain: Value = serde_json::from_slice(body).expect("valid");
        assert_eq!(chasqui::api::json::parse(body).ok(), Some(plain));
        let base = ns_per(n, || {
            black_box(serde_json::from_slice::<Value>(black_box(body)).ok());
        });
        let strict = ns_per(n, || {
            black_box(chasqui::api::json::parse(black_box(body)).ok());
        });
        println!(
            "{name:<10} {:>6} {base:>14.0} {strict:>14.0} {:>9.1}%",
            body.len(),
            (strict / base - 1.0) * 100.0
        );
    }
}
