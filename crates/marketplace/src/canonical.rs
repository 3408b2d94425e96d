//! One spelling per path: request paths are canonicalised once, before routing, so that every
//! routing and access decision sees the same path the file system or object store will.
//!
//! `//`, `/./`, `/../`, a trailing `/` and needless percent-escapes (`%72eferences`) all collapse
//! to one form. A segment that decodes to a separator, a control character or invalid UTF-8 has no
//! canonical form; such a request is routed to a fallback that answers 400.

use axum::extract::Request;
use axum::http::Uri;
use axum::http::uri::PathAndQuery;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use std::borrow::Cow;
use std::convert::Infallible;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Everything RFC 3986 does not allow raw in a path segment, plus `%` itself.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Why a path has no canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPath {
    #[error("The address contains an encoded slash or backslash.")]
    EncodedSeparator,
    #[error("The address contains a control character.")]
    ControlCharacter,
    #[error("The address is not valid UTF-8 once decoded.")]
    NotUtf8,
}

/// Marks a request whose path had no canonical form; the fallbacks answer it with 400.
#[derive(Debug, Clone, Copy)]
pub struct RejectedPath(pub InvalidPath);

/// The decoded segments of `path`, with empty and `.` segments dropped and `..` applied (never
/// above the root).
pub fn segments(path: &str) -> Result<Vec<Cow<'_, str>>, InvalidPath> {
    let mut out: Vec<Cow<'_, str>> = Vec::new();
    for raw in path.split('/') {
        let decoded = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| InvalidPath::NotUtf8)?;
        if decoded.contains(['/', '\\']) {
            return Err(InvalidPath::EncodedSeparator);
        }
        if decoded.chars().any(char::is_control) {
            return Err(InvalidPath::ControlCharacter);
        }
        match decoded.as_ref() {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(decoded),
        }
    }
    Ok(out)
}

/// True when `path` is already canonical: the common case, checked without allocating.
fn is_canonical(path: &str) -> bool {
    let bytes = path.as_bytes();
    if path == "/" {
        return true;
    }
    if bytes.first() != Some(&b'/') || bytes.last() == Some(&b'/') {
        return false;
    }
    let plain = bytes
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b));
    plain
        && path
            .split('/')
            .skip(1)
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// The canonical spelling of `path`.
pub fn canonical(path: &str) -> Result<String, InvalidPath> {
    if is_canonical(path) {
        return Ok(path.to_owned());
    }
    respell(path)
}

fn respell(path: &str) -> Result<String, InvalidPath> {
    let segments = segments(path)?;
    if segments.is_empty() {
        return Ok("/".to_owned());
    }
    let mut out = String::with_capacity(path.len());
    for s in segments {
        out.push('/');
        out.extend(utf8_percent_encode(&s, SEGMENT));
    }
    Ok(out)
}

/// Wraps the router so that it only ever sees canonical paths.
#[derive(Clone, Copy, Default)]
pub struct CanonicalPathLayer;

impl<S> Layer<S> for CanonicalPathLayer {
    type Service = CanonicalPath<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CanonicalPath { inner }
    }
}

#[derive(Clone)]
pub struct CanonicalPath<S> {
    inner: S,
}

impl<S> Service<Request> for CanonicalPath<S>
where
    S: Service<Request, Error = Infallible>,
{
    type Response = S::Response;
    type Error = Infallible;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        if !is_canonical(request.uri().path()) {
            rewrite(&mut request);
        }
        self.inner.call(request)
    }
}

/// Puts the canonical path in the request's URI, or routes it to a fallback that answers 400.
fn rewrite(request: &mut Request) {
    let uri = request.uri().clone();
    let path = uri.path();
    let new_path = match canonical(path) {
        Ok(c) if c == path => return,
        Ok(c) => c,
        Err(why) => {
            // The API's fallback answers in problem+json, the pages' with an HTML page.
            let target = if path.starts_with("/api/") {
                "/api/v1/.invalid-path"
            } else {
                "/.invalid-path"
            };
            request.extensions_mut().insert(RejectedPath(why));
            target.to_owned()
        }
    };
    let with_query = match uri.query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    let mut parts = uri.into_parts();
    // Both halves came from a valid URI and the path is freshly encoded, so this cannot fail;
    // if it somehow did, the request keeps its original URI and the public media guard still holds.
    if let Ok(pq) = PathAndQuery::try_from(with_query) {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_spelling_of_a_path_has_one_canonical_form() {
        for (raw, want) in [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("/media/references/1/a.jpg/", "/media/references/1/a.jpg"),
            ("/media//references/1/a.jpg", "/media/references/1/a.jpg"),
            ("/media/./references/1/a.jpg", "/media/references/1/a.jpg"),
            (
                "/media/x/../references/1/a.jpg",
                "/media/references/1/a.jpg",
            ),
            ("/media/%72eferences/1/a.jpg", "/media/references/1/a.jpg"),
            ("/media/%2e/references/1/a.jpg", "/media/references/1/a.jpg"),
            (
                "/media/x/%2E%2E/references/1/a.jpg",
                "/media/references/1/a.jpg",
            ),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/what%3f", "/what%3F"),
            ("/artists/caf%c3%a9", "/artists/caf%C3%A9"),
            ("/a%20b", "/a%20b"),
            ("/a b", "/a%20b"),
        ] {
            assert_eq!(canonical(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn encoded_separators_control_characters_and_bad_utf8_have_no_canonical_form() {
        for (raw, why) in [
            (
                "/media/references%2F1%2Fa.jpg",
                InvalidPath::EncodedSeparator,
            ),
            (
                "/media/references%5c1%5ca.jpg",
                InvalidPath::EncodedSeparator,
            ),
            ("/media/%00references", InvalidPath::ControlCharacter),
            ("/a%0ab", InvalidPath::ControlCharacter),
            ("/a%ff", InvalidPath::NotUtf8),
        ] {
            assert_eq!(canonical(raw), Err(why), "{raw}");
        }
    }

    proptest! {
        #[test]
        fn the_fast_check_agrees_with_the_full_respelling(raw in "(/[a-zA-Z0-9.~:@!+%/ ]{0,6}){0,6}/?") {
            if is_canonical(&raw) {
                prop_assert_eq!(respell(&raw), Ok(raw.clone()));
            }
        }

        #[test]
        fn canonicalising_is_idempotent_and_keeps_no_dot_or_empty_segments(raw in "(/[a-z.%/2eEfF0-9]{0,6}){0,6}") {
            if let Ok(once) = canonical(&raw) {
                prop_assert_eq!(canonical(&once), Ok(once.clone()));
                prop_assert!(once.starts_with('/'));
                prop_assert!(once == "/" || !once.ends_with('/'));
                for s in once.split('/').skip(1) {
                    prop_assert!(s != "." && s != ".." && !s.is_empty() || once == "/");
                }
            }
        }
    }
}
