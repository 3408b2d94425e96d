//! The documented API: its routes, and the OpenAPI document's frame (info, security, tags) around
//! the paths and schemas that come from the handlers.

use crate::rate_limit;
use crate::routes::api::{accounts, bookings, catalogue, data_rights};
use crate::routes::ops;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::post;
use utoipa::OpenApi as _;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Deprecated, OpenApi, Ref, RefOr};
use utoipa::{Modify, PartialSchema, ToResponse, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the current sign-in operations live, and the older alias kept for existing clients.
pub const SESSION_PATH: &str = "/api/v1/auth/session";
pub const LEGACY_SESSION_PATH: &str = "/api/v1/session";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Tattoo Marketplace API",
        description = "Find tattoo artists, look at their healed work and book sessions. Errors are \
            application/problem+json (RFC 9457). Signed-in calls carry the `tm_session` cookie that \
            `POST /api/v1/accounts` and `POST /api/v1/auth/session` set. Writes from browsers must be \
            same-origin. A request or session that is not yours answers 404, so ids cannot be probed.",
        license(name = "MIT")
    ),
    servers((url = "/")),
    tags(
        (name = "accounts", description = "Sign-up, sign-in and the signed-in account"),
        (name = "discovery", description = "Styles, artist search and profiles"),
        (name = "bookings", description = "Booking requests, their transitions and sessions"),
        (name = "messages", description = "One thread per booking request"),
        (name = "reviews", description = "Reviews of completed requests"),
        (name = "operations", description = "Health, metrics and version"),
    ),
    modifiers(&SessionCookie)
)]
pub struct ApiDoc;

/// Declares the session cookie and the operator token that operations name in `security(..)`.
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "tm_session",
                "The signed session cookie (HttpOnly, SameSite=Lax).",
            ))),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(utoipa::openapi::security::HttpAuthScheme::Bearer)
                    .description(Some(
                        "server.operator_token, for /metrics and the full /version.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Completes the document once every route is registered: the legacy sign-in alias, the 403
/// every write can get from the same-origin guard that wraps the whole API, and the 429 (with
/// `Retry-After`) from the per-client-IP write limit, sign-in throttling and the bounded
/// password hashing and image decoding.
pub fn finish(openapi: &mut OpenApi) {
    if let Some(item) = openapi.paths.paths.get(SESSION_PATH).cloned() {
        let mut legacy = item;
        for op in operations_mut(&mut legacy) {
            op.deprecated = Some(Deprecated::True);
            op.operation_id = op.operation_id.as_ref().map(|id| format!("{id}Legacy"));
            op.description = Some(format!("Deprecated alias of {SESSION_PATH}."));
        }
        openapi
            .paths
            .paths
            .insert(LEGACY_SESSION_PATH.to_owned(), legacy);
    }
    let (name, response) = crate::error::Problem::response();
    let problem = RefOr::Ref(Ref::from_response_name(name));
    for (path, item) in openapi.paths.paths.iter_mut() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let writes = [
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ];
        for op in writes.into_iter().flatten() {
            for status in ["403", "429"] {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem.clone());
            }
        }
    }
    let components = openapi.components.get_or_insert_with(Default::default);
    components.responses.insert(name.to_owned(), response);
    // `response = Problem` refers to the response, which refers to these schemas; routes! only
    // collects the schemas of bodies.
    let mut schemas = vec![(
        crate::error::Problem::name().into_owned(),
        crate::error::Problem::schema(),
    )];
    <crate::error::Problem as ToSchema>::schemas(&mut schemas);
    components.schemas.extend(schemas);
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.patch.as_mut(),
        item.delete.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The JSON API and the operations endpoints. `routes!` registers each handler at the path its
/// `#[utoipa::path]` names and adds that description to the document, so the two cannot drift.
/// The body limit of a route taking up to four images, plus room for the form's other fields.
pub fn upload_body_limit(max_upload_bytes: usize) -> usize {
    4 * max_upload_bytes + 64 * 1024
}

/// The per-client-IP limits the router enforces.
pub struct Limits {
    pub attempts: rate_limit::Limit,
    pub writes: rate_limit::Limit,
}

/// `limits` is `None` only when the document alone is wanted (`marketplace openapi`).
pub fn documented_routes(upload_limit: usize, limits: Option<&Limits>) -> OpenApiRouter<AppState> {
    // Only this route takes images; everywhere else the small global limit holds.
    let uploads = OpenApiRouter::new()
        .routes(routes!(bookings::list_requests, bookings::create_request))
        .layer(DefaultBodyLimit::max(upload_limit));
    let mut attempts = OpenApiRouter::new()
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::sign_in, accounts::sign_out))
        // The first sign-in address; `openapi::finish` documents it as a deprecated alias.
        .route(
            "/session",
            post(accounts::sign_in).delete(accounts::sign_out),
        );
    if let Some(limits) = limits {
        attempts = attempts.layer(rate_limit::layer(&limits.attempts, "sign-in attempts"));
    }
    let mut api = OpenApiRouter::new()
        .merge(attempts)
        .routes(routes!(accounts::me))
        .routes(routes!(
            data_rights::request_export,
            data_rights::list_exports
        ))
        .routes(routes!(data_rights::download_export))
        .routes(routes!(
            data_rights::request_erasure,
            data_rights::get_erasure,
            data_rights::cancel_erasure
        ))
        .routes(routes!(accounts::admin_overview))
        .routes(routes!(catalogue::styles))
        .routes(routes!(catalogue::artists))
        .routes(routes!(catalogue::artist))
        .merge(uploads)
        .routes(routes!(bookings::get_request))
        .routes(routes!(bookings::schedule))
        .routes(routes!(bookings::messages, bookings::post_message))
        .routes(routes!(bookings::request_action))
        .routes(routes!(bookings::appointment_action))
        .routes(routes!(bookings::create_review))
        .fallback(ops::not_found);
    if let Some(limits) = limits {
        api = api.layer(rate_limit::layer(&limits.writes, "changes"));
    }
    let api = api.layer(middleware::from_fn(crate::auth::csrf::api_guard));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api)
        .routes(routes!(ops::live))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::version))
}

/// The OpenAPI document of this build, as `/api/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = documented_routes(0, None).into_openapi();
    finish(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        serde_json::to_value(super::openapi_document()).expect("serialises")
    }

    /// Every `$ref` in `value`, wherever it is.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_describes_every_operation_of_the_api() {
        let doc = document();
        let promised = [
            ("post", "/api/v1/accounts"),
            ("post", "/api/v1/auth/session"),
            ("delete", "/api/v1/auth/session"),
            ("post", "/api/v1/session"),
            ("delete", "/api/v1/session"),
            ("get", "/api/v1/me"),
            ("post", "/api/v1/me/data-exports"),
            ("get", "/api/v1/me/data-exports"),
            ("get", "/api/v1/me/data-exports/{id}"),
            ("post", "/api/v1/me/erasure"),
            ("get", "/api/v1/me/erasure"),
            ("delete", "/api/v1/me/erasure"),
            ("get", "/api/v1/admin/overview"),
            ("get", "/api/v1/styles"),
            ("get", "/api/v1/artists"),
            ("get", "/api/v1/artists/{id}"),
            ("get", "/api/v1/booking-requests"),
            ("post", "/api/v1/booking-requests"),
            ("get", "/api/v1/booking-requests/{id}"),
            ("post", "/api/v1/booking-requests/{id}/{action}"),
            ("post", "/api/v1/booking-requests/{id}/appointments"),
            ("get", "/api/v1/booking-requests/{id}/messages"),
            ("post", "/api/v1/booking-requests/{id}/messages"),
            ("post", "/api/v1/appointments/{id}/{action}"),
            ("post", "/api/v1/reviews"),
            ("get", "/health/live"),
            ("get", "/health/ready"),
            ("get", "/metrics"),
            ("get", "/version"),
        ];
        let mut ids = std::collections::BTreeSet::new();
        for (method, path) in promised {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} is not documented");
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} documents no success"
            );
        }
        let documented: usize = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|item| item.as_object().map_or(0, |m| m.len()))
            .sum();
        assert_eq!(
            documented,
            promised.len(),
            "an operation is not in the list above"
        );
    }

    #[test]
    fn every_reference_resolves_and_every_api_error_is_problem_json() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(
            found.len() > 50,
            "only {} references: is the walk broken?",
            found.len()
        );
        for r in found {
            let pointer = r.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        for (path, item) in doc["paths"].as_object().expect("paths") {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            for (method, op) in item.as_object().expect("a path item") {
                for (status, response) in op["responses"].as_object().expect("responses") {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert_eq!(
                            response["$ref"], "#/components/responses/Problem",
                            "{method} {path} {status}"
                        );
                    }
                }
                if method != "get" {
                    assert!(
                        op["responses"]["403"].is_object(),
                        "{method} {path}: the same-origin guard's 403 is missing"
                    );
                }
            }
        }
        let problem = &doc["components"]["responses"]["Problem"]["content"];
        assert!(problem["application/problem+json"]["schema"].is_object());
    }

    #[test]
    fn actions_in_paths_are_the_domain_actions_people_may_take() {
        let doc = document();
        let params = &doc["paths"]["/api/v1/booking-requests/{id}/{action}"]["post"]["parameters"];
        let action = params
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == "action")
            .expect("the action parameter");
        let names: Vec<&str> = action["schema"]["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(names.len(), 9);
        for name in ["deposit-paid", "revise-quote", "withdraw-quote"] {
            assert!(names.contains(&name), "{name}");
        }
        assert!(
            !names.contains(&"expire"),
            "expiry is the deadline job's alone"
        );
    }
}
