//! The admin's view of the audit log.

use super::Layout;
use askama::Template;

/// One entry as the page shows it.
pub struct AuditRow {
    pub seq: i64,
    pub when: String,
    pub action: String,
    pub actor: String,
    pub subject: String,
    pub ip: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub actions: Vec<&'static str>,
    /// The filters as given, to keep them in the form and the next page's link.
    pub action: String,
    pub user: String,
    pub from: String,
    pub to: String,
    pub rows: Vec<AuditRow>,
    /// The query string of the next (older) page, when there is one.
    pub older: Option<String>,
}
