//! Server-rendered pages (askama, escaped by default) and the view models they read, one file
//! per part of the product; `format` holds how money, times and Markdown are shown.

pub mod accounts;
pub mod audit;
pub mod bookings;
pub mod calendar;
pub mod catalogue;
pub mod consent;
pub mod email;
pub mod erasure;
pub mod format;
pub mod insights;
pub mod legal;
pub mod payments;
pub mod portfolio;
pub mod settings;

pub use accounts::*;
pub use bookings::*;
pub use catalogue::*;
pub use portfolio::*;
pub use settings::*;

use crate::error::{ErrorReport, FieldError};
use crate::state::{AppState, BuildInfo};
use askama::Template;
use storage::User;

/// What the shared layout needs: asset URLs, the signed-in user and the CSRF token for sign-out.
pub struct Layout {
    pub css: String,
    pub favicon: String,
    pub version: &'static str,
    pub user: Option<UserBadge>,
    pub csrf: String,
    /// What the last form did, shown once at the top of the next page.
    pub notice: Option<String>,
    /// The signed-in person has not accepted the current terms or privacy policy.
    pub legal_update: bool,
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
            notice: None,
            legal_update: false,
        }
    }
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
