//! The "Delete my account" page and the emailed "keep my account" page.

use super::Layout;
use askama::Template;

/// The person's erasure request as the page shows it.
pub struct ErasureView {
    pub requested: String,
    /// When the grace period ends and the account is deleted.
    pub erase_after: String,
    /// The legal deadline.
    pub due: String,
    /// What is happening, in words.
    pub status: String,
    /// It can still be called off.
    pub cancellable: bool,
}

/// One jurisdiction's period for keeping signed consent forms.
pub struct KeptFor {
    pub name: String,
    pub years: u8,
}

#[derive(Template)]
#[template(path = "erasure.html")]
pub struct ErasurePage {
    pub layout: Layout,
    pub grace_days: u32,
    pub request: Option<ErasureView>,
    /// Booking requests still open, which must be cancelled or finished first.
    pub active: Vec<i64>,
    pub errors: Vec<String>,
    pub kept_for: Vec<KeptFor>,
    pub default_years: u8,
}

#[derive(Template)]
#[template(path = "erasure_keep.html")]
pub struct KeepAccountPage {
    pub layout: Layout,
    pub token: String,
    pub done: bool,
}
