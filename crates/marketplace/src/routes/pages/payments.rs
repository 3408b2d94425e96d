//! Card deposits' pages: the card form, its confirmation, refunds of credited deposits, the artist's payouts, and Stripe's webhook.

use crate::auth::csrf::CsrfForm;
use crate::auth::session::Authorized;
use crate::auth::{ArtistUser, CurrentUser, MaybeUser};
use crate::error::AppError;
use crate::routes::pages::bookings::after_form;
use crate::routes::pages::{confirm, render, sign_in_redirect, signed_in_layout};
use crate::services::payments;
use crate::state::AppState;
use crate::templates::format::policy_text;
use crate::templates::payments::{PayPage, PayoutsPage};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain::BookingId;
use tower_sessions::Session;

/// The site's policy with Stripe's origins let in, for the card form alone: Stripe.js, the
/// frames it draws card fields and bank checks in, and the API it sends card details to.
fn payment_page_policy(js: &str, api: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' {js}; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self' {api}; frame-src {js} https://hooks.stripe.com; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[tracing::instrument(skip_all)]
pub async fn deposit_page(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let Some(user) = user else {
        return Ok(sign_in_redirect(&format!("/bookings/{id}/deposit")));
    };
    let checkout = payments::checkout(&state, &user, BookingId::new(id)).await?;
    let stripe = payments::stripe(&state)?;
    let r = &checkout.request;
    let artist = state.store.artist_by_id(r.artist_id).await?;
    let terms = artist.map_or_else(String::new, |a| policy_text(&a.policy, a.currency));
    let page = PayPage {
        layout: signed_in_layout(&state, &session, &user).await?,
        booking_id: id,
        artist_name: r.artist_name.clone(),
        amount: r.currency.format(checkout.amount_cents),
        deadline: r
            .deadline_at
            .map(|d| crate::clock::local_time(d, &r.time_zone)),
        terms,
        failure: checkout.failure,
        publishable_key: stripe.publishable_key().to_owned(),
        stripe_js: stripe.js_url().to_owned(),
        pay_js: state.assets.url("pay.js"),
    };
    let (js, api) = stripe.origins();
    let policy = HeaderValue::from_str(&payment_page_policy(&js, &api))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("payment page policy: {e}")))?;
    // The client secret is on the page: never cached, by the browser or anything between.
    let mut response = render(page)?.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, policy);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(serde::Deserialize)]
pub struct ConfirmInput {
    payment_method: String,
}

/// The card form's script posts the payment method Stripe.js made; the answer says whether the
/// payment went through, needs the bank's check, or was declined.
#[tracing::instrument(skip_all)]
pub async fn confirm_deposit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    CsrfForm { form, session }: CsrfForm<ConfirmInput>,
) -> Result<Json<payments::Confirmation>, AppError> {
    let outcome =
        payments::confirm(&state, &user, BookingId::new(id), &form.payment_method).await?;
    if matches!(outcome, payments::Confirmation::Paid) {
        confirm(
            &session,
            "Payment received. The booking confirms as soon as Stripe tells us, usually within seconds; a receipt is on its way.",
        )
        .await?;
    }
    Ok(Json(outcome))
}

#[derive(serde::Deserialize)]
pub struct Empty {}

#[tracing::instrument(skip_all)]
pub async fn refund_deposit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    CsrfForm { session, .. }: CsrfForm<Empty>,
) -> Result<Response, AppError> {
    let id = BookingId::new(id);
    let result = payments::refund_credit(&state, &user, id).await;
    after_form(
        &state,
        &session,
        &user,
        id,
        result,
        "Refund sent. Banks usually show it within 5 to 10 business days.",
    )
    .await
}

#[tracing::instrument(skip_all)]
pub async fn payouts(
    State(state): State<AppState>,
    session: Session,
    Authorized(user, _): ArtistUser,
) -> Result<Response, AppError> {
    let artist = crate::services::portfolio::own_profile(&state, &user).await?;
    let mut page = PayoutsPage {
        layout: signed_in_layout(&state, &session, &user).await?,
        enabled: state.stripe.is_some(),
        account: None,
        charges_enabled: false,
        payouts_enabled: false,
        details_submitted: false,
    };
    if page.enabled {
        let status = payments::payout_status(&state, &artist).await?;
        page.account = status.account;
        page.charges_enabled = status.charges_enabled;
        page.payouts_enabled = status.payouts_enabled;
        page.details_submitted = status.details_submitted;
    }
    Ok(render(page)?.into_response())
}

#[tracing::instrument(skip_all)]
pub async fn connect_payouts(
    State(state): State<AppState>,
    Authorized(user, _): ArtistUser,
    CsrfForm { .. }: CsrfForm<Empty>,
) -> Result<Response, AppError> {
    let artist = crate::services::portfolio::own_profile(&state, &user).await?;
    let url = payments::onboarding(&state, &user, &artist).await?;
    Ok(Redirect::to(&url).into_response())
}

/// Stripe's events: 200 once applied (or seen before), 400 for anything not signed by Stripe,
/// 503 while a refund it calls for cannot be made (Stripe delivers again).
#[tracing::instrument(skip_all)]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = payments::webhook(&state, signature, &body).await?;
    let outcome = match outcome {
        storage::EventOutcome::Duplicate => "duplicate",
        storage::EventOutcome::Ignored => "ignored",
        storage::EventOutcome::Applied => "applied",
        storage::EventOutcome::RefundDue(_) => "refunded",
    };
    Ok(Json(serde_json::json!({ "received": true, "outcome": outcome })).into_response())
}
