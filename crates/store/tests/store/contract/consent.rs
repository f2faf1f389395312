//! Marketing consent: `record_consent`, keyword messages, `PATCH` through `update_contact`,
//! Meta's 131050 through `apply_statuses`, the history and the business webhook events.

use chasqui_domain::consent::ConsentSource;
use chasqui_domain::webhook::StatusUpdate;
use chasqui_domain::{ChannelId, MessageStatus, MetaError, WorkspaceId};
use chasqui_store::{
    ConsentChange, ContactFilter, ContactPatch, KeywordConsent, RecipientState, WebhookEndpoint,
};

use super::conversations::{inbound, sighting};
use super::*;

/// Like `contract!`, on databases labelled `consent`.
macro_rules! consent_contract {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let db = $crate::common::Db::sqlite().await;
                    let store = db.open().await;
                    super::$case(store, &db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let db = $crate::common::Db::postgres_named("consent").await;
                    let store = db.open().await;
                    super::$case(store, &db).await;
                }
            }
        )*
    };
}

const WS: &str = "ws_consent";

fn ws() -> WorkspaceId {
    WorkspaceId::from_trusted(WS)
}

fn change(wa_id: &str, opted_out: bool, key: Option<&str>) -> ConsentChange {
    ConsentChange {
        who: sighting(WS, wa_id, "Ana"),
        opted_out,
        source: ConsentSource::Webhook,
        detail: Some(
            if opted_out {
                "stop: by Meta"
            } else {
                "resume: by Meta"
            }
            .into(),
        ),
        event_key: key.map(str::to_owned),
    }
}

async fn contact_of(s: &S, wa_id: &str) -> chasqui_store::Contact {
    let found = s
        .list_contacts(
            &ws(),
            &ContactFilter {
                search: Some(wa_id.into()),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(found.len(), 1, "{wa_id}: {found:?}");
    found.into_iter().next().expect("contact")
}

async fn history(s: &S, id: &str) -> Vec<(String, ConsentSource, Option<String>, i64)> {
    s.contact_history(&ws(), id, None, 50)
        .await
        .expect("history")
        .expect("contact")
        .into_iter()
        .map(|e| {
            assert_eq!(e.marketing_opted_out, e.change == "marketing_opt_out");
            (e.change, e.source, e.detail, e.at)
        })
        .collect()
}

async fn marketing_consent_changes_once_each_with_its_history(s: S, db: &Db) {
    workspace_with_channel(&s, WS, "ch_consent", "7001").await;
    let endpoint = WebhookEndpoint {
        id: "wh_consent".into(),
        workspace_id: ws(),
        url: "https://example.com/hook".into(),
        events: r#"["contact.marketing_opt_out","contact.marketing_opt_in"]"#.into(),
        secret: "sealed".into(),
        secret_hint: "whsec_…abcd".into(),
        enabled: true,
        created_at: 1,
        updated_at: 1,
    };
    s.create_webhook_endpoint(&endpoint)
        .await
        .expect("endpoint");

    // Meta's stop for someone Chasqui has not met: the contact is made, opted out.
    let ana = "5215511110000";
    let report = s
        .record_consent(&ws(), vec![change(ana, true, Some("k1"))], 1_000)
        .await
        .expect("record");
    assert_eq!((report.changed, report.contacts_created), (1, 1));
    // The same report again, or a stop while stopped, changes nothing.
    let again = s
        .record_consent(
            &ws(),
            vec![change(ana, true, Some("k1")), change(ana, true, Some("k9"))],
            1_100,
        )
        .await
        .expect("record");
    assert_eq!((again.changed, again.unchanged), (0, 2));
    let contact = contact_of(&s, ana).await;
    assert!(contact.marketing.opted_out);
    assert!(!contact.opted_out, "the general opt-out is another flag");
    assert_eq!(contact.marketing.changed_at, Some(1_000));
    assert_eq!(contact.marketing.source, Some(ConsentSource::Webhook));
    assert_eq!(contact.marketing.detail.as_deref(), Some("stop: by Meta"));
    let state = s
        .recipient_state(&ws(), &ChannelId::from_trusted("ch_consent"), &[ana.into()])
        .await
        .expect("state");
    assert_eq!(
        state,
        RecipientState {
            opted_out: false,
            marketing_opted_out: true,
            last_inbound_at: None
        }
    );

    // Resumed by Meta, then a stop keyword: the keyword counts once, though delivered twice.
    s.record_consent(&ws(), vec![change(ana, false, Some("k2"))], 2_000)
        .await
        .expect("record");
    let mut baja = inbound("in_c1", WS, "ch_consent", ana, "wamid.c1", 2_500);
    baja.keyword = Some(KeywordConsent {
        opted_out: true,
        text: "BAJA".into(),
    });
    for at in [3_000, 3_100] {
        s.record_inbound(vec![], vec![baja.clone()], at)
            .await
            .expect("inbound");
    }
    // The business: a no-op, then a change.
    for (opted_out, at) in [(true, 4_000), (false, 4_100)] {
        let patch = ContactPatch {
            marketing_opted_out: Some(opted_out),
            ..Default::default()
        };
        let changed = s
            .update_contact(&ws(), &contact.id, &patch, at)
            .await
            .expect("update")
            .expect("contact");
        assert_eq!(changed.marketing.opted_out, opted_out);
    }
    let contact = contact_of(&s, ana).await;
    assert_eq!(
        (contact.marketing.source, contact.marketing.changed_at),
        (Some(ConsentSource::Api), Some(4_100))
    );
    assert_eq!(
        history(&s, &contact.id).await,
        [
            (
                "marketing_opt_out".into(),
                ConsentSource::Webhook,
                Some("stop: by Meta".into()),
                1_000
            ),
            (
                "marketing_opt_in".into(),
                ConsentSource::Webhook,
                Some("resume: by Meta".into()),
                2_000
            ),
            (
                "marketing_opt_out".into(),
                ConsentSource::Keyword,
                Some("BAJA".into()),
                3_000
            ),
            ("marketing_opt_in".into(), ConsentSource::Api, None, 4_100),
        ]
    );
    // Paged by seq.
    let first = s
        .contact_history(&ws(), &contact.id, None, 1)
        .await
        .expect("history")
        .expect("contact");
    let rest = s
        .contact_history(&ws(), &contact.id, Some(first[0].seq), 10)
        .await
        .expect("history")
        .expect("contact");
    assert_eq!(rest.len(), 3);
    assert_eq!(rest[0].at, 2_000);
    // No such contact, or another workspace's: none.
    let other = WorkspaceId::from_trusted("ws_other");
    assert!(s
        .contact_history(&other, &contact.id, None, 10)
        .await
        .expect("history")
        .is_none());
    assert!(s
        .contact_history(&ws(), "ct_nobody", None, 10)
        .await
        .expect("history")
        .is_none());

    // Meta refuses a message with 131050: its recipient (written with the mobile 1 Mexico's
    // numbers may drop) is found or made, and opted out once, however often Meta says so.
    let luis = "5215522220000";
    accept(&s, message("msg_c1", WS, "ch_consent", luis, 5_000)).await;
    let verified = [("7001".to_string(), ChannelId::from_trusted("ch_consent"))];
    let failed = |at: i64| StatusUpdate {
        phone_number_id: "7001".into(),
        wamid: "wamid.out1".into(),
        callback_data: Some("msg_c1".into()),
        status: MessageStatus::Failed,
        timestamp: at,
        recipient_id: Some(luis.into()),
        recipient_user_id: None,
        error: Some(MetaError {
            code: 131050,
            title: "Unable to deliver the message.".into(),
            details: None,
        }),
        conversation: None,
        pricing: None,
    };
    for at in [6_000, 6_100] {
        s.apply_statuses(&verified, vec![failed(at)], at)
            .await
            .expect("apply");
    }
    let luis_contact = contact_of(&s, luis).await;
    assert!(luis_contact.marketing.opted_out);
    assert_eq!(
        history(&s, &luis_contact.id).await,
        [(
            "marketing_opt_out".into(),
            ConsentSource::MetaError,
            Some("Unable to deliver the message. (message msg_c1)".into()),
            6_000
        )]
    );
    // Another failure code marks no one.
    let eve = "5215533330000";
    accept(&s, message("msg_c2", WS, "ch_consent", eve, 7_000)).await;
    let mut other_failure = failed(7_100);
    other_failure.callback_data = Some("msg_c2".into());
    other_failure.wamid = "wamid.out2".into();
    other_failure.error = Some(MetaError {
        code: 131049,
        title: "ecosystem".into(),
        details: None,
    });
    s.apply_statuses(&verified, vec![other_failure], 7_100)
        .await
        .expect("apply");
    assert!(s
        .list_contacts(
            &ws(),
            &ContactFilter {
                search: Some(eve.into()),
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .expect("list")
        .is_empty());

    // Every change raised its event, in order: 4 for Ana, 1 for Luis.
    let deliveries = s
        .list_webhook_deliveries(&ws(), "wh_consent", 50)
        .await
        .expect("deliveries")
        .expect("endpoint");
    let mut kinds: Vec<String> = deliveries.iter().map(|d| d.event_type.clone()).collect();
    kinds.reverse();
    assert_eq!(
        kinds,
        [
            "contact.marketing_opt_out",
            "contact.marketing_opt_in",
            "contact.marketing_opt_out",
            "contact.marketing_opt_in",
            "contact.marketing_opt_out",
        ]
    );

    // Deleting a contact deletes its history.
    assert!(s.delete_contact(&ws(), &contact.id).await.expect("delete"));
    let left = db
        .exec(&format!(
            "DELETE FROM contact_history WHERE contact_id = '{}'",
            contact.id
        ))
        .await
        .expect("count");
    assert_eq!(left, 0, "the history went with the contact");
}

consent_contract!(marketing_consent_changes_once_each_with_its_history);
