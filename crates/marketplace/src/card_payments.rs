//! Stripe as the deposits use it, through async-stripe's client: PaymentIntents, refunds, Connect Express onboarding, and webhook signatures.
//!
//! Responses are read into the few fields we act on rather than async-stripe's full generated
//! models: those require every field of Stripe's current API version, which the test double
//! (localstripe) does not send, and a field we do not read is one that cannot break us.

use crate::config::PaymentSettings;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;
use stripe::{IdempotencyKey, RequestStrategy, StripeError};
use stripe_client_core::{RequestBuilder, StripeMethod};

/// How old a webhook's signed timestamp may be: Stripe's own libraries use five minutes, which
/// bounds how long a captured payload could be replayed.
const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Each call to Stripe gives up after this long, so a slow API never holds a page.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// What went wrong talking to Stripe, in words a payer or an artist may read.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Stripe refused the request (a declined card, an invalid state); its message is for people.
    #[error("{0}")]
    Refused(String),
    /// Stripe could not be reached or answered something we cannot read.
    #[error("the payment service is unavailable: {0}")]
    Unavailable(String),
}

impl From<StripeError> for PaymentError {
    fn from(e: StripeError) -> Self {
        match e {
            StripeError::Stripe(api, status) if (400..500).contains(&status) => {
                PaymentError::Refused(
                    api.message
                        .unwrap_or_else(|| "the payment service refused the request".to_owned()),
                )
            }
            other => PaymentError::Unavailable(other.to_string()),
        }
    }
}

/// A PaymentIntent, as far as we read it.
#[derive(Debug, Clone, miniserde::Deserialize)]
pub struct Intent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    /// Handed to Stripe.js in the payer's browser only; never stored or logged.
    pub client_secret: Option<String>,
    pub last_payment_error: Option<PaymentErrorDetail>,
}

#[derive(Debug, Clone, miniserde::Deserialize)]
pub struct PaymentErrorDetail {
    pub message: Option<String>,
}

#[derive(Debug, Clone, miniserde::Deserialize)]
pub struct Refund {
    pub id: String,
    pub status: Option<String>,
}

#[derive(Debug, Clone, miniserde::Deserialize)]
pub struct Account {
    pub id: String,
    pub charges_enabled: Option<bool>,
    pub payouts_enabled: Option<bool>,
    pub details_submitted: Option<bool>,
}

#[derive(Debug, Clone, miniserde::Deserialize)]
struct AccountLink {
    url: String,
}

/// What a deposit's PaymentIntent is created with.
pub struct NewIntent<'a> {
    pub booking_id: i64,
    pub amount_cents: i64,
    /// ISO 4217, in Stripe's lower case.
    pub currency: String,
    /// The artist's connected account, which receives the deposit (a destination charge).
    pub destination: Option<&'a str>,
    /// How many intents the request had before: a declined one is not reused.
    pub attempt: usize,
}

#[derive(Serialize)]
struct IntentParams<'a> {
    amount: i64,
    currency: &'a str,
    payment_method_types: [&'static str; 1],
    metadata: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transfer_data: Option<Destination<'a>>,
}

#[derive(Serialize)]
struct Destination<'a> {
    destination: &'a str,
}

/// The Stripe account the platform talks to.
pub struct Stripe {
    client: stripe::Client,
    publishable_key: String,
    js_url: String,
    api_url: String,
    webhook_secret: SecretString,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl Stripe {
    /// The client for `settings`, or `None` when card deposits are off.
    pub fn from_settings(settings: &PaymentSettings) -> anyhow::Result<Option<Self>> {
        let (Some(secret), Some(publishable), Some(webhook)) = (
            &settings.stripe_secret_key,
            &settings.stripe_publishable_key,
            &settings.stripe_webhook_secret,
        ) else {
            return Ok(None);
        };
        // async-stripe joins its base and `v1/...` without a separator.
        let base = format!("{}/", settings.stripe_api_url.trim_end_matches('/'));
        let client = stripe::ClientBuilder::new(secret.expose_secret())
            .url(base)
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| anyhow::anyhow!("setting up the Stripe client: {e}"))?;
        Ok(Some(Self {
            client,
            publishable_key: publishable.clone(),
            js_url: settings.stripe_js_url.clone(),
            api_url: settings.stripe_api_url.clone(),
            webhook_secret: webhook.clone(),
        }))
    }

    pub fn publishable_key(&self) -> &str {
        &self.publishable_key
    }

    pub fn js_url(&self) -> &str {
        &self.js_url
    }

    /// The origins the payment page's Content-Security-Policy lets in: Stripe.js and the API it
    /// calls from the browser.
    pub fn origins(&self) -> (String, String) {
        (origin_of(&self.js_url), origin_of(&self.api_url))
    }

    async fn call<T: miniserde::Deserialize>(
        &self,
        request: RequestBuilder,
        key: Option<String>,
    ) -> Result<T, PaymentError> {
        let strategy = match key {
            Some(k) => RequestStrategy::Idempotent(
                IdempotencyKey::new(k).map_err(|e| PaymentError::Unavailable(e.to_string()))?,
            ),
            None => RequestStrategy::Once,
        };
        Ok(request
            .customize::<T>()
            .request_strategy(strategy)
            .send(&self.client)
            .await?)
    }

    /// Creates the deposit's PaymentIntent. The idempotency key names the request, the amount and
    /// the attempt, so a double click or a retry gets the same intent back from Stripe.
    pub async fn create_intent(&self, new: &NewIntent<'_>) -> Result<Intent, PaymentError> {
        let params = IntentParams {
            amount: new.amount_cents,
            currency: &new.currency,
            payment_method_types: ["card"],
            metadata: BTreeMap::from([
                ("booking_id", new.booking_id.to_string()),
                ("purpose", "deposit".to_owned()),
            ]),
            transfer_data: new.destination.map(|d| Destination { destination: d }),
        };
        let key = format!(
            "deposit-{}-{}-{}-{}",
            new.booking_id, new.amount_cents, new.currency, new.attempt
        );
        self.call(
            RequestBuilder::new(StripeMethod::Post, "/payment_intents").form(&params),
            Some(key),
        )
        .await
    }

    pub async fn intent(&self, id: &str) -> Result<Intent, PaymentError> {
        let path = format!("/payment_intents/{}", path_segment(id)?);
        self.call(RequestBuilder::new(StripeMethod::Get, path), None)
            .await
    }

    /// Attaches the payment method Stripe.js made in the payer's browser and confirms: the
    /// card's details went from the browser to Stripe, only its id comes through us.
    pub async fn confirm(&self, id: &str, payment_method: &str) -> Result<Intent, PaymentError> {
        let path = format!("/payment_intents/{}", path_segment(id)?);
        let method = BTreeMap::from([("payment_method", path_segment(payment_method)?)]);
        let _: Intent = self
            .call(
                RequestBuilder::new(StripeMethod::Post, path.clone()).form(&method),
                None,
            )
            .await?;
        self.call(
            RequestBuilder::new(StripeMethod::Post, format!("{path}/confirm")),
            None,
        )
        .await
    }

    /// Refunds a payment in full, once: the key names the payment, so a retry is the same refund.
    pub async fn refund(&self, intent_id: &str, payment_id: i64) -> Result<Refund, PaymentError> {
        let params = BTreeMap::from([("payment_intent", path_segment(intent_id)?)]);
        self.call(
            RequestBuilder::new(StripeMethod::Post, "/refunds").form(&params),
            Some(format!("refund-payment-{payment_id}")),
        )
        .await
    }

    /// Creates the artist's Express account (once per artist, by its key).
    pub async fn create_express_account(
        &self,
        artist_id: i64,
        email: &str,
        country: &str,
    ) -> Result<Account, PaymentError> {
        #[derive(Serialize)]
        struct Capability {
            requested: bool,
        }
        #[derive(Serialize)]
        struct Params<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            email: &'a str,
            #[serde(skip_serializing_if = "str::is_empty")]
            country: &'a str,
            capabilities: BTreeMap<&'static str, Capability>,
            metadata: BTreeMap<&'static str, String>,
        }
        let params = Params {
            kind: "express",
            email,
            country,
            capabilities: BTreeMap::from([
                ("card_payments", Capability { requested: true }),
                ("transfers", Capability { requested: true }),
            ]),
            metadata: BTreeMap::from([("artist_id", artist_id.to_string())]),
        };
        self.call(
            RequestBuilder::new(StripeMethod::Post, "/accounts").form(&params),
            Some(format!("express-account-artist-{artist_id}")),
        )
        .await
    }

    pub async fn account(&self, id: &str) -> Result<Account, PaymentError> {
        let path = format!("/accounts/{}", path_segment(id)?);
        self.call(RequestBuilder::new(StripeMethod::Get, path), None)
            .await
    }

    /// A one-time onboarding link on Stripe's site for the account. A double click within the
    /// same minute gets the same link (the key names the account and the minute).
    pub async fn onboarding_link(
        &self,
        account: &str,
        return_url: &str,
        refresh_url: &str,
        now: i64,
    ) -> Result<String, PaymentError> {
        let params = BTreeMap::from([
            ("account", account),
            ("return_url", return_url),
            ("refresh_url", refresh_url),
            ("type", "account_onboarding"),
        ]);
        let link: AccountLink = self
            .call(
                RequestBuilder::new(StripeMethod::Post, "/account_links").form(&params),
                Some(format!("onboarding-{account}-{}", now / 60)),
            )
            .await?;
        Ok(link.url)
    }

    /// Checks a webhook's `Stripe-Signature` against the payload, as Stripe documents it.
    pub fn verify(&self, header: &str, payload: &[u8], now: i64) -> Result<(), &'static str> {
        verify_signature(
            self.webhook_secret.expose_secret().as_bytes(),
            header,
            payload,
            now,
        )
    }
}

/// `t=TIMESTAMP,v1=HEX[,v1=HEX…]`: an HMAC-SHA256 of `TIMESTAMP.PAYLOAD` with the endpoint's
/// secret, any `v1` matching, with the timestamp recent.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    payload: &[u8],
    now: i64,
) -> Result<(), &'static str> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let t = timestamp.ok_or("the signature has no timestamp")?;
    if signatures.is_empty() {
        return Err("the signature has no v1 scheme");
    }
    if (now - t).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err("the signature's timestamp is too old or in the future");
    }
    let expected = signature(secret, t, payload);
    if signatures
        .iter()
        .any(|s| constant_time_eq::constant_time_eq(s.as_bytes(), expected.as_bytes()))
    {
        Ok(())
    } else {
        Err("the signature does not match")
    }
}

/// The `v1` signature Stripe sends for `payload` at `t`: hex HMAC-SHA256 of `t.payload`.
pub fn signature(secret: &[u8], t: i64, payload: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stripe ids are letters, digits and underscores; anything else would change the URL's path.
fn path_segment(id: &str) -> Result<&str, PaymentError> {
    if !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(id)
    } else {
        Err(PaymentError::Refused("that is not a Stripe id".into()))
    }
}

/// `scheme://host[:port]` of a URL, for the Content-Security-Policy.
fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, payload: &str) -> String {
        format!(
            "t={t},v1={}",
            signature(secret.as_bytes(), t, payload.as_bytes())
        )
    }

    #[test]
    fn a_signature_made_with_the_secret_over_the_payload_and_a_recent_time_is_accepted() {
        let body = r#"{"id":"evt_1"}"#;
        let header = sign("whsec_a", 1_000, body);
        assert_eq!(
            verify_signature(b"whsec_a", &header, body.as_bytes(), 1_010),
            Ok(())
        );
        // A rolled secret: Stripe sends one v1 per secret, any may match.
        let both = format!("{header},v1=00ff,v0=abc");
        assert_eq!(
            verify_signature(b"whsec_a", &both, body.as_bytes(), 1_010),
            Ok(())
        );
    }

    #[test]
    fn forged_altered_replayed_and_malformed_signatures_are_refused() {
        let body = r#"{"id":"evt_1"}"#;
        let header = sign("whsec_a", 1_000, body);
        let cases = [
            (sign("whsec_other", 1_000, body), body, 1_000),
            (header.clone(), r#"{"id":"evt_2"}"#, 1_000),
            (header.clone(), body, 1_000 + SIGNATURE_TOLERANCE_SECS + 1),
            ("v1=abc".to_owned(), body, 1_000),
            ("t=1000".to_owned(), body, 1_000),
            ("t=x,v1=".to_owned(), body, 1_000),
            (String::new(), body, 1_000),
        ];
        for (h, b, now) in cases {
            assert!(
                verify_signature(b"whsec_a", &h, b.as_bytes(), now).is_err(),
                "{h} / {b} at {now}"
            );
        }
    }

    #[test]
    fn ids_that_would_change_the_path_are_refused_before_any_call() {
        assert!(path_segment("pi_123abc").is_ok());
        for bad in ["", "pi_1/../../accounts", "pi 1", "pi_1?x=1", "pi_%2F"] {
            assert!(path_segment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_deposit_intent_is_sent_as_stripe_reads_forms() {
        let params = IntentParams {
            amount: 4_000,
            currency: "eur",
            payment_method_types: ["card"],
            metadata: BTreeMap::from([("booking_id", "7".to_owned())]),
            transfer_data: Some(Destination {
                destination: "acct_1",
            }),
        };
        let form = RequestBuilder::new(StripeMethod::Post, "/payment_intents")
            .form(&params)
            .body
            .unwrap();
        for part in [
            "amount=4000",
            "currency=eur",
            "payment_method_types[0]=card",
            "metadata[booking_id]=7",
            "transfer_data[destination]=acct_1",
        ] {
            let encoded = part.replace('[', "%5B").replace(']', "%5D");
            assert!(
                form.contains(part) || form.contains(&encoded),
                "{part} in {form}"
            );
        }
    }

    #[test]
    fn the_page_policy_names_only_stripes_origins() {
        assert_eq!(
            origin_of("https://js.stripe.com/v3/"),
            "https://js.stripe.com"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8420/js.stripe.com/v3/"),
            "http://127.0.0.1:8420"
        );
    }
}
