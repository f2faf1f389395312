//! Fault injection: throttling, 5xx, drops and timeouts after acceptance (need the domain parser).

use std::time::Duration;

use chasqui_provider::SendOutcome;

use crate::support::*;

#[tokio::test]
async fn throttle_rejects_with_130429() {
    require_domain();
    let h = start(|s| s.throttle_per_sec = 2).await;
    let provider = h.provider();
    let mut throttled = 0;
    let mut accepted = 0;
    for i in 0..8 {
        match h.send_text(&provider, &format!("m{i}"), PERU, "x").await {
            SendOutcome::Accepted { .. } => accepted += 1,
            SendOutcome::Rejected {
                http_status: 400,
                error,
                ..
            } if error.code == 130429 => throttled += 1,
            other => panic!("{other:?}"),
        }
    }
    // Eight quick sends span at most two one-second windows of two each.
    assert!(
        accepted <= 4 && throttled >= 4,
        "accepted {accepted}, throttled {throttled}"
    );
    assert_eq!(h.messages().await.len(), accepted);
    assert_eq!(h.stats().await["throttled"], throttled);
}

#[tokio::test]
async fn server_error_records_nothing() {
    require_domain();
    let h = start(|s| s.error_5xx_rate = 1.0).await;
    let outcome = h.send_text(&h.provider(), "m", PERU, "x").await;
    let SendOutcome::Rejected {
        http_status, error, ..
    } = &outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(*http_status, 500);
    assert_eq!(error.code, 131000);
    assert_eq!(error.title, "Something went wrong");
    assert!(h.messages().await.is_empty());
    assert_eq!(h.stats().await["faults_5xx"], 1);
}

#[tokio::test]
async fn drop_is_unknown_and_records_nothing() {
    require_domain();
    let h = start(|s| s.drop_rate = 1.0).await;
    let provider = h.provider_with("t", Duration::from_millis(300));
    let outcome = h.send_text(&provider, "m", PERU, "x").await;
    assert!(
        matches!(outcome, SendOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    assert!(h.messages().await.is_empty());
    assert_eq!(h.stats().await["dropped"], 1);
}

#[tokio::test]
async fn timeout_after_accept_is_unknown_but_recorded_and_delivered() {
    require_domain();
    let h = start(|s| s.timeout_after_accept_rate = 1.0).await;
    let provider = h.provider_with("t", Duration::from_millis(300));
    let outcome = h.send_text(&provider, "msg-t", PERU, "x").await;
    assert!(
        matches!(outcome, SendOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    let log = h.messages().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["callback_data"], "msg-t");
    assert_eq!(h.stats().await["timeouts"], 1);
    // The status webhooks name it, which is how the dispatcher resolves the unknown outcome.
    let wamid = log[0]["wamid"].as_str().unwrap().to_owned();
    let named = eventually(Duration::from_secs(3), || {
        h.statuses()
            .iter()
            .any(|s| s["id"] == wamid.as_str() && s["biz_opaque_callback_data"] == "msg-t")
    })
    .await;
    assert!(named);
}

#[tokio::test]
async fn shutdown_ends_injected_hangs() {
    require_domain();
    let settings = chasqui_provider::sandbox::SandboxSettings {
        drop_rate: 1.0,
        hang_ms: 30_000,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chasqui_provider::sandbox::serve_standalone(
        listener,
        settings,
        async {
            let _ = stopped.await;
        },
    ));
    let h = Harness {
        base: format!("http://{addr}"),
        http: chasqui_provider::http_client(Duration::from_secs(5)),
        hooks: Default::default(),
    };
    let provider = h.provider_with("t", Duration::from_secs(10));
    let send = tokio::spawn(async move { h.send_text(&provider, "m", PERU, "x").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(());
    let finished = tokio::time::timeout(Duration::from_secs(3), server).await;
    assert!(matches!(finished, Ok(Ok(Ok(())))), "{finished:?}");
    // The hung caller got the "not sent" answer, not a 30 s wait.
    let outcome = send.await.unwrap();
    assert!(
        matches!(
            outcome,
            SendOutcome::Rejected {
                http_status: 503,
                ..
            }
        ),
        "{outcome:?}"
    );
}
