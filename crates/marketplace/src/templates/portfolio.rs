//! The artist's portfolio and flash pages.

use super::Layout;
use crate::error::FieldError;
use askama::Template;

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
