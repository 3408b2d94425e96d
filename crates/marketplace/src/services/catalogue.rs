//! Discovery use cases: searching artists and looking at an artist or a studio. Each view counts
//! once in the engagement metrics, whether a page or the API asked.

use crate::error::AppError;
use crate::search::SearchParams;
use crate::state::AppState;
use domain::ArtistId;
use storage::{
    ArtistProfile, ArtistQuery, FlashDesign, GuestSpotView, PortfolioEntry, Review, SearchResults,
    StudioPage,
};

/// Runs a search; invalid filters are a 422 naming them.
pub async fn search(
    state: &AppState,
    params: &SearchParams,
) -> Result<(ArtistQuery, SearchResults), AppError> {
    let query = params.parse()?;
    let results = state.store.search_artists(&query).await?;
    state
        .metrics
        .engagement
        .with_label_values(&["search"])
        .inc();
    state.metrics.kpi.funnel_step("search");
    Ok((query, results))
}

/// How an artist is named in a link: by id (the API) or by slug (pages).
pub enum ArtistKey<'a> {
    Id(ArtistId),
    Slug(&'a str),
}

/// Everything an artist's profile shows.
pub struct ArtistView {
    pub profile: ArtistProfile,
    pub reviews: Vec<Review>,
    pub portfolio: Vec<PortfolioEntry>,
    pub flash: Vec<FlashDesign>,
    pub guest_spots: Vec<GuestSpotView>,
}

/// One artist's profile, work, flash, upcoming guest spots and latest reviews.
pub async fn artist(state: &AppState, key: ArtistKey<'_>) -> Result<ArtistView, AppError> {
    let profile = match key {
        ArtistKey::Id(id) => state.store.artist_by_id(id).await?,
        ArtistKey::Slug(slug) => state.store.artist_by_slug(slug).await?,
    }
    .ok_or(AppError::NotFound)?;
    let id = profile.id;
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let (reviews, portfolio, flash, guest_spots) = tokio::try_join!(
        state.store.reviews_for_artist(id, 20),
        state.store.portfolio(id, 60),
        state.store.flash_for_artist(id, 60),
        state.store.guest_spots_for_artist(id, &today)
    )?;
    state
        .metrics
        .engagement
        .with_label_values(&["profile_view"])
        .inc();
    state.metrics.kpi.funnel_step("profile_view");
    Ok(ArtistView {
        profile,
        reviews,
        portfolio,
        flash,
        guest_spots,
    })
}

/// A studio with its resident artists and upcoming guest spots.
pub async fn studio(state: &AppState, slug: &str) -> Result<StudioPage, AppError> {
    let today = time::OffsetDateTime::now_utc().date().to_string();
    state
        .store
        .studio(slug, &today)
        .await?
        .ok_or(AppError::NotFound)
}
