//! Real Chromium (through chromedriver) walking the account pages, with the strict CSP in force.

use crate::helpers::{PASSWORD, spawn_app};
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use storage::testing::TestDb;

/// A chromedriver on a free port, stopped when dropped.
pub(crate) struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now, for a helper process to bind.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver; `None` (outside CI) when it is not installed.
pub(crate) async fn browser() -> Option<(Driver, Client)> {
    let port = free_port();
    let child = match Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping browser test: chromedriver not available ({e})");
            return None;
        }
        Err(e) => panic!("chromedriver is required in CI: {e}"),
    };
    let profile = tempfile::tempdir().unwrap();
    let profile_dir = profile.path().display().to_string();
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1200,900",
                format!("--user-data-dir={profile_dir}"),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return Some((driver, client)),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("chromedriver did not accept a session at {url}");
}

/// Waits for the element, since a click that submits a form returns before the next page loads.
pub(crate) async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the element's text holds `needle`: after a form posts back to its own address,
/// the old page answers `text_of` until the new one has loaded.
pub(crate) async fn wait_for_text(c: &Client, css: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(text) = e.text().await
        {
            if text.contains(needle) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never read {needle:?}; it reads {last:?}");
}

pub(crate) async fn wait_for_path(c: &Client, path: &str) {
    for _ in 0..100 {
        if c.current_url().await.unwrap().path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "browser never reached {path}; it is at {}",
        c.current_url().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_signs_up_signs_out_and_signs_back_in_in_a_real_browser() {
    let Some((_driver, c)) = browser().await else {
        return;
    };
    let app = spawn_app(TestDb::sqlite()).await;
    let result = async {
        c.goto(&app.url("/")).await?;
        // The stylesheet loaded under the CSP: the header is dark, not the browser default.
        let header_bg: serde_json::Value = c
            .execute(
                "return getComputedStyle(document.querySelector('.site-header')).backgroundColor",
                vec![],
            )
            .await?;
        assert_eq!(header_bg, "rgb(28, 26, 32)", "app.css was applied");

        c.find(Locator::LinkText("Join")).await?.click().await?;
        text_of(&c, "#display_name").await;
        c.find(Locator::Id("display_name"))
            .await?
            .send_keys("Browser Person")
            .await?;
        c.find(Locator::Id("email"))
            .await?
            .send_keys("browser@example.com")
            .await?;
        c.find(Locator::Id("password"))
            .await?
            .send_keys("short")
            .await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        let alert = text_of(&c, ".alert").await;
        assert!(alert.contains("at least 12 characters"), "{alert}");

        c.find(Locator::Id("password"))
            .await?
            .send_keys(PASSWORD)
            .await?;
        c.find(Locator::Css("input[name=role][value=artist]"))
            .await?
            .click()
            .await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        // The confirmation email's link signs the new account in.
        wait_for_text(&c, "h1", "Check your inbox").await;
        let mail = crate::helpers::email_containing(
            &app.media.path().join("mail"),
            "browser@example.com",
            "verify-email?token=",
        )
        .await;
        let link = mail
            .split_whitespace()
            .find(|w| w.contains("/verify-email?token="))
            .expect("a confirmation link");
        c.goto(&app.url(&link[link.find("/verify-email").unwrap()..]))
            .await?;
        wait_for_path(&c, "/account").await;
        let facts = text_of(&c, ".facts").await;
        assert!(
            facts.contains("browser@example.com") && facts.contains("Artist"),
            "{facts}"
        );

        c.find(Locator::Css(".nav button")).await?.click().await?;
        wait_for_path(&c, "/").await;
        text_of(&c, "a[href='/sign-in']").await;
        c.goto(&app.url("/account")).await?;
        wait_for_path(&c, "/sign-in").await;

        c.find(Locator::Id("email"))
            .await?
            .send_keys("browser@example.com")
            .await?;
        c.find(Locator::Id("password"))
            .await?
            .send_keys(PASSWORD)
            .await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_for_path(&c, "/account").await;
        assert!(text_of(&c, ".facts").await.contains("browser@example.com"));
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    c.close().await.ok();
    result.expect("browser flow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_can_be_used_with_the_keyboard_alone() {
    let Some((_driver, c)) = browser().await else {
        return;
    };
    let app = spawn_app(TestDb::sqlite()).await;
    let result = async {
        c.goto(&app.url("/sign-in")).await?;
        // The first Tab lands on the skip link, which jumps to the main content.
        let active = |c: &Client| {
            let c = c.clone();
            async move {
                c.execute("return document.activeElement.textContent.trim()", vec![])
                    .await
            }
        };
        c.active_element().await?.send_keys("\u{E004}").await?;
        assert_eq!(active(&c).await?, "Skip to content");
        let labels: serde_json::Value = c
            .execute(
                "return [...document.querySelectorAll('input:not([type=hidden])')].every(i => i.labels && i.labels.length > 0)",
                vec![],
            )
            .await?;
        assert_eq!(labels, true, "every visible input has a label");
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    c.close().await.ok();
    result.expect("keyboard flow");
}
