//! The pages of discovery: home, search, artist profiles and studios.

use super::Layout;
use super::format::{bio_html, policy_text};
use crate::error::FieldError;
use askama::Template;
use storage::{ArtistCard, CatalogueCounts};

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
            price: format!(
                "{}–{}",
                a.currency.format(a.price_min_cents),
                a.currency.format(a.price_max_cents)
            ),
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
    /// For a signed-in client on closed books: whether they asked to be told when they open.
    pub watching: Option<bool>,
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
            policy: policy_text(&artist.policy, artist.currency),
            bio: bio_html(&artist.bio),
            age_rule,
            watching: None,
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
