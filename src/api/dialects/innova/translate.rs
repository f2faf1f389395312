//! InnovaAPI's send request → Meta's message object, and Chasqui's errors → InnovaAPI's
//! `{success, message}` envelope. Pure: no I/O.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::api::error::ApiError;

/// The 200 answer's text.
pub const SENT: &str = "Mensaje enviado correctamente";
/// The 401 answer's text.
pub const BAD_KEY: &str = "API Key inválida o no enviada";
/// The 400 answer's text for a channel that cannot send.
pub const NOT_CONNECTED: &str = "WhatsApp no está conectado";
/// The 429 answer's text for the daily limit, as InnovaAPI words it.
pub const DAILY_LIMIT: &str = "Límite de mensajes diarios alcanzado";
/// The 429 answer's text for the key's requests per minute.
pub const RATE_LIMIT: &str = "Demasiadas solicitudes por minuto";
/// The 429 answer's text for the key's requests in flight.
pub const CONCURRENCY_LIMIT: &str = "Demasiadas solicitudes simultáneas";
/// The 429 answer's text for the channel's messaging limit.
pub const MESSAGING_LIMIT: &str =
    "Límite de mensajería del canal alcanzado (destinatarios distintos en 24 horas)";
/// The 500 answer's text.
pub const INTERNAL: &str = "Error interno del servidor";

/// An InnovaAPI answer: HTTP status and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `message` text.
    pub message: String,
    /// Seconds to wait before trying again (`Retry-After`), for a limit.
    pub retry_after_secs: Option<u64>,
}

impl Answer {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// A 400 for bad parameters, naming what is wrong.
    pub fn bad_params(detail: impl AsRef<str>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("Parámetros incorrectos: {}", detail.as_ref()),
        )
    }

    /// The 200 of an accepted send.
    pub fn sent() -> Self {
        Self::new(StatusCode::OK, SENT)
    }

    /// The envelope: `{"success": <2xx>, "message": ...}`.
    pub fn body(&self) -> Value {
        json!({"success": self.status.is_success(), "message": self.message})
    }
}

/// A string field: absent, `null` and blank count as missing; numbers are taken as their text
/// (clients that build the body from numeric columns send `numero` as a number).
fn text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(format!("{name} debe ser texto")),
    }
}

fn required(fields: &Map<String, Value>, name: &str, tipo: &str) -> Result<String, String> {
    text(fields, name)?.ok_or_else(|| {
        if tipo.is_empty() {
            format!("{name} es requerido")
        } else {
            format!("{name} es requerido para tipo {tipo}")
        }
    })
}

/// A coordinate: a JSON number or a numeric string (documented as number; lenient on strings).
fn coordinate(fields: &Map<String, Value>, name: &str) -> Result<f64, String> {
    let invalid = || format!("{name} debe ser un número");
    match fields.get(name) {
        None | Some(Value::Null) => Err(format!("{name} es requerido para tipo location")),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(invalid),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(format!("{name} es requerido para tipo location"))
        }
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

/// The file name of a document: the URL's last path segment, when it has one.
fn filename_of(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_scheme = path.split_once("://").map_or(path, |(_, rest)| rest);
    let (_, path) = after_scheme.split_once('/')?;
    path.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Translates an InnovaAPI send body into Meta's message object, or says which parameter is
/// wrong (the `<detalle>` of "Parámetros incorrectos: <detalle>"). Unknown fields are ignored.
/// WhatsApp's own rules (lengths, URL schemes, ranges) are left to the domain.
pub fn translate(body: &Value) -> Result<Value, String> {
    let fields = body
        .as_object()
        .ok_or_else(|| "el cuerpo debe ser un objeto JSON".to_string())?;
    let numero = required(fields, "numero", "")?;
    let tipo = required(fields, "tipo", "")?.trim().to_ascii_lowercase();
    // Meta's `to` takes E.164; InnovaAPI numbers are digits with the country code.
    let digits = numero.trim().trim_start_matches('+');
    let to = format!("+{digits}");
    let message = match tipo.as_str() {
        "text" => json!({
            "to": to, "type": "text",
            "text": {"body": required(fields, "mensaje", "text")?},
        }),
        "image" | "video" | "audio" | "document" => {
            let url = required(fields, "url", &tipo)?;
            let mut media = json!({"link": url});
            // Meta takes a caption on images, videos and documents, never on audio.
            if tipo != "audio" {
                if let Some(caption) = text(fields, "caption")? {
                    media["caption"] = json!(caption);
                }
            }
            if tipo == "document" {
                if let Some(name) = filename_of(&url) {
                    media["filename"] = json!(name);
                }
            }
            json!({"to": to, "type": tipo, tipo.clone(): media})
        }
        "location" => {
            let mut location = json!({
                "latitude": coordinate(fields, "latitud")?,
                "longitude": coordinate(fields, "longitud")?,
            });
            if let Some(name) = text(fields, "nombre")? {
                location["name"] = json!(name);
            }
            json!({"to": to, "type": "location", "location": location})
        }
        other => {
            return Err(format!(
                "tipo \"{other}\" no es válido (text, image, document, video, audio, location)"
            ))
        }
    };
    Ok(message)
}

/// Chasqui's error as InnovaAPI answers it: 401 for credentials, 400 for bad parameters or a
/// channel that cannot send, 429 for any limit, 500 for the rest.
pub fn from_api_error(e: &ApiError) -> Answer {
    use crate::limits::LimitError;
    match e {
        ApiError::MissingApiKey | ApiError::InvalidApiKey | ApiError::InsufficientScope(_) => {
            Answer::new(StatusCode::UNAUTHORIZED, BAD_KEY)
        }
        ApiError::Validation(problems) => {
            let channel_down = problems.iter().any(|p| {
                p.field == "channel" && matches!(p.code, "unknown_channel" | "channel_disabled")
            });
            if channel_down {
                return Answer::new(StatusCode::BAD_REQUEST, NOT_CONNECTED);
            }
            let detail = problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect::<Vec<_>>()
                .join("; ");
            Answer::bad_params(detail)
        }
        ApiError::Refused(p) => Answer::bad_params(format!("{}: {}", p.field, p.message)),
        // Each limit says which it is: only the daily one is InnovaAPI's own text.
        ApiError::Limited(LimitError::Exceeded {
            kind,
            retry_after_secs,
            ..
        }) => {
            use crate::limits::LimitKind;
            let message = match kind {
                LimitKind::DailyQuota | LimitKind::WorkspaceDailyQuota => DAILY_LIMIT.to_string(),
                LimitKind::Rate => {
                    format!("{RATE_LIMIT}; intente de nuevo en {retry_after_secs} s")
                }
                LimitKind::Concurrency => {
                    format!("{CONCURRENCY_LIMIT}; intente de nuevo en {retry_after_secs} s")
                }
                LimitKind::MessagingLimit => {
                    format!("{MESSAGING_LIMIT}; intente de nuevo en {retry_after_secs} s")
                }
            };
            Answer {
                retry_after_secs: Some(*retry_after_secs),
                ..Answer::new(StatusCode::TOO_MANY_REQUESTS, message)
            }
        }
        ApiError::ProviderUnavailable(_) => Answer::new(StatusCode::BAD_REQUEST, NOT_CONNECTED),
        ApiError::Internal(_) | ApiError::Unavailable | ApiError::Limited(LimitError::Store(_)) => {
            Answer::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
        }
        // Nothing was acknowledged: a 503 tells the client to send it again later.
        ApiError::StorageUnavailable(_) | ApiError::Limited(LimitError::StoreUnavailable(_)) => {
            Answer::new(StatusCode::SERVICE_UNAVAILABLE, INTERNAL)
        }
        // Everything else is the request's fault: its text names the field.
        other => Answer::bad_params(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chasqui_domain::Problem;

    #[test]
    fn text_becomes_a_text_message() {
        let m = translate(&json!({"numero":"573001234567","tipo":"text","mensaje":"Hola mundo"}))
            .unwrap();
        assert_eq!(
            m,
            json!({"to":"+573001234567","type":"text","text":{"body":"Hola mundo"}})
        );
    }

    #[test]
    fn media_goes_by_link_with_caption_where_meta_allows() {
        let m = translate(&json!({"numero":"573001234567","tipo":"image",
            "url":"https://ejemplo.com/imagen.jpg","caption":"Mira esta imagen"}))
        .unwrap();
        assert_eq!(
            m["image"],
            json!({"link":"https://ejemplo.com/imagen.jpg","caption":"Mira esta imagen"})
        );
        let a = translate(
            &json!({"numero":"57300","tipo":"audio","url":"https://e.com/a.ogg",
            "caption":"x"}),
        )
        .unwrap();
        assert_eq!(a["audio"], json!({"link":"https://e.com/a.ogg"}));
        let d = translate(&json!({"numero":"573001234567","tipo":"document",
            "url":"https://ejemplo.com/doc.pdf?x=1"}))
        .unwrap();
        assert_eq!(
            d["document"],
            json!({"link":"https://ejemplo.com/doc.pdf?x=1","filename":"doc.pdf"})
        );
        let v =
            translate(&json!({"numero":"1","tipo":"VIDEO","url":"https://e.com/v.mp4"})).unwrap();
        assert_eq!(v["type"], "video");
    }

    #[test]
    fn location_takes_numbers_or_numeric_strings() {
        let m = translate(
            &json!({"numero":"573001234567","tipo":"location","latitud":4.7110,
            "longitud":-74.0086,"nombre":"Bogotá, Colombia"}),
        )
        .unwrap();
        assert_eq!(
            m["location"],
            json!({"latitude":4.711,"longitude":-74.0086,"name":"Bogotá, Colombia"})
        );
        let s = translate(&json!({"numero":"1","tipo":"location","latitud":"4.7110",
            "longitud":" -74.0086 "}))
        .unwrap();
        assert_eq!(
            s["location"],
            json!({"latitude":4.711,"longitude":-74.0086})
        );
    }

    #[test]
    fn missing_or_invalid_fields_are_named() {
        let cases = [
            (json!({"tipo":"text","mensaje":"x"}), "numero es requerido"),
            (json!({"numero":"1","mensaje":"x"}), "tipo es requerido"),
            (
                json!({"numero":"1","tipo":"text"}),
                "mensaje es requerido para tipo text",
            ),
            (
                json!({"numero":"1","tipo":"text","mensaje":"  "}),
                "mensaje es requerido",
            ),
            (
                json!({"numero":"1","tipo":"image"}),
                "url es requerido para tipo image",
            ),
            (
                json!({"numero":"1","tipo":"location","longitud":1}),
                "latitud es requerido",
            ),
            (
                json!({"numero":"1","tipo":"location","latitud":"x","longitud":1}),
                "latitud debe ser un número",
            ),
            (
                json!({"numero":"1","tipo":"sticker"}),
                "tipo \"sticker\" no es válido",
            ),
            (
                json!({"numero":true,"tipo":"text"}),
                "numero debe ser texto",
            ),
            (json!([1]), "objeto JSON"),
        ];
        for (body, want) in cases {
            let err = translate(&body).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_numbers_taken_as_text() {
        let m = translate(
            &json!({"numero":573001234567u64,"tipo":"text","mensaje":"x",
            "filename":"a.pdf","extra":{"y":1}}),
        )
        .unwrap();
        assert_eq!(m["to"], "+573001234567");
    }

    #[test]
    fn errors_map_onto_the_documented_statuses() {
        let cases = [
            (ApiError::MissingApiKey, 401, BAD_KEY.to_string()),
            (ApiError::InvalidApiKey, 401, BAD_KEY.to_string()),
            (
                ApiError::Validation(vec![Problem::new("channel", "channel_disabled", "off")]),
                400,
                NOT_CONNECTED.to_string(),
            ),
            (
                ApiError::Validation(vec![Problem::new("to", "invalid_phone", "too short")]),
                400,
                "Parámetros incorrectos: to: too short".to_string(),
            ),
            (ApiError::Internal("db".into()), 500, INTERNAL.to_string()),
            (
                ApiError::Limited(crate::limits::LimitError::new(
                    crate::limits::LimitKind::DailyQuota,
                    5,
                    0,
                    10,
                    10,
                )),
                429,
                DAILY_LIMIT.to_string(),
            ),
        ];
        let limited = |kind| ApiError::Limited(crate::limits::LimitError::new(kind, 5, 0, 10, 7));
        use crate::limits::LimitKind;
        for (kind, text) in [
            (LimitKind::Rate, RATE_LIMIT),
            (LimitKind::Concurrency, CONCURRENCY_LIMIT),
            (LimitKind::MessagingLimit, MESSAGING_LIMIT),
        ] {
            let a = from_api_error(&limited(kind));
            assert_eq!(a.status, 429);
            assert!(a.message.starts_with(text), "{kind:?}: {}", a.message);
            assert!(!a.message.contains(DAILY_LIMIT), "{kind:?}");
            assert_eq!(a.retry_after_secs, Some(7), "{kind:?}");
        }
        for (e, status, message) in cases {
            let a = from_api_error(&e);
            assert_eq!((a.status.as_u16(), a.message.clone()), (status, message));
            assert_eq!(a.body()["success"], false);
        }
        assert_eq!(
            Answer::sent().body(),
            json!({"success": true, "message": SENT})
        );
    }
}
