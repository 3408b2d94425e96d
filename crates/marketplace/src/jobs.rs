//! Background jobs every instance runs: the deadline sweep (expired requests), session reminders
//! (48 h and 24 h before), the healed-photo prompt some weeks after a session, and the outbox
//! worker (notification email). All are safe to run on several instances at once: the store
//! marks each reminder and expiry on its row and leases outbox rows to one worker at a time.

use crate::clock::now;
use crate::config::{MailSettings, MailTransport};
use crate::state::AppState;
use anyhow::Context;
use lettre::message::{Attachment, Mailbox, MultiPart, header::ContentType};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use std::time::Duration;
use tracing::Instrument;

/// How long one worker holds a claimed email before another may retry it.
const LEASE_SECS: i64 = 120;
/// After this many attempts an email is parked for an operator instead of retried.
const MAX_ATTEMPTS: i64 = 10;

/// Where emails go.
#[derive(Clone)]
pub enum Mailer {
    Folder(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    pub fn from_settings(mail: &MailSettings) -> anyhow::Result<Self> {
        match mail.transport {
            MailTransport::Folder => {
                std::fs::create_dir_all(&mail.folder).with_context(|| {
                    format!("creating the mail folder {}", mail.folder.display())
                })?;
                Ok(Mailer::Folder(AsyncFileTransport::new(&mail.folder)))
            }
            MailTransport::Smtp => {
                let url = mail.smtp_url.as_ref().context(
                    "mail.smtp_url (TM_MAIL_SMTP_URL) is required for the smtp transport",
                )?;
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .context("mail.smtp_url is not a valid smtp:// or smtps:// URL")?
                    .timeout(Some(Duration::from_secs(20)))
                    .build();
                Ok(Mailer::Smtp(transport))
            }
        }
    }

    async fn send(&self, message: Message) -> anyhow::Result<()> {
        match self {
            Mailer::Folder(t) => t
                .send(message)
                .await
                .map(drop)
                .context("writing the email file"),
            Mailer::Smtp(t) => t.send(message).await.map(drop).context("SMTP delivery"),
        }
    }
}

/// Exponential backoff from 30 s, capped at 6 h.
pub fn retry_delay(attempts: i64) -> i64 {
    30i64
        .saturating_mul(1 << attempts.clamp(0, 10))
        .min(6 * 3600)
}

/// The one-click unsubscribe address of an optional email (RFC 8058), signed for its recipient
/// and kind; `None` for emails people cannot turn off.
pub fn unsubscribe_url(
    mail: &MailSettings,
    links: &crate::auth::email_link::LinkSigner,
    n: &storage::Notification,
    now: i64,
) -> Option<String> {
    if !crate::templates::email::OPTIONAL
        .iter()
        .any(|(k, _)| *k == n.kind)
    {
        return None;
    }
    // A year: long enough for an old email to still work, short of forever.
    let token = links.sign(
        crate::auth::email_link::Purpose::Unsubscribe,
        n.recipient_id.get(),
        &n.kind,
        now + 365 * 86_400,
    );
    let query =
        serde_urlencoded::to_string([("token", token.as_str()), ("kind", n.kind.as_str())]).ok()?;
    Some(format!(
        "{}/unsubscribe?{query}",
        mail.public_url.trim_end_matches('/')
    ))
}

fn build_message(
    mail: &MailSettings,
    n: &storage::Notification,
    unsubscribe: Option<String>,
) -> anyhow::Result<Message> {
    let from: Mailbox = mail
        .from
        .parse()
        .context("mail.from is not a valid address")?;
    let to = Mailbox::new(
        Some(n.recipient_name.clone()),
        n.recipient_email.parse().context("recipient address")?,
    );
    let mut email = crate::templates::email::notification_email(n, &mail.public_url)?;
    let domain = mail
        .from
        .rsplit('@')
        .next()
        .unwrap_or("localhost")
        .trim_end_matches('>');
    let mut builder = Message::builder()
        // A stable id per outbox row, so a retry after an unconfirmed send is recognisable as
        // the same email by mail servers and clients.
        .message_id(Some(format!("<outbox-{}@{domain}>", n.id)))
        .from(from)
        .to(to)
        .subject(email.subject.clone());
    if let Some(url) = unsubscribe {
        use lettre::message::header::{HeaderName, HeaderValue};
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
        email.text.push_str(&format!(
            "\n\nTo stop emails like this one, in one click: {url}\n"
        ));
    }
    let message = match (email.html, email.invite) {
        (Some(html), Some(invite)) => {
            let calendar = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
                .context("the invite's content type")?;
            builder.multipart(
                MultiPart::mixed()
                    .multipart(MultiPart::alternative_plain_html(email.text, html))
                    .singlepart(Attachment::new("invite.ics".into()).body(invite, calendar)),
            )
        }
        (Some(html), None) => {
            builder.multipart(MultiPart::alternative_plain_html(email.text, html))
        }
        (None, _) => builder.header(ContentType::TEXT_PLAIN).body(email.text),
    };
    message.context("building the email")
}

/// Delivers the due emails once. Returns how many were sent.
pub async fn deliver_due(state: &AppState, mailer: &Mailer) -> anyhow::Result<usize> {
    let claimed = state
        .store
        .claim_notifications(now(), LEASE_SECS, 20)
        .await?;
    let mut sent = 0;
    for n in claimed {
        let span = tracing::info_span!(parent: None, "outbox.deliver", outbox.kind = n.kind.as_str(), outbox.attempts = n.attempts);
        sent += deliver_one(state, mailer, n).instrument(span).await?;
    }
    Ok(sent)
}

/// Sends one claimed email, or records why not; 1 when it was sent.
async fn deliver_one(
    state: &AppState,
    mailer: &Mailer,
    n: storage::Notification,
) -> anyhow::Result<usize> {
    let count = |outcome: &str| {
        state
            .metrics
            .notifications
            .with_label_values(&[outcome])
            .inc()
    };
    if crate::templates::email::opted_out(&n) {
        state.store.notification_sent(n.id, now()).await?;
        count("skipped");
        return Ok(0);
    }
    let unsubscribe = unsubscribe_url(&state.settings.mail, &state.links, &n, now());
    let result = match build_message(&state.settings.mail, &n, unsubscribe) {
        Ok(message) => mailer.send(message).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            state.store.notification_sent(n.id, now()).await?;
            count("sent");
            Ok(1)
        }
        Err(e) => {
            let parked = n.attempts >= MAX_ATTEMPTS;
            let retry_at = if parked {
                i64::MAX / 2
            } else {
                now() + retry_delay(n.attempts)
            };
            tracing::warn!(outbox_id = n.id, attempts = n.attempts, parked, error = %format!("{e:#}"), "email delivery failed");
            state
                .store
                .notification_failed(n.id, &format!("{e:#}"), retry_at)
                .await?;
            count(if parked { "parked" } else { "failed" });
            Ok(0)
        }
    }
}

/// Runs both jobs every `jobs.interval_ms` until the task is aborted at shutdown.
pub async fn run(state: AppState, mailer: Mailer) {
    let mut every = tokio::time::interval(Duration::from_millis(
        state.settings.jobs.interval_ms.max(100),
    ));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let retention_every = i64::from(state.settings.retention.run_every_minutes) * 60;
    let mut retention_due = 0;
    loop {
        every.tick().await;
        // Most ticks find nothing to do: their spans are exported only when one fails
        // (`sampling.priority = 0`). The work itself (a sweep, an email) starts its own trace.
        let tick = tracing::info_span!("jobs.tick", sampling.priority = 0_i64);
        run_once(&state, &mailer, &mut retention_due, retention_every)
            .instrument(tick)
            .await;
    }
}

async fn run_once(
    state: &AppState,
    mailer: &Mailer,
    retention_due: &mut i64,
    retention_every: i64,
) {
    if now() >= *retention_due {
        let sweep = tracing::info_span!(parent: None, "jobs.retention_sweep");
        match crate::services::retention::sweep(state, now())
            .instrument(sweep)
            .await
        {
            Ok(swept) => {
                *retention_due = now() + retention_every;
                tracing::info!(?swept, "retention sweep done");
            }
            Err(e) => tracing::warn!(error = %e, "retention sweep failed; will retry"),
        }
    }
    match state.store.expire_due(now(), 200).await {
        Ok(expired) if !expired.is_empty() => {
            tracing::info!(
                count = expired.len(),
                "expired requests past their deadline"
            );
            state
                .metrics
                .transitions
                .with_label_values(&["expire"])
                .inc_by(expired.len() as u64);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "deadline sweep failed; will retry"),
    }
    let after = i64::from(state.settings.jobs.healed_prompt_days) * 86_400;
    if let Err(e) = state.store.prompt_healed_photos(now(), after, 200).await {
        tracing::warn!(error = %e, "healed-photo prompts failed; will retry");
    }
    if let Err(e) = state.store.remind_sessions(now(), 200).await {
        tracing::warn!(error = %e, "session reminders failed; will retry");
    }
    match crate::services::payments::refund_unapplied(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "refunded card payments no request took"),
        Err(e) => {
            tracing::warn!(error = %e, "refunds of late card payments failed; will retry")
        }
    }
    if let Err(e) = crate::services::exports::build_next(state).await {
        tracing::warn!(error = %e, "data export failed; will retry");
    }
    if let Err(e) = crate::services::erasure::run_next(state).await {
        tracing::warn!(error = %e, "erasure stopped; it resumes after its lease");
    }
    if let Err(e) = deliver_due(state, mailer).await {
        tracing::warn!(error = %format!("{e:#}"), "outbox worker failed; will retry");
    }
}

#[cfg(test)]
mod tests {
    use super::retry_delay;

    #[test]
    fn retries_back_off_exponentially_up_to_six_hours() {
        assert_eq!(retry_delay(0), 30);
        assert_eq!(retry_delay(1), 60);
        assert_eq!(retry_delay(5), 960);
        assert_eq!(retry_delay(40), 6 * 3600);
    }
}
