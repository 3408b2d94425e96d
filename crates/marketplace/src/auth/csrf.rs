//! CSRF protection: a synchronizer token for HTML forms, and an Origin / Sec-Fetch-Site check for the JSON API.

use crate::error::AppError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde::de::DeserializeOwned;
use tower_sessions::Session;

const KEY: &str = "csrf_token";
/// The hidden form field every state-changing form carries.
pub const FIELD: &str = "csrf_token";

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session's token, created on first use. Only pages with forms call this, so anonymous
/// visitors to other pages never get a session row.
pub async fn token(session: &Session) -> Result<String, AppError> {
    if let Some(t) = session.get::<String>(KEY).await? {
        return Ok(t);
    }
    let t = new_token();
    session.insert(KEY, &t).await?;
    Ok(t)
}

/// Replaces the token, at sign-in, so one captured before sign-in is worthless after.
pub async fn rotate(session: &Session) -> Result<String, AppError> {
    let t = new_token();
    session.insert(KEY, &t).await?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::decodes_as_utf8;
    use proptest::prelude::*;

    #[test]
    fn forms_with_invalid_utf8_are_detected_raw_or_percent_encoded() {
        assert!(decodes_as_utf8(b"name=Chlo%C3%A9+M&x=1"));
        assert!(!decodes_as_utf8(b"name=%FF"));
        let mut raw = b"name=".to_vec();
        raw.push(0xff);
        assert!(!decodes_as_utf8(&raw));
        assert!(!decodes_as_utf8(b"email=%C3%28"));
    }

    proptest! {
        #[test]
        fn any_valid_text_form_encoded_is_accepted(pairs in proptest::collection::vec(("\\PC{0,20}", "\\PC{0,40}"), 0..5)) {
            let body = serde_urlencoded::to_string(&pairs).unwrap();
            prop_assert!(decodes_as_utf8(body.as_bytes()));
        }
    }
}

#[derive(serde::Deserialize)]
struct TokenField {
    #[serde(default)]
    csrf_token: String,
}

/// A URL-encoded form whose CSRF token matched the session's. Handlers that take it cannot be
/// reached by a forged cross-site form.
pub struct CsrfForm<T> {
    pub form: T,
    pub session: Session,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, AppError> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(AppError::UnsupportedMediaType(
                "Forms must be sent as application/x-www-form-urlencoded.".into(),
            ));
        }
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(|(_, m)| AppError::Internal(anyhow::anyhow!("session layer missing: {m}")))?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|r| match r.status().as_u16() {
                413 => AppError::PayloadTooLarge,
                _ => AppError::BadRequest(format!("The form could not be read: {}", r.body_text())),
            })?;
        let sent = serde_urlencoded::from_bytes::<TokenField>(&bytes)
            .map(|f| f.csrf_token)
            .unwrap_or_default();
        let expected = session.get::<String>(KEY).await?;
        let valid = matches!(&expected, Some(e) if !sent.is_empty()
            && constant_time_eq::constant_time_eq(e.as_bytes(), sent.as_bytes()));
        if !valid {
            return Err(AppError::Forbidden(
                "This form has expired or did not come from this site. Reload the page and try again."
                    .into(),
            ));
        }
        if !decodes_as_utf8(&bytes) {
            return Err(AppError::BadRequest(
                "The form contains text that is not valid UTF-8.".into(),
            ));
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes)
            .map_err(|e| AppError::BadRequest(format!("The form could not be read: {e}")))?;
        Ok(Self { form, session })
    }
}

/// serde_urlencoded replaces invalid UTF-8 with U+FFFD; we refuse it instead, so garbled text
/// is never stored as if the user had typed it.
fn decodes_as_utf8(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').all(|pair| {
        let plus_as_space: Vec<u8> = pair
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        percent_encoding::percent_decode(&plus_as_space)
            .decode_utf8()
            .is_ok()
    })
}

/// Refuses cross-site state changes on the JSON API. Browsers send `Sec-Fetch-Site` and `Origin`
/// on every cross-origin write, so requests that carry neither come from non-browser clients,
/// which cannot be driven by another site and are allowed.
pub async fn api_guard(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && let Err(reason) = check_same_origin(&request) {
        return AppError::Forbidden(reason.into()).into_response();
    }
    next.run(request).await
}

fn check_same_origin(request: &Request) -> Result<(), &'static str> {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err("Cross-site requests may not change data."),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or("The request has an Origin but no Host.")?;
    let origin = origin
        .to_str()
        .map_err(|_| "The Origin header is malformed.")?;
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or("The Origin header is malformed.")?;
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err("Cross-site requests may not change data.")
    }
}

/// A multipart form (an upload): its text fields and up to four files, read whole within the
/// route's body limit. The JSON API takes it as it is (the same-origin guard protects it); pages
/// take it through [`CsrfMultipart`].
pub struct Upload {
    pub fields: std::collections::HashMap<String, String>,
    /// Uploaded files, in order; file inputs left empty are skipped.
    pub files: Vec<Bytes>,
}

/// A multipart form whose CSRF token matched the session's.
pub struct CsrfMultipart {
    pub fields: std::collections::HashMap<String, String>,
    /// Uploaded files, in order; file inputs left empty are skipped.
    pub files: Vec<Bytes>,
    pub session: Session,
}

/// More files than any form takes.
pub const MAX_FILES: usize = 4;

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let mut multipart = axum::extract::Multipart::from_request(request, state)
            .await
            .map_err(|_| {
                AppError::UnsupportedMediaType(
                    "Uploads must be sent as multipart/form-data.".into(),
                )
            })?;
        let too_large_or_bad = |e: axum::extract::multipart::MultipartError| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest(format!("The upload could not be read: {}", e.body_text()))
            }
        };
        let mut fields = std::collections::HashMap::new();
        let mut files = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(too_large_or_bad)? {
            let name = field.name().unwrap_or("").to_owned();
            if field.file_name().is_some() {
                let bytes = field.bytes().await.map_err(too_large_or_bad)?;
                if bytes.is_empty() {
                    continue;
                }
                if files.len() == MAX_FILES {
                    return Err(AppError::BadRequest(format!(
                        "Send at most {MAX_FILES} images at a time."
                    )));
                }
                files.push(bytes);
            } else {
                let bytes = field.bytes().await.map_err(too_large_or_bad)?;
                if bytes.len() > 16 * 1024 {
                    return Err(AppError::BadRequest(format!(
                        "The field {name:?} is too long."
                    )));
                }
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    AppError::BadRequest("The form contains text that is not valid UTF-8.".into())
                })?;
                fields.insert(name, text);
            }
        }
        Ok(Self { fields, files })
    }
}

impl FromRequest<AppState> for CsrfMultipart {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, AppError> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(|(_, m)| AppError::Internal(anyhow::anyhow!("session layer missing: {m}")))?;
        let Upload { fields, files } =
            Upload::from_request(Request::from_parts(parts, body), state).await?;
        let sent = fields.get(FIELD).cloned().unwrap_or_default();
        let expected = session.get::<String>(KEY).await?;
        let valid = matches!(&expected, Some(e) if !sent.is_empty()
            && constant_time_eq::constant_time_eq(e.as_bytes(), sent.as_bytes()));
        if !valid {
            return Err(AppError::Forbidden(
                "This form has expired or did not come from this site. Reload the page and try again."
                    .into(),
            ));
        }
        Ok(Self {
            fields,
            files,
            session,
        })
    }
}
