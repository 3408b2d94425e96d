//! The artist's settings page and its form, kept as text so a failed submission is shown back
//! unchanged (parsing lives with the handler, `routes::pages::settings`).

use super::Layout;
use crate::error::FieldError;
use askama::Template;
use storage::User;

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
    /// An ISO 4217 code, or empty for the country's currency.
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub session_minutes: String,
    /// Days off, one YYYY-MM-DD per line.
    #[serde(default)]
    pub days_off: String,
    /// The style checkboxes (`style_fine-line=on`, …) and anything else the form sent.
    #[serde(flatten)]
    pub ticked: std::collections::BTreeMap<String, String>,
}

impl ArtistSettingsForm {
    /// The styles chosen: the ticked boxes, plus any typed into the text field (the API and
    /// older forms send `styles=fine-line, lettering`).
    pub fn chosen_styles(&self) -> Vec<String> {
        let mut chosen: Vec<String> = self
            .ticked
            .keys()
            .filter_map(|k| k.strip_prefix("style_"))
            .map(str::to_owned)
            .chain(
                self.styles
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty()),
            )
            .collect();
        chosen.sort();
        chosen.dedup();
        chosen
    }

    /// Every style as a checkbox: (slug, label, ticked).
    pub fn style_boxes(&self) -> Vec<(&'static str, &'static str, bool)> {
        let chosen = self.chosen_styles();
        domain::Style::ALL
            .iter()
            .map(|s| (s.slug(), s.label(), chosen.iter().any(|c| c == s.slug())))
            .collect()
    }

    /// The currency amounts are typed in: the chosen one, else the country's.
    pub fn currency(&self) -> domain::Currency {
        domain::Currency::of_artist(
            Some(self.currency.as_str()).filter(|c| !c.is_empty()),
            &self.country,
        )
    }

    pub fn work_days(&self) -> [(&'static str, bool); 7] {
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
            session_minutes: "180".into(),
            ..Default::default()
        };
        form.set_availability(&domain::Availability::default());
        form
    }

    pub fn from_profile(p: &storage::ArtistProfile) -> Self {
        let (kind, value) = match p.policy.deposit {
            domain::DepositRule::Fixed { cents } => ("fixed", p.currency.plain(cents)),
            domain::DepositRule::Percent { percent } => ("percent", percent.to_string()),
        };
        let mut form = Self {
            slug: p.slug.clone(),
            bio: p.bio.clone(),
            city: p.city.clone(),
            country: p.country.clone(),
            jurisdiction: p.jurisdiction.clone(),
            ticked: p
                .styles
                .iter()
                .map(|s| (format!("style_{}", s.slug()), "on".to_owned()))
                .collect(),
            price_min: p.currency.plain(p.price_min_cents),
            price_max: p.currency.plain(p.price_max_cents),
            hourly_rate: p.currency.plain(p.hourly_rate_cents),
            currency: if p.currency == domain::Currency::for_country(&p.country) {
                String::new()
            } else {
                p.currency.code().to_owned()
            },
            books_open: p.books_open.then(|| "on".to_owned()),
            min_age: p.min_age.to_string(),
            deposit_kind: kind.into(),
            deposit_value: value,
            deposit_due_days: p.policy.deposit_due_days.to_string(),
            response_hours: p.policy.response_hours.to_string(),
            notice_hours: p.policy.notice_hours.to_string(),
            max_reschedules: p.policy.max_reschedules.to_string(),
            time_zone: p.time_zone.clone(),
            session_minutes: p.session_minutes.to_string(),
            ..Default::default()
        };
        form.set_availability(&p.availability);
        form
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
    /// (code, label) for the currency picker.
    pub currencies: Vec<(&'static str, String)>,
    pub zones: &'static [String],
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
            currencies: domain::money::COMMON
                .iter()
                .filter_map(|code| domain::Currency::parse(code).ok())
                .map(|c| (c.code(), format!("{} ({})", c.name(), c.symbol().trim())))
                .collect(),
            zones: crate::clock::zone_names(),
        }
    }

    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}
