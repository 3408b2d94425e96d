//! The router: pages, JSON API and operations endpoints, with the middleware every response passes through.

pub mod api;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod render;

pub use openapi::openapi_document;

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

    let limits = openapi::Limits {
        attempts: rate_limit::per_minute(settings.auth.attempts_per_minute, &[Method::POST]),
        writes: rate_limit::per_minute(
            settings.auth.api_writes_per_minute,
            &[Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
        ),
    };
    let mut pages = Router::new()
        .route("/", get(pages::catalogue::home))
        .route(
            "/sign-up",
            get(pages::accounts::sign_up_form)
                .post(pages::accounts::sign_up)
                .layer(rate_limit::layer(&limits.attempts, "sign-up attempts")),
        )
        .route(
            "/sign-in",
            get(pages::accounts::sign_in_form)
                .post(pages::accounts::sign_in)
                .layer(rate_limit::layer(&limits.attempts, "sign-in attempts")),
        )
        .route("/sign-out", post(pages::accounts::sign_out))
        .route("/account", get(pages::accounts::account))
        .route("/sign-in/oidc/{provider}", get(pages::identity::start))
        .route(
            "/sign-in/oidc/{provider}/callback",
            get(pages::identity::callback),
        )
        .route(
            "/account/link",
            get(pages::identity::link_page).post(pages::identity::link),
        )
        .route("/account/sessions", get(pages::identity::sessions))
        .route(
            "/account/sessions/{id}/end",
            post(pages::identity::end_session),
        )
        .route("/verify-email", get(pages::accounts::verify_email))
        .route(
            "/sign-in/two-factor",
            post(pages::accounts::two_factor_sign_in)
                .layer(rate_limit::layer(&limits.attempts, "sign-in attempts")),
        )
        .route(
            "/account/two-factor",
            get(pages::two_factor::two_factor_settings).post(pages::two_factor::change_two_factor),
        )
        .route(
            "/forgot-password",
            get(pages::accounts::forgot_password_form)
                .post(pages::accounts::forgot_password)
                .layer(rate_limit::layer(
                    &limits.attempts,
                    "password reset requests",
                )),
        )
        .route(
            "/reset-password",
            get(pages::accounts::reset_password_form)
                .post(pages::accounts::reset_password)
                .layer(rate_limit::layer(&limits.attempts, "password resets")),
        )
        .route(
            "/account/sign-out-everywhere",
            post(pages::accounts::sign_out_everywhere),
        )
        .route(
            "/account/verify-email",
            post(pages::accounts::resend_verification)
                .layer(rate_limit::layer(&limits.attempts, "requests for a link")),
        )
        .route(
            "/account/profile",
            get(pages::profile::profile_form).post(pages::profile::rename),
        )
        .route("/account/data/export", post(pages::data::request_export))
        .route(
            "/account/data/exports/{id}",
            get(pages::data::download_export),
        )
        .route(
            "/account/delete",
            post(pages::erasure::request_erasure)
                .layer(rate_limit::layer(&limits.attempts, "account deletions"))
                .get(pages::erasure::erasure_page),
        )
        .route(
            "/account/delete/cancel",
            post(pages::erasure::cancel_erasure),
        )
        .route(
            "/account/delete/keep",
            get(pages::erasure::keep_page).post(pages::erasure::keep_account),
        )
        .route(
            "/account/email",
            post(pages::profile::change_email)
                .layer(rate_limit::layer(&limits.attempts, "address changes")),
        )
        .route(
            "/account/email/confirm",
            get(pages::profile::confirm_email_change),
        )
        .route(
            "/account/password",
            post(pages::profile::change_password)
                .layer(rate_limit::layer(&limits.attempts, "password changes")),
        )
        .route(
            "/account/become-artist",
            post(pages::profile::become_artist),
        )
        .route(
            "/account/notifications",
            get(pages::profile::notifications).post(pages::profile::save_notifications),
        )
        .route("/artists/{slug}/notify", post(pages::profile::watch_books))
        .route("/admin", get(pages::accounts::admin))
        .route("/admin/audit", get(pages::audit::audit_log))
        .route("/admin/insights", get(pages::insights::insights_page))
        .route("/search", get(pages::catalogue::search))
        .route("/terms", get(pages::legal::terms))
        .route("/privacy", get(pages::legal::privacy))
        .route("/cookies", get(pages::legal::cookies))
        .route("/privacy/retention", get(pages::legal::retention))
        .route(
            "/privacy/do-not-sell",
            get(pages::legal::do_not_sell).post(pages::legal::set_do_not_sell),
        )
        .route(
            "/legal/updated",
            get(pages::legal::updated_terms).post(pages::legal::accept_terms),
        )
        .route("/.well-known/gpc.json", get(pages::legal::gpc_declaration))
        .route(
            "/unsubscribe",
            get(pages::legal::unsubscribe_page).post(pages::legal::unsubscribe),
        )
        .route("/artists/{slug}", get(pages::catalogue::artist))
        .route("/studios/{slug}", get(pages::catalogue::studio))
        .route(
            "/artists/{slug}/book",
            get(pages::bookings::request_form)
                .post(pages::bookings::send_request)
                .layer(DefaultBodyLimit::max(openapi::upload_body_limit(
                    settings.media.max_upload_bytes,
                ))),
        )
        .route("/dashboard", get(pages::bookings::dashboard))
        .route(
            "/dashboard/profile",
            get(pages::settings::settings_form).post(pages::settings::save_settings),
        )
        .route(
            "/dashboard/portfolio",
            get(pages::portfolio::portfolio)
                .post(pages::portfolio::upload)
                .layer(DefaultBodyLimit::max(
                    settings.media.max_upload_bytes + 64 * 1024,
                )),
        )
        .route(
            "/dashboard/portfolio/{id}/delete",
            post(pages::portfolio::delete),
        )
        .route(
            "/dashboard/flash",
            get(pages::portfolio::flash)
                .post(pages::portfolio::upload_flash)
                .layer(DefaultBodyLimit::max(
                    settings.media.max_upload_bytes + 64 * 1024,
                )),
        )
        .route(
            "/dashboard/flash/{id}/delete",
            post(pages::portfolio::delete_flash),
        )
        .route(
            "/dashboard/guest-spots",
            post(pages::portfolio::add_guest_spot),
        )
        .route(
            "/dashboard/guest-spots/{id}/delete",
            post(pages::portfolio::delete_guest_spot),
        )
        .route(
            "/bookings/{id}/healed-photo",
            post(pages::portfolio::healed_photo).layer(DefaultBodyLimit::max(
                settings.media.max_upload_bytes + 64 * 1024,
            )),
        )
        .route("/bookings/{id}", get(pages::bookings::booking))
        // Ahead of the public `/media` files: reference images are for the request's parties.
        .route(
            "/media/references/{owner}/{file}",
            get(pages::bookings::reference_image),
        )
        .route("/bookings/{id}/schedule", post(pages::bookings::schedule))
        .route(
            "/bookings/{id}/sessions/{appointment}/consent.pdf",
            get(pages::bookings::consent_pdf),
        )
        .route(
            "/bookings/{id}/sessions/{appointment}/invite.ics",
            get(pages::bookings::session_invite),
        )
        .route("/calendar/{file}", get(pages::bookings::calendar_feed))
        .route("/bookings/{id}/propose", post(pages::bookings::propose))
        .route(
            "/bookings/{id}/proposals/{proposal}/confirm",
            post(pages::bookings::confirm_proposal),
        )
        .route(
            "/dashboard/calendar/renew",
            post(pages::bookings::renew_calendar),
        )
        .route(
            "/bookings/{id}/messages",
            post(pages::bookings::post_message),
        )
        .route("/bookings/{id}/review", post(pages::bookings::review))
        .route("/bookings/{id}/deposit", get(pages::payments::deposit_page))
        .route(
            "/bookings/{id}/deposit/confirm",
            post(pages::payments::confirm_deposit),
        )
        .route(
            "/bookings/{id}/deposit/refund",
            post(pages::payments::refund_deposit),
        )
        .route("/dashboard/payouts", get(pages::payments::payouts))
        .route(
            "/dashboard/payouts/connect",
            post(pages::payments::connect_payouts),
        )
        .route("/webhooks/stripe", post(pages::payments::stripe_webhook))
        .route(
            "/bookings/{id}/do/{action}",
            post(pages::bookings::booking_action),
        )
        .route(
            "/appointments/{id}/{action}",
            post(pages::bookings::appointment_action),
        );
    if settings.auth.simplified_sign_in {
        pages = pages.route("/dev/sign-in", post(pages::accounts::dev_sign_in));
    }

    let (documented, mut doc) = openapi::documented_routes(
        openapi::upload_body_limit(settings.media.max_upload_bytes),
        Some(&limits),
    )
    .split_for_parts();
    openapi::finish(&mut doc);
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
        .fallback(ops::not_found)
        .layer(sessions)
        .layer(DefaultBodyLimit::max(settings.server.body_limit_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            render::render,
        ))
        .layer(CatchPanicLayer::custom(render::panic_response))
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
