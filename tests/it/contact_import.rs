//! `POST /v1/contacts/import`: CSV and JSON rows imported over HTTP, bad rows reported by line
//! and left out, a second import changing nothing, an existing contact updated, respond.io's
//! `id:N` resolving the imported id, whole-file refusals storing nothing, and a large file.

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{test_config, Backend, TestDb, TestServer};

async fn start(backend: Backend) -> TestServer {
    let db = TestDb::create_named(backend, "import").await;
    let cfg = test_config(&db);
    TestServer::start_on(db, cfg).await
}

/// Posts `body` as `content_type` to the import; answers status and JSON.
async fn import(
    s: &TestServer,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let resp = s
        .http
        .post(s.url("/v1/contacts/import"))
        .bearer_auth(&s.key)
        .header("content-type", content_type)
        .body(body.into())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn import_ok(s: &TestServer, content_type: &str, body: impl Into<reqwest::Body>) -> Value {
    let (status, report) = import(s, content_type, body).await;
    assert_eq!(status, 200, "{report}");
    report
}

/// Every contact of the workspace, paging through the listing.
async fn all_contacts(s: &TestServer) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = s.get_json(&format!("/v1/contacts?limit=200{cursor}")).await;
        assert_eq!(status, 200, "{page}");
        all.extend(page["data"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return all,
        }
    }
}

/// The contact whose phone is `phone` (E.164).
fn by_phone<'a>(contacts: &'a [Value], phone: &str) -> &'a Value {
    contacts
        .iter()
        .find(|c| c["phone"] == phone)
        .unwrap_or_else(|| panic!("no contact {phone} in {contacts:?}"))
}

fn counts(report: &Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| report[k].as_i64().unwrap_or(-1);
    (n("created"), n("updated"), n("unchanged"), n("failed"))
}

/// `(line, field, code)` of each reported problem.
fn problems(report: &Value) -> Vec<(i64, Value, String)> {
    report["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap_or(-1),
                e["field"].clone(),
                e["code"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

const CSV: &str = "\
Phone,name,email,tags,field.plan,custom_fields.city,opted_out,respond_id,external_id\r
+593998445667,Ana Pérez,ana@example.com,vip;2024,gold,Quito,no,1024,crm-1\r
+5215512345678,\"Gómez, Luis\",,nuevo|mx,,CDMX,yes,1025,\r
\r
+12,Malo Uno,,,,,,,\r
,Sin Numero,,,,,,1026,\r
+5215512345679,Malo Dos,correo-malo,,,,quizas,,\r
+5215512345680,\"Varias\r
lineas\",,,,,,,\r
+5215512345681,Corta\r
,,,,,,,,\r
";

/// CSV rows are imported with every field; bad rows are reported with their physical line and
/// column, and nothing of them is stored.
async fn csv_rows_import_and_bad_rows_are_reported(backend: Backend) {
    let s = start(backend).await;
    let report = import_ok(&s, "text/csv; charset=utf-8", CSV).await;
    assert_eq!(counts(&report), (3, 0, 0, 4), "{report}");
    let null = Value::Null;
    assert_eq!(
        problems(&report),
        vec![
            (5, json!("phone"), "invalid_phone_number".into()),
            (6, json!("phone"), "required".into()),
            (7, json!("email"), "invalid_value".into()),
            (7, json!("opted_out"), "invalid_type".into()),
            (10, null, "column_count".into()),
        ],
        "{report}"
    );
    assert_eq!(report["errors_omitted"], 0);

    let contacts = all_contacts(&s).await;
    assert_eq!(contacts.len(), 3, "{contacts:?}");
    let ana = by_phone(&contacts, "+593998445667");
    assert_eq!(ana["name"], "Ana Pérez");
    assert_eq!(ana["wa_id"], "593998445667");
    assert_eq!(ana["email"], "ana@example.com");
    assert_eq!(ana["tags"], json!(["vip", "2024"]));
    assert_eq!(
        ana["custom_fields"],
        json!({"plan": "gold", "city": "Quito"})
    );
    assert_eq!(ana["opted_out"], false);
    let luis = by_phone(&contacts, "+5215512345678");
    assert_eq!(luis["name"], "Gómez, Luis");
    assert_eq!(luis["tags"], json!(["nuevo", "mx"]));
    assert_eq!(luis["custom_fields"], json!({"city": "CDMX"}));
    assert_eq!(luis["opted_out"], true);
    assert_eq!(
        by_phone(&contacts, "+5215512345680")["name"],
        "Varias\r\nlineas"
    );
    // Nothing of the refused rows: not their names, not their numbers.
    for c in &contacts {
        let name = c["name"].as_str().unwrap_or_default();
        assert!(
            !name.starts_with("Malo") && name != "Sin Numero" && name != "Corta",
            "{c}"
        );
    }
    s.stop().await;
}

/// JSON rows (an array, or `{"contacts": [...]}`) are imported; problems carry the row's index.
async fn json_rows_import_with_problems_by_index(backend: Backend) {
    let s = start(backend).await;
    let rows = json!([
        {"phone": "+593998445667", "name": "Ana", "tags": ["vip"], "custom_fields": {"plan": "gold"},
         "respond_id": 1024},
        {"user_id": "US.13491208655302741918", "name": "Solo BSUID", "opted_out": "yes"},
        {"phone": "+593998445668", "tags": "vip"},
        "not an object",
        {"phone": "+593998445669", "colour": "red", "user_id": "not-a-bsuid"},
    ]);
    let report = import_ok(&s, "application/json", rows.to_string()).await;
    assert_eq!(counts(&report), (2, 0, 0, 3), "{report}");
    assert_eq!(
        problems(&report),
        vec![
            (2, json!("tags"), "invalid_type".into()),
            (3, Value::Null, "invalid_type".into()),
            (4, json!("colour"), "unknown_field".into()),
            (4, json!("user_id"), "invalid_value".into()),
        ],
        "{report}"
    );
    let contacts = all_contacts(&s).await;
    assert_eq!(contacts.len(), 2, "{contacts:?}");
    let bsuid = contacts
        .iter()
        .find(|c| c["user_id"] == "US.13491208655302741918")
        .expect("the BSUID-only contact");
    assert_eq!(
        (bsuid["phone"].clone(), bsuid["opted_out"].clone()),
        (Value::Null, json!(true))
    );

    // The wrapped form; the same row again is unchanged.
    let wrapped = json!({"contacts": [{"phone": "+593998445667", "name": "Ana", "tags": ["vip"],
        "custom_fields": {"plan": "gold"}, "respond_id": 1024}]});
    let report = import_ok(&s, "application/json", wrapped.to_string()).await;
    assert_eq!(counts(&report), (0, 0, 1, 0), "{report}");
    s.stop().await;
}

/// The same file again changes nothing and creates nobody.
async fn a_second_import_changes_nothing(backend: Backend) {
    let s = start(backend).await;
    let first = import_ok(&s, "text/csv", CSV).await;
    assert_eq!(counts(&first), (3, 0, 0, 4), "{first}");
    let before = all_contacts(&s).await;
    let again = import_ok(&s, "text/csv", CSV).await;
    assert_eq!(counts(&again), (0, 0, 3, 4), "{again}");
    assert_eq!(all_contacts(&s).await, before);
    s.stop().await;
}

/// A row updates the contact with its phone (a person who wrote first): the fields it gives
/// change, the others stay, and custom fields are added to the contact's.
async fn an_import_updates_an_existing_contact(backend: Backend) {
    let s = start(backend).await;
    s.customer_writes(
        "593998445667",
        "Ana WhatsApp",
        json!({"type": "text", "text": {"body": "Hola"}}),
    )
    .await;
    let existing = all_contacts(&s).await;
    assert_eq!(existing.len(), 1);
    let id = existing[0]["id"].as_str().expect("id").to_string();
    let (status, _) = s
        .request_json(
            Method::PATCH,
            &format!("/v1/contacts/{id}"),
            &json!({"email": "ana@old.example", "custom_fields": {"since": "2020"}}),
        )
        .await;
    assert_eq!(status, 200);

    let csv = "phone,name,tags,field.plan\n+593998445667,Ana Pérez,vip,gold\n";
    let report = import_ok(&s, "text/csv", csv).await;
    assert_eq!(counts(&report), (0, 1, 0, 0), "{report}");
    let contacts = all_contacts(&s).await;
    assert_eq!(contacts.len(), 1, "no second contact: {contacts:?}");
    let c = &contacts[0];
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["name"], "Ana Pérez");
    assert_eq!(c["profile_name"], "Ana WhatsApp");
    assert_eq!(c["email"], "ana@old.example");
    assert_eq!(c["tags"], json!(["vip"]));
    assert_eq!(c["custom_fields"], json!({"since": "2020", "plan": "gold"}));

    // A respond id given later links the same person; a phone another contact has is refused.
    let report = import_ok(
        &s,
        "application/json",
        json!([{"phone": "+593998445667", "respond_id": 77},
               {"phone": "+593998445668", "name": "Otra"},
               {"respond_id": 77, "phone": "+593998445668"}])
        .to_string(),
    )
    .await;
    assert_eq!(counts(&report), (1, 1, 0, 1), "{report}");
    assert_eq!(
        problems(&report),
        vec![(2, json!("phone"), "conflict".into())],
        "{report}"
    );
    assert_eq!(all_contacts(&s).await.len(), 2);
    s.stop().await;
}

async fn v2(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.http.request(method, s.url(path)).bearer_auth(&s.key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// respond.io's `id:N` names the contact imported with that respond id, even when N is also
/// another contact's own number; Chasqui's numbers still work; an unknown id is 404.
async fn respond_ids_resolve_to_the_imported_contact(backend: Backend) {
    let s = start(backend).await;
    // A contact made through the dialect, as today.
    let (status, _) = v2(
        &s,
        Method::POST,
        "/v2/contact/phone:%2B593998445600",
        Some(json!({"firstName": "Primera"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, first) = v2(&s, Method::GET, "/v2/contact/phone:%2B593998445600", None).await;
    let first_num = first["id"].as_i64().expect("id");

    // Imported: respond.io knew Ana by the number that is the first contact's own.
    let csv = format!(
        "phone,name,respond_id\n+593998445667,Ana Pérez,{first_num}\n+593998445668,Beto,880001\n\
         +593998445669,Cami,\n"
    );
    let report = import_ok(&s, "text/csv", csv).await;
    assert_eq!(counts(&report), (3, 0, 0, 0), "{report}");

    // Each is answered with the id respond.io gave it.
    let (status, ana) = v2(
        &s,
        Method::GET,
        &format!("/v2/contact/id:{first_num}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{ana}");
    assert_eq!(
        (ana["phone"].clone(), ana["id"].clone()),
        (json!("+593998445667"), json!(first_num))
    );
    let (status, beto) = v2(&s, Method::GET, "/v2/contact/id:880001", None).await;
    assert_eq!(
        (status, beto["firstName"].clone(), beto["id"].clone()),
        (200, json!("Beto"), json!(880001))
    );
    let (_, by_phone) = v2(&s, Method::GET, "/v2/contact/phone:%2B593998445668", None).await;
    assert_eq!(by_phone["id"], 880001);

    // A send to the imported id goes to that person, and its record names them so.
    let send = json!({"message": {"type": "text", "text": "hola Beto"}});
    let (status, sent) = v2(
        &s,
        Method::POST,
        "/v2/contact/id:880001/message",
        Some(send),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let mid = sent["messageId"].as_i64().expect("messageId");
    let (status, record) = v2(
        &s,
        Method::GET,
        &format!("/v2/contact/id:880001/message/{mid}"),
        None,
    )
    .await;
    assert_eq!(
        (status, record["contactId"].clone()),
        (200, json!(880001)),
        "{record}"
    );
    let (status, _) = v2(
        &s,
        Method::GET,
        &format!("/v2/contact/phone:%2B593998445668/message/{mid}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "the message is Beto's");
    let (status, listed) = v2(
        &s,
        Method::POST,
        "/v2/contact/list",
        Some(json!({"search": "Beto"})),
    )
    .await;
    assert_eq!(
        (status, listed["items"][0]["id"].clone()),
        (200, json!(880001)),
        "{listed}"
    );

    // A contact imported without a respond id is known by Chasqui's number, which names it.
    let (_, cami) = v2(&s, Method::GET, "/v2/contact/phone:%2B593998445669", None).await;
    let (status, c) = v2(
        &s,
        Method::GET,
        &format!("/v2/contact/id:{}", cami["id"]),
        None,
    )
    .await;
    assert_eq!(
        (status, c["firstName"].clone()),
        (200, json!("Cami")),
        "{c}"
    );

    // An id nobody has: 404, and the send creates and sends nothing.
    let (status, _) = v2(&s, Method::GET, "/v2/contact/id:880999", None).await;
    assert_eq!(status, 404);
    let send = json!({"message": {"type": "text", "text": "¿a quién?"}});
    let (status, _) = v2(
        &s,
        Method::POST,
        "/v2/contact/id:880999/message",
        Some(send),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(all_contacts(&s).await.len(), 4);
    let (_, page) = s.get_json("/v1/messages?limit=200").await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1), "{page}");
    s.stop().await;
}

/// A body that is no import at all is refused whole, and no contact is stored.
async fn refused_files_store_nothing(backend: Backend) {
    let s = start(backend).await;
    let cases: Vec<(&str, &[u8], u16, &str)> = vec![
        (
            "text/plain",
            b"phone\n+593998445667\n",
            415,
            "unsupported_media_type",
        ),
        (
            "text/csv",
            b"phone,nickname\n+593998445667,Ani\n",
            422,
            "validation_failed",
        ),
        (
            "text/csv",
            b"name,email\nAna,ana@example.com\n",
            422,
            "validation_failed",
        ),
        (
            "text/csv",
            b"phone,phone\n+593998445667,+593998445668\n",
            422,
            "validation_failed",
        ),
        ("text/csv", b"", 400, "invalid_csv"),
        (
            "text/csv",
            b"\xff\xfe\x00\x01binary\n\x00\x02",
            400,
            "invalid_csv",
        ),
        (
            "text/csv",
            b"phone\x00\n+593998445667\n",
            400,
            "invalid_csv",
        ),
        (
            "application/json",
            b"phone,name\n+593998445667,Ana\n",
            400,
            "invalid_json",
        ),
        (
            "application/json",
            br#"{"rows": []}"#,
            422,
            "validation_failed",
        ),
        (
            "application/json",
            br#"{"contacts": {}}"#,
            422,
            "validation_failed",
        ),
        (
            "application/json",
            br#""contacts""#,
            422,
            "validation_failed",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let (got, answer) = import(&s, content_type, body.to_vec()).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{content_type} {:?}: {answer}",
            String::from_utf8_lossy(body)
        );
    }
    let (got, answer) = import(&s, "text/csv", "phone,nickname\n+593998445667,Ani\n").await;
    assert_eq!(got, 422);
    assert_eq!(answer["errors"][0]["field"], "nickname", "{answer}");
    assert_eq!(answer["errors"][0]["code"], "unknown_field");
    assert!(all_contacts(&s).await.is_empty());
    s.stop().await;
}

/// A large file streams through: every row is created and listed.
async fn a_large_file_is_imported_whole(backend: Backend) {
    let s = start(backend).await;
    const ROWS: usize = 20_000;
    let mut csv = String::from("phone,name,tags,respond_id\n");
    for i in 0..ROWS {
        csv.push_str(&format!(
            "+5215540{i:06},Cliente {i},lote-{};import,{}\n",
            i % 7,
            500_000 + i
        ));
    }
    let report = import_ok(&s, "text/csv", csv).await;
    assert_eq!(counts(&report), (ROWS as i64, 0, 0, 0), "{report}");
    let contacts = all_contacts(&s).await;
    assert_eq!(contacts.len(), ROWS);
    let last = by_phone(&contacts, &format!("+5215540{:06}", ROWS - 1));
    assert_eq!(last["name"], format!("Cliente {}", ROWS - 1));
    s.stop().await;
}

on_both_backends!(
    csv_rows_import_and_bad_rows_are_reported,
    json_rows_import_with_problems_by_index,
    a_second_import_changes_nothing,
    an_import_updates_an_existing_contact,
    respond_ids_resolve_to_the_imported_contact,
    refused_files_store_nothing,
    a_large_file_is_imported_whole,
);
