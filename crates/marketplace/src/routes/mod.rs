//! The router: pages, JSON API and operations endpoints, with the middleware every response passes through.

pub mod api;
pub mod bookings_api;
pub mod bookings_pages;
pub mod ops;
pub mod pages;
pub mod portfolio_pages;

use crate::rate_limit;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::sync::Arc;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// No inline script or style anywhere, so the policy can stay this strict.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

pub fn router(state: AppState, session_key: Key) -> Router {
    let settings = &state.settings;
    let sessions = SessionManagerLayer::new(state.store.session_store())
        .with_name("tm_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.session.secure_cookie)
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(
            settings.session.idle_timeout_minutes,
        )))
        .with_signed(session_key);

    let limits = Limits {
        attempts: rate_limit::per_minute(settings.auth.attempts_per_minute, &[Method::POST]),
        writes: rate_limit::per_minute(
            settings.auth.api_writes_per_minute,
            &[Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
        ),
    };
    let mut pages = Router::new()
        .route("/", get(pages::home))
        .route(
            "/sign-up",
            get(pages::sign_up_form)
                .post(pages::sign_up)
                .layer(rate_limit::layer(&limits.attempts, "sign-up attempts")),
        )
        .route(
            "/sign-in",
            get(pages::sign_in_form)
                .post(pages::sign_in)
                .layer(rate_limit::layer(&limits.attempts, "sign-in attempts")),
        )
        .route("/sign-out", post(pages::sign_out))
        .route("/account", get(pages::account))
        .route("/verify-email", get(pages::verify_email))
        .route(
            "/sign-in/two-factor",
            post(pages::two_factor_sign_in)
                .layer(rate_limit::layer(&limits.attempts, "sign-in attempts")),
        )
        .route(
            "/account/two-factor",
            get(pages::two_factor_settings).post(pages::change_two_factor),
        )
        .route(
            "/forgot-password",
            get(pages::forgot_password_form)
                .post(pages::forgot_password)
                .layer(rate_limit::layer(
                    &limits.attempts,
                    "password reset requests",
                )),
        )
        .route(
            "/reset-password",
            get(pages::reset_password_form)
                .post(pages::reset_password)
                .layer(rate_limit::layer(&limits.attempts, "password resets")),
        )
        .route(
            "/account/sign-out-everywhere",
            post(pages::sign_out_everywhere),
        )
        .route(
            "/account/verify-email",
            post(pages::resend_verification)
                .layer(rate_limit::layer(&limits.attempts, "requests for a link")),
        )
        .route("/admin", get(pages::admin))
        .route("/search", get(bookings_pages::search))
        .route("/artists/{slug}", get(bookings_pages::artist))
        .route("/studios/{slug}", get(bookings_pages::studio))
        .route(
            "/artists/{slug}/book",
            get(bookings_pages::request_form)
                .post(bookings_pages::send_request)
                .layer(DefaultBodyLimit::max(upload_body_limit(
                    settings.media.max_upload_bytes,
                ))),
        )
        .route("/dashboard", get(bookings_pages::dashboard))
        .route(
            "/dashboard/profile",
            get(bookings_pages::settings_form).post(bookings_pages::save_settings),
        )
        .route(
            "/dashboard/portfolio",
            get(portfolio_pages::portfolio)
                .post(portfolio_pages::upload)
                .layer(DefaultBodyLimit::max(
                    settings.media.max_upload_bytes + 64 * 1024,
                )),
        )
        .route(
            "/dashboard/portfolio/{id}/delete",
            post(portfolio_pages::delete),
        )
        .route(
            "/dashboard/flash",
            get(portfolio_pages::flash)
                .post(portfolio_pages::upload_flash)
                .layer(DefaultBodyLimit::max(
                    settings.media.max_upload_bytes + 64 * 1024,
                )),
        )
        .route(
            "/dashboard/flash/{id}/delete",
            post(portfolio_pages::delete_flash),
        )
        .route(
            "/dashboard/guest-spots",
            post(portfolio_pages::add_guest_spot),
        )
        .route(
            "/dashboard/guest-spots/{id}/delete",
            post(portfolio_pages::delete_guest_spot),
        )
        .route(
            "/bookings/{id}/healed-photo",
            post(portfolio_pages::healed_photo).layer(DefaultBodyLimit::max(
                settings.media.max_upload_bytes + 64 * 1024,
            )),
        )
        .route("/bookings/{id}", get(bookings_pages::booking))
        // Ahead of the public `/media` files: reference images are for the request's parties.
        .route(
            "/media/references/{owner}/{file}",
            get(bookings_pages::reference_image),
        )
        .route("/bookings/{id}/schedule", post(bookings_pages::schedule))
        .route(
            "/bookings/{id}/messages",
            post(bookings_pages::post_message),
        )
        .route("/bookings/{id}/review", post(bookings_pages::review))
        .route(
            "/bookings/{id}/do/{action}",
            post(bookings_pages::booking_action),
        )
        .route(
            "/appointments/{id}/{action}",
            post(bookings_pages::appointment_action),
        );
    if settings.auth.simplified_sign_in {
        pages = pages.route("/dev/sign-in", post(pages::dev_sign_in));
    }

    let (documented, mut doc) = documented_routes(
        upload_body_limit(settings.media.max_upload_bytes),
        Some(&limits),
    )
    .split_for_parts();
    crate::openapi::finish(&mut doc);
    let doc: Arc<str> = doc
        .to_json()
        .expect("the OpenAPI document serialises")
        .into();
    let openapi = get(move || {
        let doc = doc.clone();
        async move {
            (
                [(header::CONTENT_TYPE, "application/json")],
                doc.to_string(),
            )
        }
    });
    // Served at both addresses: clients look under /api, the versioned API under /api/v1.
    let ops = Router::new()
        .route("/api/openapi.json", openapi.clone())
        .route("/api/v1/openapi.json", openapi)
        .route("/static/{file}", get(ops::static_asset));

    // The public media files: only the allow-listed folders, whatever the path's spelling.
    let files = ServeDir::new(&settings.media.dir);
    let media = tower::service_fn(move |request: axum::extract::Request| {
        let files = files.clone();
        async move {
            if !crate::media::is_public_path(request.uri().path()) {
                return Ok::<_, std::convert::Infallible>(
                    crate::error::AppError::NotFound.into_response(),
                );
            }
            let response = files.oneshot(request).await?;
            Ok(response.map(axum::body::Body::new))
        }
    });

    let mut app = Router::new()
        .merge(pages)
        .merge(documented)
        .merge(ops)
        .nest_service(
            "/media",
            ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=86400"),
                ))
                .service(media),
        )
        .fallback(not_found)
        .layer(sessions)
        .layer(DefaultBodyLimit::max(settings.server.body_limit_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::error::render,
        ))
        .layer(CatchPanicLayer::custom(crate::error::panic_response))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::observe,
        ));
    for (name, value) in security_headers(settings.env.is_strict()) {
        app = app.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    let request_id = HeaderName::from_static("x-request-id");
    app.layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// 404 for addresses that match no route; 400 for those with no canonical spelling.
pub async fn not_found(
    rejected: Option<axum::Extension<crate::canonical::RejectedPath>>,
) -> crate::error::AppError {
    match rejected {
        Some(axum::Extension(crate::canonical::RejectedPath(why))) => {
            crate::error::AppError::BadRequest(why.to_string())
        }
        None => crate::error::AppError::NotFound,
    }
}

/// The JSON API and the operations endpoints. `routes!` registers each handler at the path its
/// `#[utoipa::path]` names and adds that description to the document, so the two cannot drift.
/// The body limit of a route taking up to four images, plus room for the form's other fields.
fn upload_body_limit(max_upload_bytes: usize) -> usize {
    4 * max_upload_bytes + 64 * 1024
}

/// The per-client-IP limits the router enforces.
struct Limits {
    attempts: rate_limit::Limit,
    writes: rate_limit::Limit,
}

/// `limits` is `None` only when the document alone is wanted (`marketplace openapi`).
fn documented_routes(upload_limit: usize, limits: Option<&Limits>) -> OpenApiRouter<AppState> {
    // Only this route takes images; everywhere else the small global limit holds.
    let uploads = OpenApiRouter::new()
        .routes(routes!(
            bookings_api::list_requests,
            bookings_api::create_request
        ))
        .layer(DefaultBodyLimit::max(upload_limit));
    let mut attempts = OpenApiRouter::new()
        .routes(routes!(api::register))
        .routes(routes!(api::sign_in, api::sign_out))
        // The first sign-in address; `openapi::finish` documents it as a deprecated alias.
        .route("/session", post(api::sign_in).delete(api::sign_out));
    if let Some(limits) = limits {
        attempts = attempts.layer(rate_limit::layer(&limits.attempts, "sign-in attempts"));
    }
    let mut api = OpenApiRouter::new()
        .merge(attempts)
        .routes(routes!(api::me))
        .routes(routes!(api::admin_overview))
        .routes(routes!(bookings_api::styles))
        .routes(routes!(bookings_api::artists))
        .routes(routes!(bookings_api::artist))
        .merge(uploads)
        .routes(routes!(bookings_api::get_request))
        .routes(routes!(bookings_api::schedule))
        .routes(routes!(bookings_api::messages, bookings_api::post_message))
        .routes(routes!(bookings_api::request_action))
        .routes(routes!(bookings_api::appointment_action))
        .routes(routes!(bookings_api::create_review))
        .fallback(not_found);
    if let Some(limits) = limits {
        api = api.layer(rate_limit::layer(&limits.writes, "changes"));
    }
    let api = api.layer(middleware::from_fn(crate::auth::csrf::api_guard));
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .nest("/api/v1", api)
        .routes(routes!(ops::live))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::version))
}

/// The OpenAPI document of this build, as `/api/openapi.json` serves it.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = documented_routes(0, None).into_openapi();
    crate::openapi::finish(&mut doc);
    doc
}

/// The headers every response carries. HSTS only outside development, where there is no TLS.
pub fn security_headers(strict: bool) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(
                "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
            ),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    if strict {
        headers.push((
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ));
    }
    headers
}
