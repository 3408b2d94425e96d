//! The whole marketplace journey in real Chromium: an artist sets up a profile; a client signs
//! up, searches, opens the artist and sends a request; quote, acceptance, deposit, scheduling,
//! consent, completion and a review follow, each through the pages. Screenshots of the main
//! pages are saved for CI to keep.

use crate::browser::{browser, text_of, wait_for_path};
use crate::helpers::PASSWORD;
use fantoccini::{Client, Locator};
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use storage::testing::TestDb;

type Result<T = ()> = std::result::Result<T, fantoccini::error::CmdError>;

fn screenshot_dir() -> PathBuf {
    std::env::var_os("TM_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
        })
}

/// Saves a screenshot of a main page, after checking it is usable with a keyboard and a screen
/// reader: every visible form control has a label and the page has exactly one `h1`. The card
/// fields Stripe.js draws are Stripe's (labelled inside its frame; the test double's are bare).
pub(crate) async fn shot(c: &Client, name: &str) -> Result {
    let unlabelled = c
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')] \
             .filter(i => !i.closest('#card-element')) \
             .filter(i => !(i.labels && i.labels.length)).map(i => i.name || i.id)",
            vec![],
        )
        .await?;
    assert_eq!(
        unlabelled,
        serde_json::json!([]),
        "{name}: controls without a label"
    );
    let h1s = c.find_all(Locator::Css("h1")).await?.len();
    assert_eq!(h1s, 1, "{name}: one h1 per page");
    let png = c.screenshot().await?;
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("create screenshot folder");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    Ok(())
}

pub(crate) async fn fill(c: &Client, id: &str, text: &str) -> Result {
    let field = c.find(Locator::Id(id)).await?;
    field.clear().await?;
    field.send_keys(text).await
}

/// Sets a value the way a picker would (date, time and select inputs vary by locale).
async fn set(c: &Client, id: &str, value: &str) -> Result {
    c.execute(
        "document.getElementById(arguments[0]).value = arguments[1]",
        vec![id.into(), value.into()],
    )
    .await
    .map(drop)
}

async fn click(c: &Client, css: &str) -> Result {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await?
        .click()
        .await
}

/// Polls until `css` contains `expected`, since submitting returns before the next page loads.
async fn wait_text(c: &Client, css: &str, expected: &str) -> String {
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && t.contains(expected)
        {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = c.source().await.unwrap_or_default();
    panic!("{css} never showed {expected:?}; page:\n{page}");
}

/// Signs up, then follows the link in the confirmation email, as a person would.
async fn sign_up(c: &Client, base: &str, mail: &Path, who: (&str, &str), role: &str) -> Result {
    let (name, email) = who;
    c.goto(&format!("{base}/sign-up")).await?;
    fill(c, "display_name", name).await?;
    fill(c, "email", email).await?;
    fill(c, "password", PASSWORD).await?;
    click(c, &format!("input[name=role][value={role}]")).await?;
    click(c, "form button[type=submit]").await?;
    wait_text(c, "h1", "Check your inbox").await;
    let message = crate::helpers::email_containing(mail, email, "verify-email?token=").await;
    let link = message
        .split_whitespace()
        .find(|w| w.contains("/verify-email?token="))
        .expect("a confirmation link");
    let path = &link[link.find("/verify-email").expect("a path")..];
    c.goto(&format!("{base}{path}")).await?;
    wait_for_path(c, "/account").await;
    Ok(())
}

async fn sign_out(c: &Client) -> Result {
    click(c, ".nav button").await?;
    wait_for_path(c, "/").await;
    Ok(())
}

async fn sign_in(c: &Client, base: &str, email: &str, next: &str) -> Result {
    c.goto(&format!("{base}{next}")).await?;
    wait_for_path(c, "/sign-in").await;
    fill(c, "email", email).await?;
    fill(c, "password", PASSWORD).await?;
    click(c, "form button[type=submit]").await?;
    wait_for_path(c, next).await;
    Ok(())
}

async fn journey(c: &Client, base: &str, db: &TestDb, mail: &Path) -> Result {
    // The artist sets up a profile and policy.
    sign_up(c, base, mail, ("Ines Moreau", "ines@example.com"), "artist").await?;
    c.goto(&format!("{base}/dashboard/profile")).await?;
    fill(c, "slug", "ines-moreau").await?;
    fill(c, "bio", "Fine line botanicals and small script.").await?;
    fill(c, "city", "Lyon").await?;
    fill(c, "country", "FR").await?;
    set(c, "jurisdiction", "FR").await?;
    // Styles, currency and time zone are picked, not typed.
    click(c, "input[name='style_fine-line']").await?;
    click(c, "input[name='style_lettering']").await?;
    fill(c, "price_min", "120").await?;
    fill(c, "price_max", "900").await?;
    fill(c, "hourly_rate", "150").await?;
    set(c, "time_zone", "Europe/Paris").await?;
    click(c, "form[action='/dashboard/profile'] button[type=submit]").await?;
    wait_text(c, ".notice", "Saved").await;
    shot(c, "artist-settings").await?;
    sign_out(c).await?;

    // The client signs up, searches, opens the artist and sends a request.
    sign_up(c, base, mail, ("Theo Blanc", "theo@example.com"), "client").await?;
    c.goto(&format!("{base}/search")).await?;
    fill(c, "q", "botanicals").await?;
    click(c, ".search-form button[type=submit]").await?;
    wait_text(c, "#result-count", "1 artist found").await;
    shot(c, "search").await?;
    click(c, "a[href='/artists/ines-moreau']").await?;
    wait_text(c, "h1", "Ines Moreau").await;
    shot(c, "artist").await?;
    click(c, "a[href='/artists/ines-moreau/book']").await?;
    fill(
        c,
        "idea",
        "A sprig of lavender with my daughter's name in script",
    )
    .await?;
    set(c, "placement", "forearm").await?;
    click(c, "input[name=size][value=M]").await?;
    fill(c, "budget", "300").await?;
    set(c, "date_of_birth", "1991-06-15").await?;
    // A reference image, uploaded through the file input as a person would.
    let reference = std::env::temp_dir().join(format!("tm-reference-{}.png", std::process::id()));
    image::RgbImage::from_pixel(64, 64, image::Rgb([120, 80, 200]))
        .save(&reference)
        .expect("write reference image");
    c.find(Locator::Id("references"))
        .await?
        .send_keys(&reference.display().to_string())
        .await?;
    shot(c, "request-form").await?;
    click(c, "form[action$='/book'] button[type=submit]").await?;
    wait_text(c, "#booking-state", "Waiting for the artist").await;
    wait_text(c, "#notice", "Request sent").await;
    let refs = c.find_all(Locator::Css(".refs img")).await?;
    assert_eq!(refs.len(), 1, "the reference image is on the request");
    let path = c.current_url().await?.path().to_owned();
    assert!(path.starts_with("/bookings/"), "{path}");
    sign_out(c).await?;

    // The artist quotes.
    sign_in(c, base, "ines@example.com", &path).await?;
    fill(c, "price_min", "250").await?;
    fill(c, "price_max", "320").await?;
    click(c, "#quote-form button[type=submit]").await?;
    wait_text(c, "#booking-state", "Quote received").await;
    wait_text(c, "#notice", "Quote sent").await;
    assert!(
        text_of(c, "#quote").await.contains("deposit €50"),
        "20% of €250 by policy"
    );
    // Until the client accepts, the artist can change the terms.
    click(c, "#revise-quote summary").await?;
    fill(c, "r_price_min", "260").await?;
    click(c, "#revise-form button[type=submit]").await?;
    wait_text(c, "#notice", "Quote revised").await;
    wait_text(c, "#quote", "€260").await;
    sign_out(c).await?;

    // The client accepts.
    sign_in(c, base, "theo@example.com", &path).await?;
    click(c, "#accept-quote").await?;
    wait_text(c, "#booking-state", "Deposit due").await;
    wait_text(c, "#notice", "Quote accepted").await;
    // The history reads as sentences in the artist's zone, not state codes.
    let history = text_of(c, ".history").await;
    assert!(
        history.contains("Ines Moreau sent a quote. Now: Quote received.")
            && history.contains("Theo Blanc accepted the quote. Now: Deposit due.")
            && history.contains("CE"),
        "{history}"
    );
    assert!(
        !history.contains('_') && !history.contains('→'),
        "{history}"
    );
    c.refresh().await?;
    assert!(
        c.find_all(Locator::Id("notice")).await?.is_empty(),
        "a confirmation shows once"
    );

    // The client pays the deposit by card: Stripe.js (localstripe's here) takes the card, the
    // marketplace confirms the payment, and Stripe's webhook books the request.
    click(c, "#pay-deposit").await?;
    wait_text(c, "#deposit-amount", "Deposit").await;
    for (field, value) in [
        ("number", "4242424242424242"),
        ("exp_month", "12"),
        ("exp_year", "34"),
        ("cvc", "123"),
        ("postal_code", "75011"),
    ] {
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(&format!(
                "#card-element input[placeholder={field}]"
            )))
            .await?
            .send_keys(value)
            .await?;
    }
    shot(c, "pay-deposit").await?;
    click(c, "#pay-button").await?;
    wait_text(c, "#notice", "Payment received").await;
    let mut booked = false;
    for _ in 0..100 {
        if text_of(c, "#booking-state").await.contains("Booked") {
            booked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.refresh().await?;
    }
    assert!(booked, "Stripe's webhook books the request");
    wait_text(c, "#ledger", "Deposit paid by card (Stripe)").await;
    shot(c, "deposit-paid").await?;
    show_email(
        c,
        mail,
        "theo@example.com",
        "payment reference",
        "email-receipt",
    )
    .await?;
    c.goto(base).await?;
    sign_out(c).await?;

    // The client, in New York, sees the free times in both zones and proposes two.
    sign_in(c, base, "theo@example.com", "/dashboard").await?;
    wait_text(c, "table.list", "Propose times for your session").await;
    c.goto(&format!("{base}{path}")).await?;
    set(c, "tz", "America/New_York").await?;
    click(c, "#propose form[method=get] button[type=submit]").await?;
    let first = wait_text(c, "#propose-form label.choice", "(your time:").await;
    assert!(first.contains("CET") && first.contains("EST"), "{first}");
    let boxes = c
        .find_all(Locator::Css("#propose-form input[type=checkbox]"))
        .await?;
    assert!(boxes.len() >= 2, "free times are offered");
    for b in boxes.iter().take(2) {
        b.click().await?;
    }
    shot(c, "propose-times").await?;
    click(c, "#propose-form button[type=submit]").await?;
    wait_text(c, "#notice", "Times proposed").await;
    let proposed = text_of(c, "#proposals li").await;
    sign_out(c).await?;

    // The artist confirms the first proposed time; it becomes the session.
    sign_in(c, base, "ines@example.com", &path).await?;
    wait_text(c, "#proposals", "proposed these times").await;
    click(c, ".confirm-proposal").await?;
    wait_text(c, "#notice", "Session scheduled at the proposed time").await;
    wait_text(c, ".session-state", "consent form to sign").await;
    let when = text_of(c, ".session strong").await;
    assert!(
        proposed.starts_with(&when) && when.contains(" CE"),
        "the proposed time, shown in Paris time: {when} / {proposed}"
    );
    assert!(
        c.find_all(Locator::Id("proposals")).await?.is_empty(),
        "proposals are spent"
    );
    shot(c, "booking-artist").await?;
    // Each party can add the session to a calendar.
    let invite_href = c
        .find(Locator::Css(".session-invite"))
        .await?
        .attr("href")
        .await?
        .expect("an invite link");
    let fetched = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(async r => done([r.status, r.headers.get('content-type'),
               (await r.text()).includes('BEGIN:VEVENT')]));",
            vec![invite_href.into()],
        )
        .await?;
    assert_eq!(
        fetched,
        serde_json::json!([200, "text/calendar; charset=utf-8", true])
    );
    sign_out(c).await?;

    // The client's invitation says when, what to do next, and carries the calendar invite.
    let invitation = show_email(
        c,
        mail,
        "theo@example.com",
        "scheduled a session",
        "email-invite",
    )
    .await?;
    assert!(
        invitation.contains("When: ") && invitation.contains("Sign the consent form"),
        "{invitation}"
    );
    assert!(invitation.contains("text/calendar") && invitation.contains("invite.ics"));
    c.goto(base).await?;

    // The client signs the consent form.
    sign_in(c, base, "theo@example.com", &path).await?;
    click(c, "input[name=confirms_age]").await?;
    click(c, "input[name=aftercare_acknowledged]").await?;
    let ap = session_id(c).await?;
    fill(c, &format!("allergies-{ap}"), "Latex gloves").await?;
    fill(
        c,
        &format!("medical-{ap}"),
        "Takes antihistamines in spring",
    )
    .await?;
    shot(c, "consent-form").await?;
    click(c, ".consent-form button[type=submit]").await?;
    wait_text(c, ".session-state", "Confirmed").await;
    let session: i64 = session_id(c).await?.parse().expect("a numeric session id");
    sign_out(c).await?;

    // Before the session, the artist reads the signed answers, allergies first and highlighted,
    // and keeps the signed form as a PDF.
    sign_in(c, base, "ines@example.com", &path).await?;
    let allergies = text_of(c, &format!("#consent-allergies-{session}")).await;
    assert!(allergies.contains("Latex gloves"), "{allergies}");
    let medical = text_of(c, &format!("#consent-medical-{session}")).await;
    assert!(medical.contains("antihistamines"), "{medical}");
    c.execute(
        "document.getElementById(arguments[0]).scrollIntoView()",
        vec![format!("consent-{session}").into()],
    )
    .await?;
    shot(c, "consent-artist").await?;
    let href = c
        .find(Locator::Css(".consent-pdf"))
        .await?
        .attr("href")
        .await?
        .expect("a link to the PDF");
    let fetched = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(async r => done([r.status, r.headers.get('content-type'),
               new TextDecoder('latin1').decode((await r.arrayBuffer()).slice(0, 5))]));",
            vec![href.into()],
        )
        .await?;
    assert_eq!(
        fetched,
        serde_json::json!([200, "application/pdf", "%PDF-"])
    );

    // The day before, both are reminded, with the session's time and invite.
    let tomorrow = time::OffsetDateTime::now_utc().unix_timestamp() + 20 * 3600;
    db.execute(&format!(
        "UPDATE appointments SET ends_at = ends_at - starts_at + {tomorrow}, starts_at = {tomorrow} \
         WHERE id = {session}"
    ))
    .await
    .expect("move the session to tomorrow");
    let reminder = show_email(
        c,
        mail,
        "theo@example.com",
        "is less than a day away",
        "email-reminder",
    )
    .await?;
    assert!(
        reminder.contains("Eat beforehand") && reminder.contains("invite.ics"),
        "{reminder}"
    );
    crate::helpers::email_containing(mail, "ines@example.com", "is less than a day away").await;
    c.goto(&format!("{base}{path}")).await?;

    // The day comes, and the artist completes the session.
    db.start_session(session).await;
    c.refresh().await?;
    click(c, "form[action$='/complete'] button").await?;
    wait_text(c, ".session-state", "Completed").await;
    sign_out(c).await?;

    // The client reviews, and the rating shows on the profile.
    sign_in(c, base, "theo@example.com", "/dashboard").await?;
    wait_text(c, "table.list", "Leave a review").await;
    shot(c, "dashboard-client").await?;
    c.goto(&format!("{base}{path}")).await?;
    fill(c, "review-body", "Delicate linework, healed beautifully.").await?;
    click(c, "#review-form button[type=submit]").await?;
    wait_text(c, "#review-heading", "Review").await;
    c.goto(&format!("{base}/artists/ines-moreau")).await?;
    wait_text(c, ".rating", "5.00 ★ from 1 reviews").await;
    wait_text(c, ".reviews", "Delicate linework").await;
    shot(c, "artist-reviewed").await?;
    Ok(())
}

/// Opens the HTML part of the email to `to` containing `needle` in the browser, screenshots it
/// as `name`, and returns the whole raw email.
async fn show_email(c: &Client, mail: &Path, to: &str, needle: &str, name: &str) -> Result<String> {
    let raw = crate::helpers::email_containing(mail, to, needle).await;
    let original = std::fs::read_dir(mail)
        .expect("the mail folder")
        .filter_map(std::result::Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .find(|m| {
            raw.contains(
                &m.replace("=\r\n", "")
                    .replace("=\n", "")
                    .replace("=3D", "="),
            )
        })
        .expect("the email file");
    let html_part = original
        .split("Content-Type: text/html; charset=utf-8")
        .nth(1)
        .and_then(|part| {
            part.split("\r\n\r\n")
                .nth(1)
                .or_else(|| part.split("\n\n").nth(1))
        })
        .and_then(|body| body.split("\r\n--").next())
        .expect("an HTML part");
    let html = quoted_printable::decode(html_part, quoted_printable::ParseMode::Robust)
        .expect("quoted-printable HTML");
    let file = mail.join(format!("{name}.html"));
    std::fs::write(&file, html).expect("write the email's HTML");
    c.goto(&format!("file://{}", file.display())).await?;
    let png = c.screenshot().await?;
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("create screenshot folder");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    Ok(raw)
}

async fn session_id(c: &Client) -> Result<String> {
    let id = c
        .find(Locator::Css(".session"))
        .await?
        .attr("id")
        .await?
        .unwrap_or_default();
    Ok(id.trim_start_matches("session-").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_books_reviews_and_an_artist_quotes_schedules_and_completes_in_a_real_browser() {
    let Some((_driver, c)) = browser().await else {
        return;
    };
    let stripe = crate::payments::LocalStripe::start().await;
    let app = crate::payments::app_with_stripe(TestDb::sqlite(), &stripe).await;
    let result = journey(&c, &app.address, &app.db, &app.media.path().join("mail")).await;
    if result.is_err() {
        let _ = shot(&c, "failure").await;
    }
    c.close().await.ok();
    result.expect("the booking journey");
}
