//! The deposit's card form and the artist's payouts page.

use super::Layout;
use askama::Template;

#[derive(Template)]
#[template(path = "pay.html")]
pub struct PayPage {
    pub layout: Layout,
    pub booking_id: i64,
    pub artist_name: String,
    /// Formatted in the artist's currency.
    pub amount: String,
    pub deadline: Option<String>,
    /// What happens to the deposit if plans change, from the artist's policy.
    pub terms: String,
    pub failure: Option<String>,
    pub publishable_key: String,
    pub stripe_js: String,
    pub pay_js: String,
}

#[derive(Template)]
#[template(path = "payouts.html")]
pub struct PayoutsPage {
    pub layout: Layout,
    /// Whether card payments are set up on this site at all.
    pub enabled: bool,
    pub account: Option<String>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
}
