//! Card deposits: a client pays a quote's deposit through Stripe, the webhook records it, credited deposits go back to the card, and artists connect a payout account.

use crate::card_payments::{NewIntent, PaymentError, Stripe};
use crate::clock::now;
use crate::error::AppError;
use crate::state::AppState;
use domain::{Actor, AppointmentState, BookingId, BookingState};
use storage::{
    BookingDetail, BookingRequest, EventOutcome, Payment, PaymentEventKind, PaymentStatus, User,
};

impl From<PaymentError> for AppError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::Refused(m) => AppError::Conflict(m),
            PaymentError::Unavailable(m) => AppError::Unavailable(m),
        }
    }
}

/// Stripe, or a clear answer that card payments are not set up here.
pub fn stripe(state: &AppState) -> Result<&Stripe, AppError> {
    state.stripe.as_deref().ok_or_else(|| {
        AppError::Conflict(
            "Card payments are not set up on this site: pay the artist directly, and they record it."
                .into(),
        )
    })
}

/// What the card form needs. The intent's client secret stays with us: the payment is confirmed
/// here, and the secret goes to the browser only when the bank asks for 3-D Secure.
pub struct DepositCheckout {
    pub request: BookingRequest,
    pub amount_cents: i64,
    /// The last attempt's decline, if the card was refused.
    pub failure: Option<String>,
}

/// The request as its client sees it, when its deposit is due by card.
async fn due_deposit(
    state: &AppState,
    client: &User,
    id: BookingId,
) -> Result<(BookingRequest, i64), AppError> {
    // One query: the card form needs the request alone, not its whole page.
    let request = state
        .store
        .booking_request(id, client.id)
        .await?
        .ok_or(AppError::NotFound)?;
    if request.actor_for(client.id) != Some(Actor::Client) {
        return Err(AppError::Forbidden(
            "only the client pays the deposit".into(),
        ));
    }
    if request.state != BookingState::DepositPending {
        return Err(AppError::Conflict(format!(
            "no deposit is due: the request is {}",
            request.state.label().to_lowercase()
        )));
    }
    if request.deadline_at.is_some_and(|d| d < now()) {
        return Err(AppError::Conflict("the deposit deadline has passed".into()));
    }
    let amount = request.quote.map_or(0, |q| q.deposit_cents);
    if amount <= 0 {
        return Err(AppError::Conflict(
            "this quote asks for no deposit: nothing to pay".into(),
        ));
    }
    Ok((request, amount))
}

/// Opens the deposit's card payment: the request's open PaymentIntent for this amount, or a new
/// one (idempotent at Stripe, recorded here before the page is shown).
pub async fn checkout(
    state: &AppState,
    client: &User,
    id: BookingId,
) -> Result<DepositCheckout, AppError> {
    let stripe = stripe(state)?;
    let (request, amount) = due_deposit(state, client, id).await?;
    let currency = request.currency.code().to_ascii_lowercase();
    let payments = state.store.payments(id, client.id).await?;
    if payments
        .iter()
        .any(|p| p.status == PaymentStatus::Succeeded)
    {
        return Err(AppError::Conflict(
            "the deposit is paid; the booking confirms as soon as Stripe tells us".into(),
        ));
    }
    // A declined attempt is kept as it was, and the next card gets its own intent.
    let failure = payments
        .first()
        .filter(|p| p.status == PaymentStatus::Failed)
        .and_then(|p| p.failure.clone());
    let open = payments.iter().find(|p| {
        p.status == PaymentStatus::Pending && p.amount_cents == amount && p.currency == currency
    });
    let intent = match open {
        Some(p) => stripe.intent(&p.intent_id).await?,
        None => {
            let destination = payout_account(state, request.artist_id).await?;
            let intent = stripe
                .create_intent(&NewIntent {
                    booking_id: id.get(),
                    amount_cents: amount,
                    currency: currency.clone(),
                    destination: destination.as_deref(),
                    attempt: payments.len(),
                })
                .await?;
            state
                .store
                .record_intent(id, &intent.id, amount, &currency, now())
                .await?;
            intent
        }
    };
    if intent.status == "succeeded" {
        return Err(AppError::Conflict(
            "the deposit is paid; the booking confirms as soon as Stripe tells us".into(),
        ));
    }
    Ok(DepositCheckout {
        request,
        amount_cents: amount,
        failure,
    })
}

/// The artist's connected account, when Stripe lets it take charges: the deposit then goes to
/// the artist (a destination charge). Otherwise the platform holds it.
async fn payout_account(
    state: &AppState,
    artist: domain::ArtistId,
) -> Result<Option<String>, AppError> {
    let Some(account) = state.store.stripe_account(artist).await? else {
        return Ok(None);
    };
    let ready = stripe(state)?.account(&account).await?.charges_enabled == Some(true);
    Ok(ready.then_some(account))
}

/// Where a confirmation left the payment, for the card form's script.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Confirmation {
    /// Paid, or the bank is still deciding: the webhook records it.
    Paid,
    /// The bank asks the payer to authenticate (3-D Secure) in Stripe.js.
    NeedsAction {
        client_secret: String,
    },
    Declined {
        message: String,
    },
}

/// Confirms the deposit's PaymentIntent with the payment method Stripe.js created.
pub async fn confirm(
    state: &AppState,
    client: &User,
    id: BookingId,
    payment_method: &str,
) -> Result<Confirmation, AppError> {
    let stripe = stripe(state)?;
    let (_, amount) = due_deposit(state, client, id).await?;
    let payments = state.store.payments(id, client.id).await?;
    let payment = payments
        .iter()
        .find(|p| p.status == PaymentStatus::Pending && p.amount_cents == amount)
        .ok_or_else(|| AppError::Conflict("open the payment page again".into()))?;
    let intent = match stripe.confirm(&payment.intent_id, payment_method).await {
        Ok(intent) => intent,
        Err(PaymentError::Refused(message)) => return Ok(Confirmation::Declined { message }),
        Err(e) => return Err(e.into()),
    };
    Ok(match intent.status.as_str() {
        "succeeded" | "processing" => Confirmation::Paid,
        "requires_action" => Confirmation::NeedsAction {
            client_secret: intent.client_secret.unwrap_or_default(),
        },
        _ => Confirmation::Declined {
            message: intent
                .last_payment_error
                .and_then(|e| e.message)
                .unwrap_or_else(|| "The card was declined.".into()),
        },
    })
}

/// Reads a Stripe event: its id and what it means for a deposit.
fn parse_event(body: &[u8]) -> Result<(String, PaymentEventKind), AppError> {
    let bad = |what: &str| AppError::BadRequest(format!("not a Stripe event: {what}"));
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad("invalid JSON"))?;
    let id = v["id"].as_str().ok_or_else(|| bad("no id"))?.to_owned();
    let kind = v["type"].as_str().ok_or_else(|| bad("no type"))?;
    let object = &v["data"]["object"];
    let text = |key: &str| object[key].as_str().map(str::to_owned);
    let event = match kind {
        "payment_intent.succeeded" => PaymentEventKind::Succeeded {
            intent_id: text("id").ok_or_else(|| bad("no intent id"))?,
            amount_cents: object["amount"].as_i64().ok_or_else(|| bad("no amount"))?,
        },
        "payment_intent.payment_failed" => PaymentEventKind::Failed {
            intent_id: text("id").ok_or_else(|| bad("no intent id"))?,
            message: object["last_payment_error"]["message"]
                .as_str()
                .unwrap_or("The card was declined.")
                .to_owned(),
        },
        "refund.created" | "refund.updated" | "charge.refund.updated"
            if object["status"].as_str() == Some("succeeded") =>
        {
            match (text("payment_intent"), text("id")) {
                (Some(intent_id), Some(refund_id)) => PaymentEventKind::Refunded {
                    intent_id,
                    refund_id,
                },
                _ => PaymentEventKind::Other,
            }
        }
        _ => PaymentEventKind::Other,
    };
    Ok((id, event))
}

/// A webhook delivery: verified by its signature, applied once, and a payment that arrived for a
/// request that no longer takes it refunded at once.
pub async fn webhook(
    state: &AppState,
    signature: Option<&str>,
    body: &[u8],
) -> Result<EventOutcome, AppError> {
    let stripe = stripe(state)?;
    let signature = signature
        .ok_or_else(|| AppError::BadRequest("the Stripe-Signature header is missing".into()))?;
    stripe
        .verify(signature, body, now())
        .map_err(|why| AppError::BadRequest(format!("webhook refused: {why}")))?;
    let (id, event) = parse_event(body)?;
    let outcome = state.store.apply_payment_event(&id, &event, now()).await?;
    match &outcome {
        EventOutcome::RefundDue(payment) => refund_payment(state, payment).await?,
        EventOutcome::Applied if matches!(event, PaymentEventKind::Succeeded { .. }) => {
            state
                .metrics
                .transitions
                .with_label_values(&["deposit-paid-by-card"])
                .inc();
            state.metrics.kpi.deposit_recorded();
            let kpi = &state.metrics.kpi;
            kpi.state_changed(
                domain::BookingState::DepositPending,
                domain::BookingState::Booked,
            );
        }
        _ => {}
    }
    Ok(outcome)
}

/// Refunds a payment in full and records it when Stripe says it is done (a pending refund is
/// recorded by its webhook).
async fn refund_payment(state: &AppState, payment: &Payment) -> Result<(), AppError> {
    let refund = stripe(state)?
        .refund(&payment.intent_id, payment.id)
        .await?;
    if refund.status.as_deref() == Some("succeeded") {
        state
            .store
            .record_refund(payment.id, &refund.id, now())
            .await?;
    }
    Ok(())
}

/// The card payment that can go back to the card: a paid deposit the policy kept as credit
/// (a session cancelled in time, or by the artist) while no session uses it.
pub fn refundable<'a>(detail: &BookingDetail, payments: &'a [Payment]) -> Option<&'a Payment> {
    let credited = detail.ledger.iter().any(|l| l.entry == "deposit_credited");
    let refunded = detail.ledger.iter().any(|l| l.entry == "deposit_refunded");
    let in_use = detail.appointments.iter().any(|a| {
        matches!(
            a.state,
            AppointmentState::Scheduled | AppointmentState::Confirmed
        )
    });
    if !credited || refunded || in_use {
        return None;
    }
    let paid_by_card: Vec<i64> = detail
        .ledger
        .iter()
        .filter(|l| l.entry == "deposit_paid")
        .filter_map(|l| l.payment_id)
        .collect();
    payments
        .iter()
        .find(|p| p.status == PaymentStatus::Succeeded && paid_by_card.contains(&p.id))
}

/// Sends a credited card deposit back to the card, at either party's request.
pub async fn refund_credit(state: &AppState, user: &User, id: BookingId) -> Result<(), AppError> {
    let detail = state
        .store
        .booking(id, user.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let payments = state.store.payments(id, user.id).await?;
    let payment = refundable(&detail, &payments).ok_or_else(|| {
        AppError::Conflict(
            "nothing to refund: only a card deposit kept as credit, with no session planned, goes back to the card".into(),
        )
    })?;
    refund_payment(state, payment).await
}

/// Refunds what earlier webhook deliveries could not (Stripe was unreachable then). Safe beside a
/// delivery doing the same: the refund's idempotency key names the payment.
pub async fn refund_unapplied(state: &AppState) -> Result<usize, AppError> {
    if state.stripe.is_none() {
        return Ok(0);
    }
    let due = state.store.unapplied_payments(now() - 60, 20).await?;
    for payment in &due {
        refund_payment(state, payment).await?;
    }
    Ok(due.len())
}

/// Where an artist's payouts stand.
pub struct PayoutStatus {
    pub account: Option<String>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
}

pub async fn payout_status(
    state: &AppState,
    artist: &storage::ArtistProfile,
) -> Result<PayoutStatus, AppError> {
    let account = state.store.stripe_account(artist.id).await?;
    let mut status = PayoutStatus {
        account: account.clone(),
        charges_enabled: false,
        payouts_enabled: false,
        details_submitted: false,
    };
    if let Some(id) = account {
        let a = stripe(state)?.account(&id).await?;
        status.charges_enabled = a.charges_enabled == Some(true);
        status.payouts_enabled = a.payouts_enabled == Some(true);
        status.details_submitted = a.details_submitted == Some(true);
    }
    Ok(status)
}

/// Starts (or resumes) Stripe's hosted Express onboarding; returns where to send the artist.
pub async fn onboarding(
    state: &AppState,
    user: &User,
    artist: &storage::ArtistProfile,
) -> Result<String, AppError> {
    let stripe = stripe(state)?;
    let account = match state.store.stripe_account(artist.id).await? {
        Some(a) => a,
        None => {
            let a = stripe
                .create_express_account(artist.id.get(), user.email.as_str(), &artist.country)
                .await?;
            state.store.set_stripe_account(user.id, &a.id).await?;
            a.id
        }
    };
    let back = format!(
        "{}/dashboard/payouts",
        state.settings.mail.public_url.trim_end_matches('/')
    );
    Ok(stripe
        .onboarding_link(&account, &back, &back, now())
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_events_are_read_into_what_the_deposit_needs() {
        let ok = br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount":4000}}}"#;
        assert_eq!(
            parse_event(ok).unwrap(),
            (
                "evt_1".into(),
                PaymentEventKind::Succeeded {
                    intent_id: "pi_1".into(),
                    amount_cents: 4000
                }
            )
        );
        let failed = br#"{"id":"evt_2","type":"payment_intent.payment_failed","data":{"object":{"id":"pi_1","last_payment_error":{"message":"Your card was declined."}}}}"#;
        assert!(matches!(
            parse_event(failed).unwrap().1,
            PaymentEventKind::Failed { message, .. } if message == "Your card was declined."
        ));
        let refund = br#"{"id":"evt_3","type":"refund.updated","data":{"object":{"id":"re_1","payment_intent":"pi_1","status":"succeeded"}}}"#;
        assert!(matches!(
            parse_event(refund).unwrap().1,
            PaymentEventKind::Refunded { refund_id, .. } if refund_id == "re_1"
        ));
        let pending = br#"{"id":"evt_4","type":"refund.created","data":{"object":{"id":"re_1","payment_intent":"pi_1","status":"pending"}}}"#;
        assert_eq!(parse_event(pending).unwrap().1, PaymentEventKind::Other);
        let other = br#"{"id":"evt_5","type":"customer.created","data":{"object":{}}}"#;
        assert_eq!(parse_event(other).unwrap().1, PaymentEventKind::Other);
    }

    #[test]
    fn malformed_events_are_a_clear_400_never_a_panic() {
        for body in [
            &b""[..],
            b"[]",
            b"{}",
            b"{\"id\":1}",
            b"{\"id\":\"evt\"}",
            b"{\"id\":\"evt\",\"type\":\"payment_intent.succeeded\",\"data\":{}}",
            b"{\"id\":\"evt\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":{\"id\":\"pi\",\"amount\":\"x\"}}}",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(parse_event(body), Err(AppError::BadRequest(_))),
                "{body:?}"
            );
        }
    }
}
