//! respond.io Developer API v2 (resold by Ecuabots as `api.chatapi.net`) at `/v2/...`:
//! `Authorization: Bearer <Chasqui API key>`, integer ids (a message's `seq`, a contact's and a
//! channel's `num`), the `{code, message}` error envelope and `X-RateLimit-*` headers. Sends go
//! through the one send service; contacts through the store's contact calls.

use chasqui_domain::ChannelId;
use chasqui_domain::WorkspaceId;
mod placeholders;
pub mod translate;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use chasqui_domain::Scope;
use chasqui_store::{
    Channel, Contact, ContactFilter, MessageFilter, StoreError, TemplateFilter, RESPOND_SOURCE,
};
use serde_json::{json, Value};
use std::collections::HashMap;

use super::DialectRoute;
use crate::api::auth::{self, Principal};
use crate::api::body::RawBody;
use crate::api::error::ApiError;
use crate::api::extract::{Path, Query};
use crate::api::send::{self, SendRequest};
use crate::api::AppState;
use crate::clock::now_ms;
use crate::limits::Admission;
use translate::{Identifier, RespondError};

type Answer = Result<(StatusCode, Value, HeaderMap), RespondError>;

fn ok(body: Value) -> Answer {
    Ok((StatusCode::OK, body, HeaderMap::new()))
}

/// Every respond.io route.
pub fn routes() -> Vec<DialectRoute> {
    macro_rules! r {
        ($method:ident $path:literal $scope:ident => $handler:expr) => {
            DialectRoute {
                dialect: "respond",
                method: Method::$method,
                path: $path,
                scope: Some(Scope::$scope),
                handler: on(MethodFilter::$method, $handler),
            }
        };
    }
    vec![
        r!(POST "/v2/contact/{identifier}/message" Send => send_message),
        r!(GET "/v2/contact/{identifier}/message/list" Read => list_messages),
        r!(GET "/v2/contact/{identifier}/message/{message_id}" Read => get_message),
        r!(GET "/v2/contact/{identifier}" Read => get_contact),
        r!(POST "/v2/contact/{identifier}" Contacts => create_contact),
        r!(PUT "/v2/contact/{identifier}" Contacts => update_contact),
        r!(DELETE "/v2/contact/{identifier}" Contacts => delete_contact),
        r!(POST "/v2/contact/create_or_update/{identifier}" Contacts => create_or_update),
        r!(POST "/v2/contact/list" Read => list_contacts),
        r!(POST "/v2/contact/{identifier}/tag" Contacts => add_tags),
        r!(DELETE "/v2/contact/{identifier}/tag" Contacts => remove_tags),
        r!(GET "/v2/space/channel" Read => list_channels),
        r!(GET "/v2/space/channel/{channel_id}/mtm" Templates => list_templates),
    ]
}

/// Authenticates the bearer token and admits the request under the key's limits.
async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<(Principal, Admission), RespondError> {
    let token = auth::bearer(headers)
        .ok_or_else(|| RespondError::new(StatusCode::UNAUTHORIZED, translate::UNAUTHORIZED))?;
    Ok(auth::admit(state, token, scope).await?)
}

fn header_value(n: impl Into<HeaderValue>) -> HeaderValue {
    n.into()
}

/// Renders an answer with respond.io's rate headers: `X-RateLimit-Limit` and
/// `X-RateLimit-Remaining` from the key's request rate (the quotas service's own figures, or a
/// send's daily quota when the key has no rate), and `Retry-After` on 429.
fn render(answer: Answer, admission: Option<&Admission>) -> Response {
    let (status, body, mut headers) = match answer {
        Ok(a) => a,
        Err(e) => {
            let mut h = HeaderMap::new();
            if let Some(secs) = e.retry_after_secs {
                h.insert("retry-after", header_value(secs));
            }
            if let Some((limit, remaining)) = e.rate {
                h.insert("x-ratelimit-limit", header_value(limit.max(0)));
                h.insert("x-ratelimit-remaining", header_value(remaining.max(0)));
            }
            (e.status, e.body(), h)
        }
    };
    if let Some(rate) = admission.and_then(|a| a.headers.as_ref()) {
        rate.apply(&mut headers);
    }
    if !headers.contains_key("x-ratelimit-limit") {
        let standard = (
            headers.get("ratelimit-limit"),
            headers.get("ratelimit-remaining"),
        );
        if let (Some(limit), Some(remaining)) = (standard.0.cloned(), standard.1.cloned()) {
            headers.insert("x-ratelimit-limit", limit);
            headers.insert("x-ratelimit-remaining", remaining);
        }
    }
    (status, headers, axum::Json(body)).into_response()
}

/// Runs a handler body after admission; the admission (the in-flight slot) is held until the
/// answer is ready.
macro_rules! handle {
    ($state:expr, $headers:expr, $scope:expr, |$caller:ident| $body:expr) => {{
        match admit(&$state, &$headers, $scope).await {
            Err(e) => render(Err(e), None),
            Ok(($caller, admission)) => {
                let answer: Answer = $body.await;
                let resp = render(answer, Some(&admission));
                drop(admission);
                resp
            }
        }
    }};
}

/// An extractor whose refusal (a bad path segment or query, an unreadable body) is answered in
/// respond.io's envelope.
struct Respond<X>(X);

impl<S, X> FromRequestParts<S> for Respond<X>
where
    S: Send + Sync,
    X: FromRequestParts<S, Rejection = ApiError>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        X::from_request_parts(parts, state)
            .await
            .map(Self)
            .map_err(|e| render(Err(e.into()), None))
    }
}

impl<S, X> FromRequest<S> for Respond<X>
where
    S: Send + Sync,
    X: FromRequest<S, Rejection = ApiError>,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        X::from_request(req, state)
            .await
            .map(Self)
            .map_err(|e| render(Err(e.into()), None))
    }
}

/// The body as JSON, strictly (no repeated keys, no NUL), with the problem in the message.
fn parse_json(body: &Bytes) -> Result<Value, RespondError> {
    crate::api::json::parse(body).map_err(|e| ApiError::from(e).into())
}

/// The contact a path's identifier names, in the caller's workspace. `id:N` is the respond.io
/// contact id a contact import recorded, else Chasqui's own contact number; nothing else (never
/// a guess by phone).
async fn find_contact(
    state: &AppState,
    workspace: &WorkspaceId,
    raw: &str,
) -> Result<Option<Contact>, RespondError> {
    let id = Identifier::parse(raw).ok_or_else(RespondError::validation)?;
    let store = &state.store;
    let found = match id {
        Identifier::Id(n) => {
            match store
                .contact_by_external_id(workspace, RESPOND_SOURCE, &n.to_string())
                .await
            {
                Ok(None) => store.contact_by_num(workspace, n).await,
                imported => imported,
            }
        }
        Identifier::Email(e) => store.contact_by_email(workspace, &e).await,
        Identifier::Phone(p) => store.contact_by_phone(workspace, &p).await,
    };
    Ok(found.map_err(ApiError::from)?)
}

async fn contact_or_404(
    state: &AppState,
    workspace: &WorkspaceId,
    raw: &str,
) -> Result<Contact, RespondError> {
    find_contact(state, workspace, raw)
        .await?
        .ok_or_else(|| RespondError::not_found("Contact"))
}

/// The ids respond.io's clients know `contacts` by, in order: the respond.io id each was
/// imported with, else Chasqui's number (what `id:N` resolves, in that order).
async fn respond_ids(
    state: &AppState,
    workspace: &WorkspaceId,
    contacts: &[Contact],
) -> Result<Vec<i64>, RespondError> {
    let ids: Vec<String> = contacts.iter().map(|c| c.id.clone()).collect();
    let imported = state
        .store
        .external_ids(workspace, RESPOND_SOURCE, &ids)
        .await
        .map_err(store_err)?;
    Ok(contacts
        .iter()
        .map(|c| {
            imported
                .get(&c.id)
                .and_then(|id| id.parse().ok())
                .unwrap_or(c.num)
        })
        .collect())
}

/// The id respond.io's clients know `contact` by (see [`respond_ids`]).
async fn respond_id(
    state: &AppState,
    workspace: &WorkspaceId,
    contact: &Contact,
) -> Result<i64, RespondError> {
    let ids = respond_ids(state, workspace, std::slice::from_ref(contact)).await?;
    Ok(ids.first().copied().unwrap_or(contact.num))
}

/// The contact a send names; a `phone:` identifier Chasqui has no contact for yet gets one (a
/// first outreach starts with a number). Any other unknown identifier is 404, never a guess.
async fn contact_or_first_outreach(
    state: &AppState,
    workspace: &WorkspaceId,
    raw: &str,
) -> Result<Contact, RespondError> {
    if let Some(found) = find_contact(state, workspace, raw).await? {
        return Ok(found);
    }
    match Identifier::parse(raw) {
        // Nameless until the person writes back (their WhatsApp profile names them then).
        Some(Identifier::Phone(phone)) => {
            // A number that cannot be sent to creates nothing.
            chasqui_domain::PhoneNumber::parse(&format!("+{phone}"))
                .map_err(|_| RespondError::validation())?;
            let new = chasqui_store::NewContact {
                phone: Some(phone),
                custom_fields: json!({}),
                ..Default::default()
            };
            state
                .store
                .create_contact(workspace, &new, now_ms())
                .await
                .map_err(store_err)
        }
        _ => Err(RespondError::not_found("Contact")),
    }
}

fn store_err(e: StoreError) -> RespondError {
    ApiError::from(e).into()
}

/// The contact's WhatsApp number (`+digits`), the send's `to`.
fn recipient(c: &Contact) -> Option<String> {
    c.wa_id
        .as_ref()
        .or(c.phone.as_ref())
        .map(|d| format!("+{d}"))
}

/// The channel a send without `channelId` goes through: the contact's conversation with the
/// latest activity ("last interacted channel"); `None` (the workspace default) when there is
/// none.
async fn last_interacted(
    state: &AppState,
    workspace: &WorkspaceId,
    contact: &Contact,
) -> Result<Option<ChannelId>, RespondError> {
    let conversations = state
        .store
        .list_conversations(workspace, Some(&contact.id), None, 1000)
        .await
        .map_err(store_err)?;
    Ok(conversations
        .into_iter()
        .max_by_key(|c| c.last_message_at)
        .map(|c| c.channel_id))
}

async fn send_message(
    State(state): State<AppState>,
    Respond(Path(identifier)): Respond<Path<String>>,
    headers: HeaderMap,
    Respond(RawBody(body)): Respond<RawBody>,
) -> Response {
    handle!(state, headers, Scope::Send, |caller| async {
        let body = parse_json(&body)?;
        let message = body
            .get("message")
            .filter(|m| m.is_object())
            .ok_or_else(RespondError::validation)?;
        let contact = contact_or_first_outreach(&state, &caller.workspace_id, &identifier).await?;
        let to = recipient(&contact).ok_or_else(RespondError::validation)?;
        // `channelId` null, absent or 0 (the documentation's placeholder; numbers start at 1)
        // means the last interacted channel.
        let channel = match body.get("channelId") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_i64() {
                Some(0) => None,
                Some(n) => Some(n),
                None => return Err(RespondError::validation()),
            },
        };
        let channel = match channel {
            Some(n) => Some(
                channel_by_respond_id(&state, &caller.workspace_id, n)
                    .await?
                    .ok_or_else(|| RespondError::not_found("Channel"))?
                    .id,
            ),
            None => last_interacted(&state, &caller.workspace_id, &contact).await?,
        };
        let mut meta = translate::to_meta(message, &to)?;
        let contact_id = respond_id(&state, &caller.workspace_id, &contact).await?;
        placeholders::fill(&mut meta, &contact, contact_id)
            .map_err(|why| RespondError::new(StatusCode::BAD_REQUEST, why))?;
        let idempotency_key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .filter(|k| !k.is_empty() && k.len() <= 255)
            .map(str::to_string);
        let sent = send::submit(
            &state,
            &caller,
            SendRequest {
                message: meta,
                channel: channel.map(ChannelId::into_string),
                idempotency_key,
                template_errors_fail_later: true,
                client_message: Some(message.clone()),
                ..SendRequest::default()
            },
        )
        .await?;
        Ok((
            StatusCode::OK,
            json!({ "messageId": sent.message.seq }),
            sent.headers,
        ))
    })
}

/// Whether a message went to this contact.
fn sent_to(m: &chasqui_store::MessageRecord, c: &Contact) -> bool {
    Some(&m.recipient) == c.wa_id.as_ref() || Some(&m.recipient) == c.phone.as_ref()
}

async fn channel_num(state: &AppState, channel_id: &ChannelId) -> Result<i64, RespondError> {
    Ok(state
        .store
        .get_channel(channel_id)
        .await
        .map_err(store_err)?
        .map(|c| translate::respond_channel_id(&c))
        .unwrap_or_default())
}

/// The workspace's channel respond.io's `channelId` names: the id respond.io gave it
/// (`respond_channel_id`), else Chasqui's number.
async fn channel_by_respond_id(
    state: &AppState,
    workspace_id: &WorkspaceId,
    n: i64,
) -> Result<Option<Channel>, RespondError> {
    let legacy =
        state
            .channels
            .by_vendor_id(workspace_id, |c| &c.respond_channel_id, &n.to_string());
    match legacy {
        Some(c) => Ok(Some(c)),
        None => state
            .store
            .channel_by_num(workspace_id, n)
            .await
            .map_err(store_err),
    }
}

/// A message's record, with its timeline and its client's message; `contact_id` is the id
/// respond.io's clients know its contact by.
async fn record(
    state: &AppState,
    workspace: &WorkspaceId,
    m: &chasqui_store::MessageRecord,
    contact_id: i64,
) -> Result<Value, RespondError> {
    let detail = state
        .store
        .get_message(workspace, &m.id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| RespondError::not_found("Message"))?;
    let client = state
        .store
        .client_message(workspace, &m.id)
        .await
        .map_err(store_err)?;
    let channel = channel_num(state, &m.channel_id).await?;
    Ok(translate::message_record(
        &detail.message,
        &detail.events,
        contact_id,
        channel,
        client.as_deref(),
    ))
}

async fn get_message(
    State(state): State<AppState>,
    Respond(Path((identifier, message_id))): Respond<Path<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    handle!(state, headers, Scope::Read, |caller| async {
        let ws = &caller.workspace_id;
        let contact = contact_or_404(&state, ws, &identifier).await?;
        let seq: i64 = message_id.parse().map_err(|_| RespondError::validation())?;
        let m = state
            .store
            .message_by_seq(ws, seq)
            .await
            .map_err(store_err)?
            .filter(|m| sent_to(m, &contact))
            .ok_or_else(|| RespondError::not_found("Message"))?;
        let contact_id = respond_id(&state, ws, &contact).await?;
        ok(record(&state, ws, &m, contact_id).await?)
    })
}

/// `limit` (1–100, default 10) and `cursorId` of a listing.
fn page(q: &HashMap<String, String>) -> Result<(i64, Option<i64>), RespondError> {
    let limit = match q.get("limit") {
        None => 10,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => return Err(RespondError::validation()),
        },
    };
    let cursor = match q.get("cursorId").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| RespondError::validation())?),
    };
    Ok((limit, cursor))
}

/// `pagination`: `next` is the path and query of the following page (null on the last);
/// `previous` the first page's when this one was reached with a cursor.
fn pagination(path: &str, limit: i64, cursor: Option<i64>, next: Option<i64>) -> Value {
    json!({
        "next": next.map(|n| format!("{path}?limit={limit}&cursorId={n}")),
        "previous": cursor.map(|_| format!("{path}?limit={limit}")),
    })
}

async fn list_messages(
    State(state): State<AppState>,
    Respond(Path(identifier)): Respond<Path<String>>,
    Respond(Query(q)): Respond<Query<HashMap<String, String>>>,
    headers: HeaderMap,
) -> Response {
    handle!(state, headers, Scope::Read, |caller| async {
        let ws = &caller.workspace_id;
        let (limit, cursor) = page(&q)?;
        let contact = contact_or_404(&state, ws, &identifier).await?;
        let mut items = Vec::new();
        let mut next = None;
        // A contact may be known by its phone and its WhatsApp id; outbound messages name one.
        if let Some(digits) = contact.wa_id.clone().or(contact.phone.clone()) {
            let mut found = state
                .store
                .list_messages(
                    ws,
                    &MessageFilter {
                        recipient: Some(digits),
                        before_seq: cursor,
                        limit: limit + 1,
                        ..MessageFilter::default()
                    },
                )
                .await
                .map_err(store_err)?;
            if found.len() as i64 > limit {
                found.truncate(limit as usize);
                next = found.last().map(|m| m.seq);
            }
            let contact_id = respond_id(&state, ws, &contact).await?;
            for m in &found {
                items.push(record(&state, ws, m, contact_id).await?);
            }
        }
        let path = format!("/v2/contact/{identifier}/message/list");
        ok(json!({ "items": items, "pagination": pagination(&path, limit, cursor, next) }))
    })
}

async fn get_contact(
    State(state): State<AppState>,
    Respond(Path(identifier)): Respond<Path<String>>,
    headers: HeaderMap,
) -> Response {
    handle!(state, headers, Scope::Read, |caller| async {
        let c = contact_or_404(&state, &caller.workspace_id, &identifier).await?;
        let id = respond_id(&state, &caller.workspace_id, &c).await?;
        ok(translate::contact_object(&c, id))
    })
}

/// The fields of a create: the body's, with the identifier's email or phone when the body
/// leaves it out. Only `email:` and `phone:` identifiers create.
fn fields_for_create(
    identifier: &str,
    body: &Value,
) -> Result<translate::ContactFields, RespondError> {
    let mut fields = translate::ContactFields::parse(body)?;
    match Identifier::parse(identifier) {
        Some(Identifier::Email(e)) => {
            fields.email.get_or_insert(e);
        }
        Some(Identifier::Phone(p)) => {
            fields.phone.get_or_insert(p);
        }
        _ => return Err(RespondError::validation()),
    }
    Ok(fields)
}

async fn create(
    state: &AppState,
    workspace: &WorkspaceId,
    fields: &translate::ContactFields,
) -> Result<Contact, RespondError> {
    let new = fields.to_new()?;
    state
        .store
        .create_contact(workspace, &new, now_ms())
        .await
        .map_err(store_err)
}

async fn create_contact(
    State(state): State<AppState>,
    Respond(Path(identifier)): Respond<Path<String>>,
    headers: HeaderMap,
    Respond(RawBody(body)): Respond<RawBody>,
) -> Response {
    handle!(state, headers, Scope::Contacts, |caller| async {
        let fields = fields_for_create(&identifier, &parse_json(&body)?)?;
        let ws = &caller.workspace_id;
        if find_contact(&state, ws, &identifier).await?.is_some() {
            return Err(RespondError::new(
                StatusCode::CONFLICT,
                "Contact already exists",
            ));
        }
        create(&state, ws, &fields).await?;
        // respond.io's documented answer, `code` a string.
        ok(json!({ "code": "200", "message": "Contact added successfully!" }))
    })
}

async fn update(
    state: &AppState,
    workspace: &WorkspaceId,
    contact: &Contact,
    fields: &translate::ContactFields,
) -> Result<Value, RespondError> {
    let patch = fields.to_patch(contact);
    let updated = state
        .store
        .update_contact(workspace, &contact.id, &patch, now_ms())
        .await
        .map_err(store_err)?
        .ok_or_else(|| RespondError::not_found("Contact"))?;
    Ok(json!({ "contactId": respond_id(state, workspace, &updated).await? }))
}

async fn update_contact(
    State(state): State<AppState>,
    Respond(Path(identifier)): Respond<Path<String>>,
    headers: HeaderMap,
    Respond(RawBody(body)): Respond<RawBody>,
) -> Response {
    handle!(state, headers, Scope::Contacts, |caller| async {
        let fields = translate::ContactFields::parse(&parse_json(&body)?)?;
        let ws = &caller.workspace_id;
        let contact = contact_or_404(&state, ws, &identifier).await?;
        ok(update(&state, ws, &contact, &fields).await?)
    })
}

async fn create_or_update(
    State(state): State<AppState>,
    Respond(Path(identifier)): Respond<Path<String>>,
    headers: HeaderMap,
    Respond(RawBody(body)): Respond<RawBody>,
) -> Response {
    handle!(state, headers, Scope::Contacts, |caller| async {
        let body = parse_json(&body)?;
        let ws = &caller.workspace_id;
        match find_contact(&state, ws, &identifier).await? {
            Some(contact) => {
                let fields = translate::ContactFields::parse(&body)?;
                ok(update(&state, ws, &contact, &fields).await?)
            }
            None => {
                let fields = fields_for_create(&identifier, &body)?;
                // A new contact has no imported id yet.
                let c = create(&state, ws, &fields).await?;
                ok(json!({ "contactId": c.num }))
            }
        }
    })
}

async fn delete_contact(
    State(state): State<AppState>,
    Respond(Path(identifier)): Respond<Path<String>>,
    headers: HeaderMap,
) -> Response {
    handle!(state, headers, Scope::Contacts, |caller| async {
        let ws = &caller.workspace_id;
        let contact = contact_or_404(&state, ws, &identifier).await?;
        // Known before the delete, which takes the imported ids with it.
        let contact_id = respond_id(&state, ws, &contact).await?;
        state
            .store
            .delete_contact(ws, &contact.id)
            .await
            .map_err(store_err)?;
        ok(json!({ "contactId": contact_id }))
    })
}

async fn list_contacts(
    State(state): State<AppState>,
    Respond(Query(q)): Respond<Query<HashMap<String, String>>>,
    headers: HeaderMap,
    Respond(RawBody(body)): Respond<RawBody>,
) -> Response {
    handle!(state, headers, Scope::Read, |caller| async {
        let ws = &caller.workspace_id;
        let (limit, cursor) = page(&q)?;
        // The body's `search` is applied; `filter` and `timezone` are accepted and not
        // interpreted (Chasqui has no lifecycle or segment fields to filter on).
        let body = if body.is_empty() {
            json!({})
        } else {
            parse_json(&body)?
        };
        let search = body
            .get("search")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string);
        // The cursor is a contact number; the store pages by contact id.
        let after_id = match cursor {
            None => None,
            Some(n) => Some(
                state
                    .store
                    .contact_by_num(ws, n)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(RespondError::validation)?
                    .id,
            ),
        };
        let mut found = state
            .store
            .list_contacts(
                ws,
                &ContactFilter {
                    search,
                    tag: None,
                    after_id,
                    limit: limit + 1,
                },
            )
            .await
            .map_err(store_err)?;
        let mut next = None;
        if found.len() as i64 > limit {
            found.truncate(limit as usize);
            next = found.last().map(|c| c.num);
        }
        let ids = respond_ids(&state, ws, &found).await?;
        let items: Vec<Value> = found
            .iter()
            .zip(ids)
            .map(|(c, id)| translate::contact_object(c, id))
            .collect();
        ok(
            json!({ "items": items, "pagination": pagination("/v2/contact/list", limit, cursor, next) }),
        )
    })
}

async fn change_tags(
    state: &AppState,
    workspace: &WorkspaceId,
    identifier: &str,
    body: &Bytes,
    add: bool,
) -> Answer {
    let given = translate::tags(&parse_json(body)?)?;
    let contact = contact_or_404(state, workspace, identifier).await?;
    let mut tags = contact.tags.clone();
    if add {
        for t in given {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
    } else {
        tags.retain(|t| !given.contains(t));
    }
    let patch = chasqui_store::ContactPatch {
        tags: Some(tags),
        ..Default::default()
    };
    state
        .store
        .update_contact(workspace, &contact.id, &patch, now_ms())
        .await
        .map_err(store_err)?;
    ok(json!({ "contactId": respond_id(state, workspace, &contact).await? }))
}

async fn add_tags(
    State(state): State<AppState>,
    Respond(Path(identifier)): Respond<Path<String>>,
    headers: HeaderMap,
    Respond(RawBody(body)): Respond<RawBody>,
) -> Response {
    handle!(state, headers, Scope::Contacts, |caller| change_tags(
        &state,
        &caller.workspace_id,
        &identifier,
        &body,
        true
    ))
}

async fn remove_tags(
    State(state): State<AppState>,
    Respond(Path(identifier)): Respond<Path<String>>,
    headers: HeaderMap,
    Respond(RawBody(body)): Respond<RawBody>,
) -> Response {
    handle!(state, headers, Scope::Contacts, |caller| change_tags(
        &state,
        &caller.workspace_id,
        &identifier,
        &body,
        false
    ))
}

/// A page of items ordered by their integer id, after `cursor`.
fn page_by_num<T>(
    mut all: Vec<T>,
    num: impl Fn(&T) -> i64,
    limit: i64,
    cursor: Option<i64>,
) -> (Vec<T>, Option<i64>) {
    all.sort_by_key(|t| num(t));
    all.retain(|t| cursor.is_none_or(|c| num(t) > c));
    let mut next = None;
    if all.len() as i64 > limit {
        all.truncate(limit as usize);
        next = all.last().map(&num);
    }
    (all, next)
}

async fn list_channels(
    State(state): State<AppState>,
    Respond(Query(q)): Respond<Query<HashMap<String, String>>>,
    headers: HeaderMap,
) -> Response {
    handle!(state, headers, Scope::Read, |caller| async {
        let (limit, cursor) = page(&q)?;
        let all = state
            .store
            .list_channels(&caller.workspace_id)
            .await
            .map_err(store_err)?;
        let (channels, next) = page_by_num(all, |c: &Channel| c.num, limit, cursor);
        let items: Vec<Value> = channels.iter().map(translate::channel_object).collect();
        ok(
            json!({ "items": items, "pagination": pagination("/v2/space/channel", limit, cursor, next) }),
        )
    })
}

async fn list_templates(
    State(state): State<AppState>,
    Respond(Path(channel_id)): Respond<Path<String>>,
    Respond(Query(q)): Respond<Query<HashMap<String, String>>>,
    headers: HeaderMap,
) -> Response {
    handle!(state, headers, Scope::Templates, |caller| async {
        let ws = &caller.workspace_id;
        let (limit, cursor) = page(&q)?;
        let num: i64 = channel_id.parse().map_err(|_| RespondError::validation())?;
        let channel = channel_by_respond_id(&state, ws, num)
            .await?
            .ok_or_else(|| RespondError::not_found("Channel"))?;
        let templates = state
            .store
            .list_templates(
                ws,
                &TemplateFilter {
                    channel_id: Some(channel.id.clone()),
                    ..TemplateFilter::default()
                },
            )
            .await
            .map_err(store_err)?;
        // Templates have no integer id of their own: their position in the channel's list
        // (by name and language) serves as one for paging.
        let numbered: Vec<(i64, Value)> = templates
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let json = t.template.to_json();
                let id = i as i64 + 1;
                let item = json!({
                    "id": id,
                    "name": t.template.name.as_str(),
                    "languageCode": t.template.language,
                    "category": t.template.category.as_str().to_ascii_lowercase(),
                    "status": t.template.status.as_str().to_ascii_lowercase(),
                    "components": json["components"].to_string(),
                    "namespace": null,
                    "metaId": t.template.id,
                });
                (id, item)
            })
            .collect();
        let (page, next) = page_by_num(numbered, |t| t.0, limit, cursor);
        let items: Vec<Value> = page.into_iter().map(|t| t.1).collect();
        let path = format!("/v2/space/channel/{num}/mtm");
        ok(json!({ "items": items, "pagination": pagination(&path, limit, cursor, next) }))
    })
}
