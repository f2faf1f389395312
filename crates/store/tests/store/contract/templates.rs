//! TemplateStore: the template registry.

use chasqui_domain::inbound::{TemplateChange, TemplateEvent};
use chasqui_domain::template_registry::parse_template;
use chasqui_domain::{ChannelId, WorkspaceId};
use chasqui_store::{StoredTemplate, TemplateFilter};
use serde_json::{json, Value};

use super::*;

fn template(
    ws: &str,
    ch: &str,
    name: &str,
    language: &str,
    status: &str,
    meta_id: &str,
) -> StoredTemplate {
    let t = parse_template(&json!({
        "id": meta_id,
        "name": name,
        "language": language,
        "category": "MARKETING",
        "status": status,
        "components": [{"type": "BODY", "text": "Hello {{1}}"}],
    }))
    .expect("template");
    StoredTemplate {
        workspace_id: WorkspaceId::from_trusted(ws),
        channel_id: ChannelId::from_trusted(ch),
        template: t,
        quality: None,
        rejected_reason: None,
        updated_at: 10,
    }
}

fn status_event(waba: &str, meta_id: &str, event: &str, reason: Option<&str>) -> TemplateEvent {
    TemplateEvent {
        waba_id: waba.into(),
        time: None,
        template_id: meta_id.into(),
        name: None,
        language: None,
        change: TemplateChange::Status {
            event: event.into(),
            reason: reason.map(str::to_owned),
            category: None,
            rejection_info: None,
        },
        raw: Value::Null,
    }
}

async fn templates_are_synced_listed_and_updated_by_webhooks(s: S, _db: &Db) {
    workspace_with_channel(&s, "ws_t", "ch_t", "9001").await;
    s.upsert_channel(&channel("ch_u", "ws_t", "9002"), 3)
        .await
        .expect("channel");
    assert!(s
        .get_template(&ChannelId::from_trusted("ch_t"), "welcome", "en")
        .await
        .expect("get")
        .is_none());
    assert!(s
        .list_templates(
            &WorkspaceId::from_trusted("ws_t"),
            &TemplateFilter::default()
        )
        .await
        .expect("list")
        .is_empty());

    let synced = [
        template("ws_t", "ch_t", "welcome", "en", "APPROVED", "1001"),
        template("ws_t", "ch_t", "welcome", "es", "PENDING", "1002"),
        template("ws_t", "ch_t", "promo", "en", "REJECTED", "1003"),
        // Another channel's template in the list is not this sync's.
        template("ws_t", "ch_u", "other", "en", "APPROVED", "1004"),
    ];
    assert_eq!(
        s.upsert_templates(&synced, &ChannelId::from_trusted("ch_t"), true, 100)
            .await
            .expect("upsert"),
        3
    );
    assert_eq!(
        s.upsert_templates(&synced[3..], &ChannelId::from_trusted("ch_u"), false, 100)
            .await
            .expect("upsert"),
        1
    );
    let got = s
        .get_template(&ChannelId::from_trusted("ch_t"), "welcome", "en")
        .await
        .expect("get")
        .expect("template");
    assert_eq!(got, synced[0]);

    let names = |v: Vec<StoredTemplate>| {
        v.into_iter()
            .map(|t| {
                format!(
                    "{}/{}/{}",
                    t.template.name.as_str(),
                    t.template.language,
                    t.channel_id
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            s.list_templates(
                &WorkspaceId::from_trusted("ws_t"),
                &TemplateFilter::default()
            )
            .await
            .expect("list")
        ),
        [
            "other/en/ch_u",
            "promo/en/ch_t",
            "welcome/en/ch_t",
            "welcome/es/ch_t"
        ]
    );
    let f = TemplateFilter {
        channel_id: Some(ChannelId::from_trusted("ch_t")),
        status: Some("APPROVED".into()),
        ..Default::default()
    };
    assert_eq!(
        names(
            s.list_templates(&WorkspaceId::from_trusted("ws_t"), &f)
                .await
                .expect("list")
        ),
        ["welcome/en/ch_t"]
    );
    let f = TemplateFilter {
        name: Some("welcome".into()),
        language: Some("es".into()),
        ..Default::default()
    };
    assert_eq!(
        names(
            s.list_templates(&WorkspaceId::from_trusted("ws_t"), &f)
                .await
                .expect("list")
        ),
        ["welcome/es/ch_t"]
    );
    assert!(s
        .list_templates(
            &WorkspaceId::from_trusted("ws_none"),
            &TemplateFilter::default()
        )
        .await
        .expect("list")
        .is_empty());

    // A webhook of the channel's WABA changes the status; it is newer than the sync.
    let report = s
        .apply_template_event(
            &[ChannelId::from_trusted("ch_t")],
            &status_event("waba_ws_t", "1002", "APPROVED", Some("NONE")),
            200,
        )
        .await
        .expect("event");
    assert_eq!((report.updated, report.needs_sync), (1, false));
    let es = s
        .get_template(&ChannelId::from_trusted("ch_t"), "welcome", "es")
        .await
        .expect("get")
        .expect("template");
    assert_eq!(es.template.status.as_str(), "APPROVED");
    // A sync that began before the webhook does not undo it.
    assert_eq!(
        s.upsert_templates(&synced[1..2], &ChannelId::from_trusted("ch_t"), false, 150)
            .await
            .expect("upsert"),
        1
    );
    let es = s
        .get_template(&ChannelId::from_trusted("ch_t"), "welcome", "es")
        .await
        .expect("get")
        .expect("template");
    assert_eq!(es.template.status.as_str(), "APPROVED");
    // Another WABA's event, or an unknown template, changes nothing and asks for a sync.
    let other = s
        .apply_template_event(
            &[ChannelId::from_trusted("ch_t")],
            &status_event("waba_other", "1001", "PAUSED", None),
            300,
        )
        .await
        .expect("event");
    assert_eq!((other.updated, other.needs_sync), (0, true));
    let unknown = s
        .apply_template_event(
            &[ChannelId::from_trusted("ch_t")],
            &status_event("waba_ws_t", "9999", "PAUSED", None),
            300,
        )
        .await
        .expect("event");
    assert_eq!((unknown.updated, unknown.needs_sync), (0, true));

    // A complete sync removes what the provider no longer has.
    assert_eq!(
        s.upsert_templates(&synced[..1], &ChannelId::from_trusted("ch_t"), true, 400)
            .await
            .expect("upsert"),
        1
    );
    assert!(s
        .get_template(&ChannelId::from_trusted("ch_t"), "promo", "en")
        .await
        .expect("get")
        .is_none());
    assert!(
        s.get_template(&ChannelId::from_trusted("ch_u"), "other", "en")
            .await
            .expect("get")
            .is_some(),
        "other channels keep theirs"
    );
}

async fn an_unreadable_template_is_corrupt(s: S, db: &Db) {
    workspace_with_channel(&s, "ws_t", "ch_t", "9101").await;
    let t = [
        template("ws_t", "ch_t", "welcome", "en", "APPROVED", "2001"),
        template("ws_t", "ch_t", "promo", "en", "APPROVED", "2002"),
    ];
    s.upsert_templates(&t, &ChannelId::from_trusted("ch_t"), true, 100)
        .await
        .expect("upsert");
    assert!(
        corrupt(
            db,
            "UPDATE templates SET components = '[{' WHERE name = 'welcome'"
        )
        .await
    );
    assert_corrupt(
        "get_template",
        s.get_template(&ChannelId::from_trusted("ch_t"), "welcome", "en")
            .await,
    );
    assert_corrupt(
        "list_templates",
        s.list_templates(
            &WorkspaceId::from_trusted("ws_t"),
            &TemplateFilter::default(),
        )
        .await,
    );
    assert!(corrupt(db, "UPDATE templates SET name = '' WHERE name = 'promo'").await);
    assert_corrupt(
        "get_template",
        s.get_template(&ChannelId::from_trusted("ch_t"), "", "en")
            .await,
    );
}

contract!(
    templates_are_synced_listed_and_updated_by_webhooks,
    an_unreadable_template_is_corrupt,
);
