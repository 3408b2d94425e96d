//! Server-rendered pages (askama, escaped by default) and the view models they read.

use crate::error::{ErrorReport, FieldError};
use crate::state::{AppState, BuildInfo};
use askama::Template;
use storage::{ArtistCard, CatalogueCounts, User};

/// What the shared layout needs: asset URLs, the signed-in user and the CSRF token for sign-out.
pub struct Layout {
    pub css: String,
    pub favicon: String,
    pub version: &'static str,
    pub user: Option<UserBadge>,
    pub csrf: String,
}

pub struct UserBadge {
    pub name: String,
    pub is_admin: bool,
}

impl Layout {
    pub fn new(state: &AppState, user: Option<&User>, csrf: Option<String>) -> Self {
        Self {
            css: state.assets.url("app.css"),
            favicon: state.assets.url("favicon.svg"),
            version: BuildInfo::VERSION,
            user: user.map(|u| UserBadge {
                name: u.display_name.as_str().to_owned(),
                is_admin: u.role == domain::Role::Admin,
            }),
            csrf: csrf.unwrap_or_default(),
        }
    }
}

pub struct ArtistCardView {
    pub name: String,
    pub place: String,
    pub studio: Option<String>,
    pub styles: String,
    pub price: String,
    pub books_open: bool,
    pub thumb_url: Option<String>,
}

fn money(cents: i64) -> String {
    format!("€{}", cents / 100)
}

impl From<ArtistCard> for ArtistCardView {
    fn from(a: ArtistCard) -> Self {
        Self {
            place: format!("{}, {}", a.city, a.country),
            styles: a
                .styles
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()
                .join(" · "),
            price: format!("{}–{}", money(a.price_min_cents), money(a.price_max_cents)),
            thumb_url: a.thumb_path.map(|p| format!("/media/{p}")),
            name: a.display_name,
            studio: a.studio_name,
            books_open: a.books_open,
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub layout: Layout,
    pub counts: CatalogueCounts,
    pub styles: Vec<&'static str>,
    pub artists: Vec<ArtistCardView>,
}

#[derive(Template)]
#[template(path = "sign_up.html")]
pub struct SignUpPage {
    pub layout: Layout,
    pub errors: Vec<FieldError>,
    pub display_name: String,
    pub email: String,
    pub role: String,
}

pub struct DemoAccount {
    pub email: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub layout: Layout,
    pub error: Option<String>,
    pub email: String,
    pub next: String,
    pub demo_accounts: Vec<DemoAccount>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub member_since: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub layout: Layout,
    pub counts: CatalogueCounts,
    pub bookings: Vec<(&'static str, i64)>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    title: &'a str,
    detail: &'a str,
    errors: &'a [FieldError],
}

/// The HTML body for an error response.
pub fn error_page(report: &ErrorReport, state: &AppState) -> String {
    ErrorPage {
        layout: Layout::new(state, None, None),
        status: report.status.as_u16(),
        title: report.status.canonical_reason().unwrap_or("Error"),
        detail: &report.detail,
        errors: &report.errors,
    }
    .render()
    .unwrap_or_else(|_| format!("<h1>{}</h1>", report.status))
}
