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
    pub slug: String,
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
            slug: a.slug,
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
    pub styles: Vec<(&'static str, &'static str)>,
    pub cities: Vec<String>,
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

/// Formats a unix time for pages. Profiles carry no time zone yet, so times are shown in UTC.
pub fn when(at: i64) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short] [day padding:none] [month repr:short] [year], [hour]:[minute] UTC"
    );
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "unknown time".to_owned())
}

/// Formats cents as euros, with cents only when there are any.
pub fn euros(cents: i64) -> String {
    if cents % 100 == 0 {
        format!("€{}", cents / 100)
    } else {
        format!("€{}.{:02}", cents / 100, cents % 100)
    }
}

impl Layout {
    pub fn when(&self, at: &i64) -> String {
        when(*at)
    }
    /// A time as read in the IANA zone `zone`.
    pub fn when_in(&self, at: &i64, zone: &str) -> String {
        crate::booking::local_time(*at, zone)
    }
    pub fn money(&self, cents: &i64) -> String {
        euros(*cents)
    }
}

/// An artist's bio, written in Markdown, as safe HTML: only basic formatting and links survive
/// (links get `rel="noopener noreferrer nofollow"`); raw HTML, images and scripts are removed.
pub fn bio_html(markdown: &str) -> String {
    let mut html = String::new();
    let parser = pulldown_cmark::Parser::new(markdown);
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::Builder::default()
        .tags(
            [
                "p",
                "br",
                "em",
                "strong",
                "a",
                "ul",
                "ol",
                "li",
                "blockquote",
                "code",
                "h3",
                "h4",
            ]
            .into_iter()
            .collect(),
        )
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_schemes(["https", "http", "mailto"].into_iter().collect())
        .clean(&html)
        .to_string()
}

fn policy_text(p: &domain::BookingPolicy) -> String {
    let deposit = match p.deposit {
        domain::DepositRule::Fixed { cents } => format!("a {} deposit", euros(cents)),
        domain::DepositRule::Percent { percent } => format!("a {percent}% deposit"),
    };
    format!(
        "Replies within {} hours. Asks for {deposit}, due {} days after you accept a quote. \
         Cancel at least {} hours ahead to keep your deposit as credit. Up to {} reschedules.",
        p.response_hours, p.deposit_due_days, p.notice_hours, p.max_reschedules
    )
}

#[derive(Template)]
#[template(path = "artist.html")]
pub struct ArtistPage {
    pub layout: Layout,
    pub artist: storage::ArtistProfile,
    /// The bio's Markdown rendered and sanitised; the template inserts it unescaped.
    pub bio: String,
    pub reviews: Vec<storage::Review>,
    pub portfolio: Vec<storage::PortfolioEntry>,
    pub flash: Vec<storage::FlashDesign>,
    pub guest_spots: Vec<storage::GuestSpotView>,
    pub styles: String,
    pub rating: Option<String>,
    pub policy: String,
    pub age_rule: String,
    pub can_request: bool,
}

impl ArtistPage {
    pub fn new(
        layout: Layout,
        artist: storage::ArtistProfile,
        reviews: Vec<storage::Review>,
        portfolio: Vec<storage::PortfolioEntry>,
        flash: Vec<storage::FlashDesign>,
        guest_spots: Vec<storage::GuestSpotView>,
        can_request: bool,
    ) -> Self {
        let rules = domain::consent::rules_for(&artist.jurisdiction);
        let min = rules.min_age.max(artist.min_age);
        let age_rule = match rules.parental_consent_from {
            Some(p) if artist.min_age <= p => format!(
                "Clients must be {min} or over ({}), or {p} with a parent's signed consent.",
                rules.name
            ),
            _ => format!("Clients must be {min} or over ({}).", rules.name),
        };
        Self {
            styles: artist
                .styles
                .iter()
                .map(|s| s.label())
                .collect::<Vec<_>>()
                .join(" · "),
            rating: artist.rating_centi.map(|c| {
                format!(
                    "{}.{:02} ★ from {} reviews",
                    c / 100,
                    c % 100,
                    artist.rating_count
                )
            }),
            policy: policy_text(&artist.policy),
            bio: bio_html(&artist.bio),
            age_rule,
            layout,
            artist,
            reviews,
            portfolio,
            flash,
            guest_spots,
            can_request,
        }
    }
}

#[derive(Template)]
#[template(path = "booking_new.html")]
pub struct RequestFormPage {
    pub layout: Layout,
    pub artist: storage::ArtistProfile,
    pub errors: Vec<FieldError>,
    pub form: domain::RawRequest,
    pub placements: &'static [&'static str],
    pub sizes: Vec<(&'static str, &'static str)>,
    pub policy: String,
}

impl RequestFormPage {
    pub fn new(
        layout: Layout,
        artist: storage::ArtistProfile,
        errors: Vec<FieldError>,
        form: domain::RawRequest,
    ) -> Self {
        Self {
            policy: policy_text(&artist.policy),
            layout,
            artist,
            errors,
            form,
            placements: domain::request::PLACEMENTS,
            sizes: domain::Size::ALL
                .iter()
                .map(|s| (s.as_str(), s.label()))
                .collect(),
        }
    }

    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub layout: Layout,
    /// The artist's own zone, for the calendar.
    pub time_zone: String,
    pub is_artist: bool,
    pub profile_slug: Option<String>,
    pub bookings: Vec<storage::BookingSummary>,
    pub calendar: Vec<storage::Appointment>,
    pub unread: i64,
}

#[derive(Template)]
#[template(path = "booking.html")]
pub struct BookingPage {
    pub layout: Layout,
    pub b: storage::BookingDetail,
    pub messages: Vec<storage::Message>,
    pub is_client: bool,
    pub actor: domain::Actor,
    pub error: Option<String>,
    pub errors: Vec<FieldError>,
    pub other_party: String,
    pub placements_today: String,
    /// The artist's working week.
    pub working: domain::Availability,
}

impl BookingPage {
    pub fn new(
        layout: Layout,
        b: storage::BookingDetail,
        messages: Vec<storage::Message>,
        actor: domain::Actor,
        error: Option<String>,
        errors: Vec<FieldError>,
        working: domain::Availability,
    ) -> Self {
        let other_party = match actor {
            domain::Actor::Client => b.request.artist_name.clone(),
            _ => b.request.client_name.clone(),
        };
        Self {
            layout,
            is_client: actor == domain::Actor::Client,
            actor,
            messages,
            error,
            errors,
            other_party,
            placements_today: time::OffsetDateTime::now_utc().date().to_string(),
            working,
            b,
        }
    }

    /// Whether the viewer may take `action` on the request now.
    pub fn can(&self, action: &str) -> bool {
        domain::BookingAction::parse(action)
            .is_ok_and(|a| self.b.request.state.apply(a, self.actor).is_ok())
    }

    /// Whether the viewer may take `action` on session `ap` now.
    pub fn can_on(&self, ap: &storage::Appointment, action: &str) -> bool {
        domain::AppointmentAction::parse(action)
            .is_ok_and(|a| ap.state.apply(a, self.actor).is_ok())
    }

    /// The artist may add sessions to a booked request until the quoted number is reached.
    pub fn can_schedule(&self) -> bool {
        let used = self
            .b
            .appointments
            .iter()
            .filter(|a| a.state.is_active() || a.state == domain::AppointmentState::Completed)
            .count() as i64;
        !self.is_client
            && self.b.request.state == domain::BookingState::Booked
            && used < self.b.request.quote.map_or(1, |q| q.sessions)
    }

    /// The client may share a healed photo once a session is completed.
    pub fn can_share_healed(&self) -> bool {
        self.is_client
            && self
                .b
                .appointments
                .iter()
                .any(|a| a.state == domain::AppointmentState::Completed)
    }

    pub fn styles(&self) -> Vec<(&'static str, &'static str)> {
        domain::Style::ALL
            .iter()
            .map(|s| (s.slug(), s.label()))
            .collect()
    }

    pub fn can_review(&self) -> bool {
        self.is_client
            && self.b.review.is_none()
            && self
                .b
                .appointments
                .iter()
                .any(|a| a.state == domain::AppointmentState::Completed)
    }

    pub fn deadline(&self) -> Option<String> {
        self.b.request.deadline_at.map(|d| self.local(&d))
    }

    /// The artist's working week, shown with the scheduling form.
    pub fn hours(&self) -> String {
        format!("{} ({})", self.working.describe(), self.b.request.time_zone)
    }

    /// A time in the artist's zone, where the sessions take place.
    pub fn local(&self, at: &i64) -> String {
        crate::booking::local_time(*at, &self.b.request.time_zone)
    }
}

/// The artist's settings form, as text fields so a failed submission is shown back unchanged.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ArtistSettingsForm {
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub bio: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub jurisdiction: String,
    #[serde(default)]
    pub styles: String,
    #[serde(default)]
    pub price_min: String,
    #[serde(default)]
    pub price_max: String,
    #[serde(default)]
    pub hourly_rate: String,
    #[serde(default)]
    pub books_open: Option<String>,
    #[serde(default)]
    pub min_age: String,
    #[serde(default)]
    pub deposit_kind: String,
    #[serde(default)]
    pub deposit_value: String,
    #[serde(default)]
    pub deposit_due_days: String,
    #[serde(default)]
    pub response_hours: String,
    #[serde(default)]
    pub notice_hours: String,
    #[serde(default)]
    pub max_reschedules: String,
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub work_day_mon: Option<String>,
    #[serde(default)]
    pub work_day_tue: Option<String>,
    #[serde(default)]
    pub work_day_wed: Option<String>,
    #[serde(default)]
    pub work_day_thu: Option<String>,
    #[serde(default)]
    pub work_day_fri: Option<String>,
    #[serde(default)]
    pub work_day_sat: Option<String>,
    #[serde(default)]
    pub work_day_sun: Option<String>,
    #[serde(default)]
    pub work_start: String,
    #[serde(default)]
    pub work_end: String,
}

impl ArtistSettingsForm {
    fn work_days(&self) -> [(&'static str, bool); 7] {
        [
            ("mon", self.work_day_mon.is_some()),
            ("tue", self.work_day_tue.is_some()),
            ("wed", self.work_day_wed.is_some()),
            ("thu", self.work_day_thu.is_some()),
            ("fri", self.work_day_fri.is_some()),
            ("sat", self.work_day_sat.is_some()),
            ("sun", self.work_day_sun.is_some()),
        ]
    }

    /// The days as checkboxes: (key, label, ticked).
    pub fn day_boxes(&self) -> Vec<(&'static str, &'static str, bool)> {
        let labels = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        self.work_days()
            .iter()
            .zip(labels)
            .map(|((k, on), l)| (*k, l, *on))
            .collect()
    }

    fn set_availability(&mut self, a: &domain::Availability) {
        let on = |i: usize| a.days[i].then(|| "on".to_owned());
        self.work_day_mon = on(0);
        self.work_day_tue = on(1);
        self.work_day_wed = on(2);
        self.work_day_thu = on(3);
        self.work_day_fri = on(4);
        self.work_day_sat = on(5);
        self.work_day_sun = on(6);
        self.work_start = domain::availability::clock(a.start_min);
        self.work_end = domain::availability::clock(a.end_min);
    }
}

impl ArtistSettingsForm {
    pub fn new_for(user: &User) -> Self {
        let p = domain::BookingPolicy::default();
        let mut form = Self {
            slug: domain::Slug::from_name(user.display_name.as_str())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            min_age: "18".into(),
            deposit_kind: "percent".into(),
            deposit_value: "20".into(),
            deposit_due_days: p.deposit_due_days.to_string(),
            response_hours: p.response_hours.to_string(),
            notice_hours: p.notice_hours.to_string(),
            max_reschedules: p.max_reschedules.to_string(),
            books_open: Some("on".into()),
            time_zone: "Europe/London".into(),
            ..Default::default()
        };
        form.set_availability(&domain::Availability::default());
        form
    }

    pub fn from_profile(p: &storage::ArtistProfile) -> Self {
        let (kind, value) = match p.policy.deposit {
            domain::DepositRule::Fixed { cents } => {
                ("fixed", euros(cents).trim_start_matches('€').to_owned())
            }
            domain::DepositRule::Percent { percent } => ("percent", percent.to_string()),
        };
        let mut form = Self {
            slug: p.slug.clone(),
            bio: p.bio.clone(),
            city: p.city.clone(),
            country: p.country.clone(),
            jurisdiction: p.jurisdiction.clone(),
            styles: p
                .styles
                .iter()
                .map(|s| s.slug())
                .collect::<Vec<_>>()
                .join(", "),
            price_min: euros(p.price_min_cents).trim_start_matches('€').to_owned(),
            price_max: euros(p.price_max_cents).trim_start_matches('€').to_owned(),
            hourly_rate: euros(p.hourly_rate_cents)
                .trim_start_matches('€')
                .to_owned(),
            books_open: p.books_open.then(|| "on".to_owned()),
            min_age: p.min_age.to_string(),
            deposit_kind: kind.into(),
            deposit_value: value,
            deposit_due_days: p.policy.deposit_due_days.to_string(),
            response_hours: p.policy.response_hours.to_string(),
            notice_hours: p.policy.notice_hours.to_string(),
            max_reschedules: p.policy.max_reschedules.to_string(),
            time_zone: p.time_zone.clone(),
            ..Default::default()
        };
        form.set_availability(&p.availability);
        form
    }

    /// Parses every field, returning all problems at once.
    pub fn parse(&self) -> Result<storage::ArtistSettings, Vec<FieldError>> {
        use domain::request::{clean_text, parse_money};
        let mut errors: Vec<domain::ParseError> = Vec::new();
        let int = |field: &'static str, raw: &str| {
            raw.trim()
                .parse::<i64>()
                .map_err(|_| domain::ParseError::new(field, "enter a whole number"))
        };
        let days = self
            .work_days()
            .iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(",");
        let availability = keep(
            &mut errors,
            domain::Availability::parse(&days, &self.work_start, &self.work_end),
        );
        let time_zone = keep(
            &mut errors,
            crate::booking::time_zone(&self.time_zone).map(|_| self.time_zone.trim().to_owned()),
        );
        let slug = keep(&mut errors, domain::Slug::parse(&self.slug));
        let bio = keep(&mut errors, clean_text("bio", &self.bio, 0, 4000));
        let city = keep(&mut errors, clean_text("city", &self.city, 2, 80));
        let country = keep(
            &mut errors,
            clean_text("country", &self.country, 2, 2).map(|c| c.to_uppercase()),
        );
        let jurisdiction = keep(
            &mut errors,
            clean_text("jurisdiction", &self.jurisdiction, 2, 10).map(|c| c.to_uppercase()),
        );
        let styles: Option<Vec<_>> = keep(
            &mut errors,
            self.styles
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(domain::Style::parse)
                .collect::<Result<Vec<_>, _>>(),
        );
        let min = keep(&mut errors, parse_money("price_min", &self.price_min));
        let max = keep(&mut errors, parse_money("price_max", &self.price_max));
        let hourly = keep(&mut errors, parse_money("hourly_rate", &self.hourly_rate));
        let min_age = keep(
            &mut errors,
            int("min_age", &self.min_age).and_then(|a| {
                u8::try_from(a)
                    .ok()
                    .filter(|a| (16..=99).contains(a))
                    .ok_or_else(|| domain::ParseError::new("min_age", "between 16 and 99"))
            }),
        );
        let deposit_value = match self.deposit_kind.as_str() {
            "fixed" => keep(
                &mut errors,
                parse_money("deposit_value", &self.deposit_value),
            ),
            _ => keep(&mut errors, int("deposit_value", &self.deposit_value)),
        };
        let numbers = [
            keep(&mut errors, int("deposit_due_days", &self.deposit_due_days)),
            keep(&mut errors, int("response_hours", &self.response_hours)),
            keep(&mut errors, int("notice_hours", &self.notice_hours)),
            keep(&mut errors, int("max_reschedules", &self.max_reschedules)),
        ];
        let policy = match (deposit_value, numbers) {
            (Some(v), [Some(d), Some(r), Some(n), Some(m)]) => keep(
                &mut errors,
                domain::BookingPolicy::parse(&self.deposit_kind, v, d, r, n, m),
            ),
            _ => None,
        };
        if let (Some(a), Some(b)) = (min, max)
            && b < a
        {
            keep(
                &mut errors,
                Err::<(), _>(domain::ParseError::new(
                    "price_max",
                    "must be at least the minimum price",
                )),
            );
        }
        match (
            slug,
            bio,
            city,
            country,
            jurisdiction,
            styles,
            min,
            max,
            hourly,
            min_age,
            policy,
        ) {
            (
                Some(slug),
                Some(bio),
                Some(city),
                Some(country),
                Some(jurisdiction),
                Some(styles),
                Some(min),
                Some(max),
                Some(hourly),
                Some(min_age),
                Some(policy),
            ) if errors.is_empty() => Ok(storage::ArtistSettings {
                slug,
                bio,
                city,
                country,
                jurisdiction,
                styles,
                price_min_cents: min,
                price_max_cents: max,
                hourly_rate_cents: hourly,
                books_open: self.books_open.is_some(),
                min_age,
                policy,
                time_zone: time_zone.unwrap_or_default(),
                availability: availability.unwrap_or_default(),
            }),
            _ => Err(errors.into_iter().map(FieldError::from).collect()),
        }
    }
}

#[derive(Template)]
#[template(path = "artist_settings.html")]
pub struct ArtistSettingsPage {
    pub layout: Layout,
    pub form: ArtistSettingsForm,
    pub errors: Vec<FieldError>,
    pub saved: bool,
    pub jurisdictions: Vec<(String, String)>,
    pub all_styles: String,
}

impl ArtistSettingsPage {
    pub fn new(
        layout: Layout,
        form: ArtistSettingsForm,
        errors: Vec<FieldError>,
        saved: bool,
    ) -> Self {
        Self {
            layout,
            form,
            errors,
            saved,
            jurisdictions: domain::consent::jurisdictions()
                .iter()
                .map(|j| (j.code.clone(), j.name.clone()))
                .collect(),
            all_styles: domain::Style::ALL
                .iter()
                .map(|s| s.slug())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// Keeps a parsed value, or records why it failed so every problem is reported together.
fn keep<T>(errors: &mut Vec<domain::ParseError>, r: Result<T, domain::ParseError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub layout: Layout,
    pub params: crate::search::SearchParams,
    pub cities: Vec<String>,
    pub styles: Vec<(&'static str, &'static str)>,
    pub artists: Vec<(ArtistCardView, Option<String>)>,
    pub total: i64,
    pub errors: Vec<FieldError>,
    pub page: u32,
    pub pages: u32,
}

impl SearchPage {
    pub fn new(
        layout: Layout,
        params: crate::search::SearchParams,
        cities: Vec<String>,
        results: Option<storage::SearchResults>,
        errors: Vec<FieldError>,
        page: u32,
    ) -> Self {
        let (artists, total) = match results {
            Some(r) => (
                r.artists
                    .into_iter()
                    .map(|h| {
                        let rating = h.rating_centi.map(|c| {
                            format!("{}.{:01} ★ ({})", c / 100, (c % 100) / 10, h.rating_count)
                        });
                        (ArtistCardView::from(h.card), rating)
                    })
                    .collect(),
                r.total,
            ),
            None => (vec![], 0),
        };
        let per = i64::from(crate::search::PER_PAGE);
        Self {
            layout,
            params,
            cities,
            styles: domain::Style::ALL
                .iter()
                .map(|s| (s.slug(), s.label()))
                .collect(),
            artists,
            total,
            errors,
            page,
            pages: u32::try_from((total + per - 1) / per)
                .unwrap_or(u32::MAX)
                .max(1),
        }
    }

    pub fn link(&self, page: u32) -> String {
        format!("/search?{}", self.params.with_page(page))
    }
}

#[derive(Template)]
#[template(path = "portfolio.html")]
pub struct PortfolioPage {
    pub layout: Layout,
    pub artist: storage::ArtistProfile,
    pub pieces: Vec<storage::PortfolioEntry>,
    pub errors: Vec<FieldError>,
    pub styles: Vec<(&'static str, &'static str)>,
    pub placements: &'static [&'static str],
    pub tones: Vec<&'static str>,
    pub max_mb: usize,
}

impl PortfolioPage {
    pub fn new(
        layout: Layout,
        artist: storage::ArtistProfile,
        pieces: Vec<storage::PortfolioEntry>,
        errors: Vec<FieldError>,
    ) -> Self {
        Self {
            layout,
            artist,
            pieces,
            errors,
            styles: domain::Style::ALL
                .iter()
                .map(|s| (s.slug(), s.label()))
                .collect(),
            placements: domain::request::PLACEMENTS,
            tones: domain::SkinTone::ALL.iter().map(|t| t.as_str()).collect(),
            max_mb: 10,
        }
    }
}

#[derive(Template)]
#[template(path = "studio.html")]
pub struct StudioPageView {
    pub layout: Layout,
    pub studio: storage::StudioPage,
    pub members: Vec<ArtistCardView>,
}

impl StudioPageView {
    pub fn new(layout: Layout, mut studio: storage::StudioPage) -> Self {
        let members = std::mem::take(&mut studio.members)
            .into_iter()
            .map(ArtistCardView::from)
            .collect();
        Self {
            layout,
            studio,
            members,
        }
    }
}

#[derive(Template)]
#[template(path = "flash.html")]
pub struct FlashPage {
    pub layout: Layout,
    pub artist: storage::ArtistProfile,
    pub designs: Vec<storage::FlashDesign>,
    pub spots: Vec<storage::GuestSpotView>,
    pub studios: Vec<(String, String, String)>,
    pub errors: Vec<FieldError>,
    pub styles: Vec<(&'static str, &'static str)>,
    pub sizes: Vec<(&'static str, &'static str)>,
}

impl FlashPage {
    pub fn new(
        layout: Layout,
        artist: storage::ArtistProfile,
        designs: Vec<storage::FlashDesign>,
        spots: Vec<storage::GuestSpotView>,
        studios: Vec<(String, String, String)>,
        errors: Vec<FieldError>,
    ) -> Self {
        Self {
            layout,
            artist,
            designs,
            spots,
            studios,
            errors,
            styles: domain::Style::ALL
                .iter()
                .map(|s| (s.slug(), s.label()))
                .collect(),
            sizes: domain::Size::ALL
                .iter()
                .map(|s| (s.as_str(), s.label()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod bio_tests {
    use super::bio_html;
    use proptest::prelude::*;

    #[test]
    fn markdown_formats_and_anything_active_is_removed() {
        let html = bio_html(
            "**Fine line** work, see [my site](https://ink.example).\n\n<script>alert(1)</script><img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<strong>Fine line</strong>"), "{html}");
        assert!(
            html.contains(r#"href="https://ink.example""#) && html.contains("nofollow"),
            "{html}"
        );
        assert!(
            !html.contains("<script") && !html.contains("onerror") && !html.contains("<img"),
            "{html}"
        );
        assert!(!bio_html("[x](javascript:alert(1))").contains("javascript:"));
    }

    proptest! {
        #[test]
        fn no_input_produces_script_or_event_handlers(md in "\\PC{0,200}") {
            let html = bio_html(&md).to_lowercase();
            prop_assert!(!html.contains("<script") && !html.contains(" onerror=") && !html.contains(" onload="));
        }
    }
}
