//! The legal pages: terms, privacy policy, cookies, "do not sell or share", and accepting a new
//! version of the terms.

use super::Layout;
use askama::Template;

/// A document people accept. Change its text only together with its version: the version's
/// digest is stored when first published, and a changed text under an old version stops startup.
pub struct LegalDocument {
    pub key: &'static str,
    pub title: &'static str,
    pub version: &'static str,
    /// What changed in this version, told to people asked to accept it again.
    pub changes: &'static str,
    source: &'static str,
}

pub const TERMS: LegalDocument = LegalDocument {
    key: "terms",
    title: "Terms of service",
    version: "2026-12-01",
    changes: "The first published version.",
    source: include_str!("../../templates/legal/terms.html"),
};

pub const PRIVACY: LegalDocument = LegalDocument {
    key: "privacy",
    title: "Privacy policy",
    version: "2026-12-02",
    changes: "You can now download a copy of your data and delete your account yourself, from \
              your account page or our API; the deletion page lists what the law makes us keep.",
    source: include_str!("../../templates/legal/privacy.html"),
};

pub const DOCUMENTS: [&LegalDocument; 2] = [&TERMS, &PRIVACY];

impl LegalDocument {
    pub fn digest(&self) -> String {
        crate::auth::sha256_hex(self.source.as_bytes())
    }
}

#[derive(Template)]
#[template(path = "legal/terms.html")]
pub struct TermsPage {
    pub layout: Layout,
    pub version: &'static str,
}

#[derive(Template)]
#[template(path = "legal/privacy.html")]
pub struct PrivacyPage {
    pub layout: Layout,
    pub version: &'static str,
}

#[derive(Template)]
#[template(path = "legal/cookies.html")]
pub struct CookiesPage {
    pub layout: Layout,
    pub idle_hours: i64,
}

#[derive(Template)]
#[template(path = "legal/do_not_sell.html")]
pub struct DoNotSellPage {
    pub layout: Layout,
    pub signed_in: bool,
    pub gpc: bool,
    pub do_not_sell: bool,
    pub from_gpc: bool,
    pub since: String,
}

#[derive(Template)]
#[template(path = "legal/updated.html")]
pub struct UpdatedTermsPage {
    pub layout: Layout,
    pub documents: Vec<&'static LegalDocument>,
    pub next: String,
}

#[derive(Template)]
#[template(path = "legal/retention.html")]
pub struct RetentionPage {
    pub layout: Layout,
    pub reference_photos_days: u32,
    pub message_bodies_days: u32,
    pub unverified_accounts_days: u32,
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
pub struct UnsubscribePage {
    pub layout: Layout,
    pub label: &'static str,
    /// The link's query, for the button's one-click POST.
    pub query: String,
    pub done: bool,
}
