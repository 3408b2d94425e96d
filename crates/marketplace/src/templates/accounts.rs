//! The account pages: sign-up, sign-in, second factor, password reset, account and admin.

use super::Layout;
use crate::error::FieldError;
use askama::Template;
use storage::CatalogueCounts;

#[derive(Template)]
#[template(path = "sign_up.html")]
pub struct SignUpPage {
    pub layout: Layout,
    pub errors: Vec<FieldError>,
    pub display_name: String,
    pub email: String,
    pub role: String,
}

#[derive(Template)]
#[template(path = "two_factor_sign_in.html")]
pub struct TwoFactorSignInPage {
    pub layout: Layout,
    pub next: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "two_factor.html")]
pub struct TwoFactorPage {
    pub layout: Layout,
    pub enabled: bool,
    /// While setting up: the new key and its enrolment URL.
    pub secret: String,
    pub url: String,
    /// Right after turning it on: the recovery codes, shown once.
    pub recovery: Vec<String>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "forgot_password.html")]
pub struct ForgotPasswordPage {
    pub layout: Layout,
    pub sent: bool,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
pub struct ResetPasswordPage {
    pub layout: Layout,
    pub token: String,
    pub errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "check_email.html")]
pub struct CheckEmailPage {
    pub layout: Layout,
    pub email: String,
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
    /// (id, name) of the OpenID providers offered.
    pub providers: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub layout: Layout,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub member_since: String,
    pub email_verified: bool,
    /// A new verification link was just sent.
    pub link_sent: bool,
    /// (id, name, email it is linked with) of every provider.
    pub providers: Vec<(String, String, Option<String>)>,
    /// A provider was just linked.
    pub linked: bool,
    pub is_client: bool,
    pub is_artist: bool,
    /// The copies of their data the person asked for, newest first.
    pub exports: Vec<ExportRow>,
    /// The person's deletion request, while one is under way.
    pub erasure: Option<super::erasure::ErasureView>,
}

/// One data export on the account page.
pub struct ExportRow {
    pub id: i64,
    pub requested: String,
    pub due: String,
    /// What the person can do with it now, in words.
    pub status: String,
    pub downloadable: bool,
}

#[derive(Template)]
#[template(path = "link_account.html")]
pub struct LinkAccountPage {
    pub layout: Layout,
    pub provider: String,
    pub email: String,
    pub signed_in: bool,
}

/// A signed-in browser, as the sessions page lists it.
pub struct DeviceView {
    pub id: String,
    pub label: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    pub layout: Layout,
    pub devices: Vec<DeviceView>,
    pub ended: bool,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub layout: Layout,
    pub counts: CatalogueCounts,
    pub bookings: Vec<(&'static str, i64)>,
}

#[derive(Template)]
#[template(path = "profile.html")]
pub struct ProfilePage {
    pub layout: Layout,
    pub name: String,
    pub errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    pub layout: Layout,
    /// (kind, label, on) of every optional email.
    pub choices: Vec<(&'static str, &'static str, bool)>,
}
