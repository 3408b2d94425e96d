//! The discovery API: the style taxonomy, artist search and artist profiles.

use crate::error::{AppError, Problem};
use crate::routes::api::Json;
use crate::routes::api::types::{
    ArtistProfile, FlashDesign, GuestSpotView, PortfolioEntry, PublicReview, SearchHit, all,
};
use crate::search::SearchParams;
use crate::services::catalogue::{self, ArtistKey};
use crate::state::AppState;
use axum::extract::{Path, State};
use domain::{ArtistId, Style};
use serde::Serialize;

/// One style of the fixed taxonomy.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StyleView {
    #[schema(value_type = Style)]
    slug: &'static str,
    label: &'static str,
}

/// The style taxonomy that profiles, portfolios and search share.
#[utoipa::path(get, path = "/styles", tag = "discovery", operation_id = "styles",
    responses((status = 200, description = "Every style, in display order", body = Vec<StyleView>)))]
pub async fn styles() -> Json<Vec<StyleView>> {
    Json(
        Style::ALL
            .iter()
            .map(|s| StyleView {
                slug: s.slug(),
                label: s.label(),
            })
            .collect(),
    )
}

/// A page of search results.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ArtistList {
    artists: Vec<SearchHit>,
    total: i64,
    page: u32,
    per_page: u32,
}

/// Searches artists with the same filters as the search page.
#[utoipa::path(get, path = "/artists", tag = "discovery", operation_id = "searchArtists",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of artists", body = ArtistList),
        (status = 400, response = Problem), (status = 422, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn artists(
    State(state): State<AppState>,
    axum::extract::Query(params): axum::extract::Query<SearchParams>,
) -> Result<Json<ArtistList>, AppError> {
    let (query, results) = catalogue::search(&state, &params).await?;
    Ok(Json(ArtistList {
        artists: all(results.artists),
        total: results.total,
        page: query.page,
        per_page: query.per_page,
    }))
}

/// An artist's profile with their work, flash, guest spots and latest reviews.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ArtistDetail {
    #[serde(flatten)]
    profile: ArtistProfile,
    reviews: Vec<PublicReview>,
    portfolio: Vec<PortfolioEntry>,
    flash: Vec<FlashDesign>,
    guest_spots: Vec<GuestSpotView>,
}

/// One artist: profile, policy, portfolio, flash, guest spots and rating.
#[utoipa::path(get, path = "/artists/{id}", tag = "discovery", operation_id = "getArtist",
    params(("id" = i64, Path, description = "The artist's id")),
    responses(
        (status = 200, description = "The artist", body = ArtistDetail),
        (status = 400, response = Problem), (status = 404, response = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn artist(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ArtistDetail>, AppError> {
    let view = catalogue::artist(&state, ArtistKey::Id(ArtistId::new(id))).await?;
    Ok(Json(ArtistDetail {
        profile: view.profile.into(),
        reviews: all(view.reviews),
        portfolio: all(view.portfolio),
        flash: all(view.flash),
        guest_spots: all(view.guest_spots),
    }))
}
