//! Card deposits against localstripe (a stateful fake Stripe, started here): paying, a declined
//! card, webhooks verified and applied once, the receipt, a credited deposit refunded, and money
//! that arrives for a request that no longer takes it going straight back.
//!
//! What localstripe does not simulate, so these tests cannot show: Connect accounts and their
//! onboarding links (`/v1/accounts` answers 404), idempotency keys (it makes a new object per
//! call), refund events (refunds succeed at once and send no webhook), Checkout, transfers to
//! connected accounts, and Stripe.js's `createPaymentMethod` (it implements tokens only).

use crate::bookings::{artist, future_slot, post, request_body};
use crate::browser::free_port;
use crate::helpers::{TestApp, email_containing, page_text, spawn_app_with};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use storage::testing::TestDb;

const SECRET_KEY: &str = "sk_test_marketplace";
const PUBLISHABLE_KEY: &str = "pk_test_marketplace";
const WEBHOOK_SECRET: &str = "whsec_marketplace_tests";

/// A localstripe process on a free port; killed when dropped.
pub(crate) struct LocalStripe {
    _child: tokio::process::Child,
    url: String,
}

/// The localstripe program: on PATH, where `scripts/install-tools.sh` puts it, or installed once
/// per machine into a virtualenv under `target/` (as the OpenID tests install their provider).
fn localstripe_program() -> std::path::PathBuf {
    static FOUND: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);
    let mut found = FOUND.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = found.as_ref() {
        return p.clone();
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([std::path::PathBuf::from("/opt/tm-tools/bin")])
        .map(|dir| dir.join("localstripe"))
        .find(|p| p.is_file());
    let program = on_path.unwrap_or_else(|| {
        let venv = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/localstripe-venv");
        let program = venv.join("bin/localstripe");
        if !program.is_file() {
            let made = std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .expect("python3 runs (localstripe, the fake Stripe, is a Python program)");
            assert!(made.success(), "python3 -m venv {}", venv.display());
            let installed = std::process::Command::new(venv.join("bin/pip"))
                .args([
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "localstripe>=1.15,<2",
                ])
                .status()
                .expect("pip runs");
            assert!(installed.success(), "pip install localstripe");
        }
        program
    });
    *found = Some(program.clone());
    program
}

impl LocalStripe {
    pub(crate) async fn start() -> Self {
        let port = free_port();
        let child = tokio::process::Command::new(localstripe_program())
            // Each test its own empty Stripe: without this, localstripe loads the state every
            // instance on the machine keeps writing to /tmp/localstripe.pickle.
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("localstripe starts");
        let url = format!("http://127.0.0.1:{port}");
        let probe = Client::new();
        // Generous: Python's start-up on a loaded two-core CI machine, not a measurement.
        for _ in 0..300 {
            if let Ok(r) = probe.get(format!("{url}/js.stripe.com/v3/")).send().await
                && r.status().is_success()
            {
                return Self { _child: child, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("localstripe did not start within 30 s");
    }

    /// What Stripe.js does in the payer's browser: the card goes to Stripe, which answers with
    /// an id the marketplace may see.
    async fn card(&self, number: &str) -> String {
        let token: Value = Client::new()
            .post(format!("{}/v1/tokens", self.url))
            .form(&[
                ("card[number]", number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2034"),
                ("card[cvc]", "123"),
                ("key", PUBLISHABLE_KEY),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token["card"]["id"].as_str().unwrap().to_owned()
    }

    async fn api(&self, path: &str, form: &[(&str, &str)]) -> Value {
        Client::new()
            .post(format!("{}{path}", self.url))
            .basic_auth(SECRET_KEY, Some(""))
            .form(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The app with Stripe set up against `stripe`, whose webhooks reach the app.
pub(crate) async fn app_with_stripe(db: TestDb, stripe: &LocalStripe) -> TestApp {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let port_text = port.to_string();
    let app = spawn_app_with(
        db,
        &[
            ("TM_SERVER_PORT", port_text.as_str()),
            ("TM_MAIL_PUBLIC_URL", url.as_str()),
            ("TM_PAYMENTS_STRIPE_SECRET_KEY", SECRET_KEY),
            ("TM_PAYMENTS_STRIPE_PUBLISHABLE_KEY", PUBLISHABLE_KEY),
            ("TM_PAYMENTS_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("TM_PAYMENTS_STRIPE_API_URL", stripe.url.as_str()),
            (
                "TM_PAYMENTS_STRIPE_JS_URL",
                &format!("{}/js.stripe.com/v3/", stripe.url),
            ),
        ],
    )
    .await;
    let r = Client::new()
        .post(format!("{}/_config/webhooks/marketplace", stripe.url))
        .json(&json!({"url": format!("{url}/webhooks/stripe"), "secret": WEBHOOK_SECRET}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "registering the webhook");
    app
}

/// A request in `deposit_pending` with a deposit of 40.00 (20 % of 200.00); returns the client,
/// the artist, the request's id and the client's account id.
async fn deposit_due(app: &TestApp, tag: &str) -> (Client, Client, i64, i64) {
    let (artist_c, artist_id) = artist(
        app,
        &format!("artist-{tag}@example.com"),
        &format!("ink-{tag}"),
        "US-FL",
    )
    .await;
    let (client_c, client_id) =
        crate::bookings::account(app, &format!("client-{tag}@example.com"), "client").await;
    let (s, r) = post(
        &client_c,
        app,
        "/api/v1/booking-requests",
        request_body(artist_id, "1990-01-01"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_i64().unwrap();
    let base = format!("/api/v1/booking-requests/{id}");
    let (s, q) = post(
        &artist_c,
        app,
        &format!("{base}/quote"),
        json!({"price_min_cents": 20000, "sessions": 1}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    let (s, _) = post(&client_c, app, &format!("{base}/accept"), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    (client_c, artist_c, id, client_id)
}

/// The PaymentIntent the card form opened for request `id`.
async fn intent_of(app: &TestApp, id: i64, client_id: i64) -> String {
    app.store
        .payments(domain::BookingId::new(id), domain::UserId::new(client_id))
        .await
        .unwrap()
        .first()
        .expect("the card form recorded its intent")
        .intent_id
        .clone()
}

async fn booking(c: &Client, app: &TestApp, id: i64) -> Value {
    c.get(app.url(&format!("/api/v1/booking-requests/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits for the webhook to move the request to `state`.
async fn until_state(c: &Client, app: &TestApp, id: i64, state: &str) -> Value {
    for _ in 0..150 {
        let b = booking(c, app, id).await;
        if b["state"] == state {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "request {id} never reached {state}: {}",
        booking(c, app, id).await
    );
}

/// Opens the card form, as the client's browser would; returns the page's CSRF token.
async fn open_checkout(c: &Client, app: &TestApp, id: i64) -> String {
    let page = c
        .get(app.url(&format!("/bookings/{id}/deposit")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("script-src 'self' http://127.0.0.1:"),
        "{policy}"
    );
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("$40"), "the amount in the artist's currency");
    assert!(html.contains("/js.stripe.com/v3/"), "Stripe.js is loaded");
    assert!(!html.contains("_secret_"), "no client secret on the page");
    crate::helpers::csrf_in(&html).expect("a CSRF token on the card form")
}

async fn confirm(
    c: &Client,
    app: &TestApp,
    id: i64,
    csrf: &str,
    method: &str,
) -> (StatusCode, Value) {
    let r = c
        .post(app.url(&format!("/bookings/{id}/deposit/confirm")))
        .header("accept", "application/json")
        .form(&[("csrf_token", csrf), ("payment_method", method)])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// Opens the card form and pays with card `number`, as the client's browser would.
async fn pay(stripe: &LocalStripe, c: &Client, app: &TestApp, id: i64, number: &str) -> Value {
    let csrf = open_checkout(c, app, id).await;
    let card = stripe.card(number).await;
    let (s, out) = confirm(c, app, id, &csrf, &card).await;
    assert_eq!(s, StatusCode::OK, "{out}");
    out
}

fn sign(payload: &str, t: i64) -> String {
    let v1 =
        marketplace::card_payments::signature(WEBHOOK_SECRET.as_bytes(), t, payload.as_bytes());
    format!("t={t},v1={v1}")
}

async fn deliver(app: &TestApp, payload: &str, signature: &str) -> (StatusCode, Value) {
    let r = Client::new()
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(payload.to_owned())
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn a_client_pays_the_deposit_by_card_and_the_webhook_books_it_once(db: TestDb) {
    let stripe = LocalStripe::start().await;
    let app = app_with_stripe(db, &stripe).await;
    let (client_c, artist_c, id, client_id) = deposit_due(&app, "pay").await;

    // The booking page offers the card; the artist may still record cash, labelled as such.
    let page = page_text(&client_c, &app, &format!("/bookings/{id}")).await;
    assert!(page.contains("Pay $40 by card"), "{page}");
    let artist_page = page_text(&artist_c, &app, &format!("/bookings/{id}")).await;
    assert!(artist_page.contains("Record a cash deposit"));

    let csrf = open_checkout(&client_c, &app, id).await;
    // Without the session's token, nothing is charged.
    let card = stripe.card("4242424242424242").await;
    let (s, _) = confirm(&client_c, &app, id, "forged", &card).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The artist cannot pay the client's deposit.
    let (s, _) = confirm(&artist_c, &app, id, &csrf, &card).await;
    assert_ne!(s, StatusCode::OK);

    let (s, out) = confirm(&client_c, &app, id, &csrf, &card).await;
    assert_eq!(
        (s, out["status"].as_str()),
        (StatusCode::OK, Some("paid")),
        "{out}"
    );
    let booked = until_state(&client_c, &app, id, "booked").await;
    let ledger = booked["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 1, "{booked}");
    assert_eq!(ledger[0]["entry"], "deposit_paid");
    assert_eq!(ledger[0]["amount_cents"], 4000);
    assert_eq!(ledger[0]["method"], "card");
    let history = page_text(&client_c, &app, &format!("/bookings/{id}")).await;
    assert!(
        history.contains("Deposit paid by card (Stripe)"),
        "{history}"
    );

    // The receipt names the amount and Stripe's reference.
    let intent = intent_of(&app, id, client_id).await;
    let receipt = email_containing(
        &app.media.path().join("mail"),
        "client-pay@example.com",
        "payment reference",
    )
    .await;
    assert!(receipt.contains("$40"), "{receipt}");
    assert!(receipt.contains(&intent), "{receipt}");

    // The same event again (Stripe retries until it sees a 2xx) changes nothing.
    let event = json!({"id": "evt_replayed", "type": "payment_intent.succeeded",
        "data": {"object": {"id": intent, "amount": 4000, "object": "payment_intent"}}})
    .to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for expected in ["ignored", "duplicate"] {
        let (s, out) = deliver(&app, &event, &sign(&event, now)).await;
        assert_eq!(
            (s, out["outcome"].as_str()),
            (StatusCode::OK, Some(expected)),
            "{out}"
        );
    }
    let after = booking(&client_c, &app, id).await;
    assert_eq!(after["ledger"].as_array().unwrap().len(), 1, "{after}");

    // Unsigned, forged, altered or stale deliveries are refused and change nothing.
    let forged = json!({"id": "evt_forged", "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_forged", "amount": 1}}})
    .to_string();
    for (payload, signature) in [
        (forged.clone(), String::new()),
        (forged.clone(), "t=1,v1=00".to_owned()),
        (forged.clone(), sign(&event, now)),
        (forged.clone(), sign(&forged, now - 3600)),
    ] {
        let (s, _) = deliver(&app, &payload, &signature).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{signature}");
    }
    // A paid deposit is not paid twice.
    let page = client_c
        .get(app.url(&format!("/bookings/{id}/deposit")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::CONFLICT);
}

async fn a_declined_card_is_explained_and_the_deposit_stays_due(db: TestDb) {
    let stripe = LocalStripe::start().await;
    let app = app_with_stripe(db, &stripe).await;
    let (client_c, _artist_c, id, _) = deposit_due(&app, "declined").await;
    // Stripe's test card that attaches and is then declined when charged.
    let out = pay(&stripe, &client_c, &app, id, "4000000000000341").await;
    assert_eq!(out["status"], "declined", "{out}");
    assert!(
        out["message"]
            .as_str()
            .is_some_and(|m| m.contains("declined")),
        "{out}"
    );
    // The failure event arrives and the page says what happened; the request still takes a
    // deposit, by another card.
    for _ in 0..100 {
        let html = page_text(&client_c, &app, &format!("/bookings/{id}")).await;
        if html.contains("did not go through") {
            assert_eq!(
                booking(&client_c, &app, id).await["state"],
                "deposit_pending"
            );
            let out = pay(&stripe, &client_c, &app, id, "4242424242424242").await;
            assert_eq!(out["status"], "paid", "{out}");
            until_state(&client_c, &app, id, "booked").await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the declined payment never showed on the booking page");
}

async fn a_credited_card_deposit_goes_back_to_the_card_once(db: TestDb) {
    let stripe = LocalStripe::start().await;
    let app = app_with_stripe(db, &stripe).await;
    let (client_c, artist_c, id, _) = deposit_due(&app, "refund").await;
    pay(&stripe, &client_c, &app, id, "4242424242424242").await;
    until_state(&client_c, &app, id, "booked").await;
    let (s, ap) = post(
        &artist_c,
        &app,
        &format!("/api/v1/booking-requests/{id}/appointments"),
        json!({"starts_at": future_slot(30, 15), "minutes": 60}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{ap}");

    // Nothing to refund while the deposit holds a session.
    let token =
        crate::helpers::csrf_in(&page_text(&client_c, &app, &format!("/bookings/{id}")).await)
            .unwrap();
    let refund = |c: Client, token: String| {
        let url = app.url(&format!("/bookings/{id}/deposit/refund"));
        async move {
            c.post(url)
                .form(&[("csrf_token", token.as_str())])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        refund(client_c.clone(), token.clone()).await,
        StatusCode::CONFLICT
    );

    // Cancelled a month ahead: the policy keeps it as credit, which the client takes back.
    let (s, out) = post(
        &client_c,
        &app,
        &format!("/api/v1/appointments/{}/cancel", ap["id"]),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    let page = page_text(&client_c, &app, &format!("/bookings/{id}")).await;
    assert!(page.contains("Refund the deposit to the card"), "{page}");
    assert_eq!(
        refund(client_c.clone(), token.clone()).await,
        StatusCode::SEE_OTHER
    );
    let b = booking(&client_c, &app, id).await;
    let entries: Vec<&str> = b["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["entry"].as_str().unwrap())
        .collect();
    assert_eq!(
        entries,
        ["deposit_paid", "deposit_credited", "deposit_refunded"],
        "{b}"
    );
    // Once: the button is gone and a second try is refused.
    assert_eq!(refund(client_c.clone(), token).await, StatusCode::CONFLICT);
    email_containing(
        &app.media.path().join("mail"),
        "client-refund@example.com",
        "refunded to the card",
    )
    .await;
}

async fn money_for_a_request_that_no_longer_takes_it_is_refunded_at_once(db: TestDb) {
    let stripe = LocalStripe::start().await;
    let app = app_with_stripe(db, &stripe).await;
    let (client_c, artist_c, id, client_id) = deposit_due(&app, "late").await;
    open_checkout(&client_c, &app, id).await;
    // The artist records a cash deposit while the client pays in another tab.
    let (s, _) = post(
        &artist_c,
        &app,
        &format!("/api/v1/booking-requests/{id}/deposit-paid"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let intent = intent_of(&app, id, client_id).await;
    let card = stripe.card("4242424242424242").await;
    stripe
        .api(
            &format!("/v1/payment_intents/{intent}"),
            &[("payment_method", &card)],
        )
        .await;
    let paid = stripe
        .api(&format!("/v1/payment_intents/{intent}/confirm"), &[])
        .await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    // The webhook finds the request booked by cash: the card payment goes back.
    email_containing(
        &app.media.path().join("mail"),
        "client-late@example.com",
        "refunded to the card",
    )
    .await;
    let b = booking(&client_c, &app, id).await;
    let ledger = b["ledger"].as_array().unwrap();
    assert_eq!(
        ledger.len(),
        1,
        "only the cash deposit is in the ledger: {b}"
    );
    assert_eq!(ledger[0]["method"], "recorded");
    let payment = &app
        .store
        .payments(domain::BookingId::new(id), domain::UserId::new(client_id))
        .await
        .unwrap()[0];
    assert_eq!(payment.status, storage::PaymentStatus::Refunded);
    assert!(payment.refund_id.is_some());
    // Nothing is left for the refund sweep.
    assert!(
        app.store
            .unapplied_payments(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// What the Connect test's Stripe saw: each call's method, path, idempotency key and form body.
type Calls = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Option<String>, String)>>>;

/// A Stripe for the Connect calls localstripe lacks (accounts, account links) and the destination
/// charge they lead to; it answers with Stripe's documented fields and records every call.
async fn connect_stripe(ready: std::sync::Arc<std::sync::atomic::AtomicBool>) -> (String, Calls) {
    use axum::extract::{Request, State};
    use std::sync::atomic::Ordering;
    let calls: Calls = Default::default();
    let seen = calls.clone();
    let app = axum::Router::new()
        .fallback(
            move |State(ready): State<std::sync::Arc<std::sync::atomic::AtomicBool>>,
                  request: Request| {
                let seen = seen.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = axum::body::to_bytes(body, 1 << 16).await.unwrap();
                    let body = String::from_utf8_lossy(&body).into_owned();
                    let key = parts
                        .headers
                        .get("idempotency-key")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let path = parts.uri.path().to_owned();
                    seen.lock()
                        .unwrap()
                        .push((parts.method.to_string(), path.clone(), key, body));
                    let on = ready.load(Ordering::SeqCst);
                    axum::Json(match path.as_str() {
                        "/v1/accounts" | "/v1/accounts/acct_connect1" => {
                            json!({"id": "acct_connect1",
                        "object": "account", "charges_enabled": on, "payouts_enabled": on,
                        "details_submitted": on})
                        }
                        "/v1/account_links" => json!({"object": "account_link",
                        "url": "https://connect.stripe.test/setup/e/acct_connect1"}),
                        "/v1/payment_intents" => {
                            json!({"id": "pi_connect1", "object": "payment_intent",
                        "amount": 4000, "currency": "usd", "status": "requires_payment_method",
                        "client_secret": "pi_connect1_secret_x"})
                        }
                        other => json!({"error": {"message": format!("no {other} here")}}),
                    })
                }
            },
        )
        .with_state(ready);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

async fn an_artist_connects_a_payout_account_and_then_receives_the_deposits(db: TestDb) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let ready = std::sync::Arc::new(AtomicBool::new(false));
    let (stripe_url, calls) = connect_stripe(ready.clone()).await;
    let app = spawn_app_with(
        db,
        &[
            ("TM_PAYMENTS_STRIPE_SECRET_KEY", SECRET_KEY),
            ("TM_PAYMENTS_STRIPE_PUBLISHABLE_KEY", PUBLISHABLE_KEY),
            ("TM_PAYMENTS_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("TM_PAYMENTS_STRIPE_API_URL", stripe_url.as_str()),
        ],
    )
    .await;
    let (client_c, artist_c, id, _) = deposit_due(&app, "connect").await;

    let page = page_text(&artist_c, &app, "/dashboard/payouts").await;
    assert!(page.contains("Connect a payout account"), "{page}");
    let csrf = crate::helpers::csrf_in(&page).unwrap();
    let connect = |c: Client| {
        let url = app.url("/dashboard/payouts/connect");
        let csrf = csrf.clone();
        async move {
            c.post(url)
                .form(&[("csrf_token", csrf.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    // Onboarding happens on Stripe's site; coming back early offers to continue there.
    for _ in 0..2 {
        let r = connect(artist_c.clone()).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()["location"],
            "https://connect.stripe.test/setup/e/acct_connect1"
        );
    }
    let page = page_text(&artist_c, &app, "/dashboard/payouts").await;
    assert!(page.contains("Onboarding is not finished"), "{page}");
    // Only artists have payouts.
    assert_eq!(
        connect(client_c.clone()).await.status(),
        StatusCode::FORBIDDEN
    );

    {
        let calls = calls.lock().unwrap();
        let created: Vec<_> = calls
            .iter()
            .filter(|(m, p, ..)| m == "POST" && p == "/v1/accounts")
            .collect();
        assert_eq!(created.len(), 1, "one account per artist: {calls:?}");
        let (_, _, key, body) = created[0];
        assert!(
            key.as_deref()
                .is_some_and(|k| k.starts_with("express-account-artist-"))
        );
        for part in [
            "type=express",
            "email=artist-connect@example.com",
            "country=US",
            "capabilities[transfers][requested]=true",
        ] {
            assert!(body.contains(part), "{part} in {body}");
        }
        let link = calls
            .iter()
            .find(|(_, p, ..)| p == "/v1/account_links")
            .unwrap();
        assert!(
            link.3.contains("type=account_onboarding") && link.3.contains("account=acct_connect1")
        );
        assert!(
            link.2
                .as_deref()
                .is_some_and(|k| k.starts_with("onboarding-acct_connect1-"))
        );
    }

    // Once Stripe enables the account, deposits are destination charges to it.
    ready.store(true, Ordering::SeqCst);
    let page = page_text(&artist_c, &app, "/dashboard/payouts").await;
    assert!(page.contains("Your payout account is connected"), "{page}");
    let r = client_c
        .get(app.url(&format!("/bookings/{id}/deposit")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let calls = calls.lock().unwrap();
    let (_, _, key, body) = calls
        .iter()
        .find(|(m, p, ..)| m == "POST" && p == "/v1/payment_intents")
        .expect("the deposit's intent");
    assert_eq!(
        key.as_deref(),
        Some(format!("deposit-{id}-4000-usd-0").as_str())
    );
    assert!(
        body.contains("transfer_data[destination]=acct_connect1"),
        "{body}"
    );
}

storage::on_both_databases!(
    an_artist_connects_a_payout_account_and_then_receives_the_deposits,
    a_client_pays_the_deposit_by_card_and_the_webhook_books_it_once,
    a_declined_card_is_explained_and_the_deposit_stays_due,
    a_credited_card_deposit_goes_back_to_the_card_once,
    money_for_a_request_that_no_longer_takes_it_is_refunded_at_once,
);
