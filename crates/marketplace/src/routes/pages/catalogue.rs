//! Discovery pages: home, search, artist profiles and studios.

use crate::auth::MaybeUser;
use crate::error::AppError;
use crate::routes::pages::{layout, render};
use crate::search::SearchParams;
use crate::services::catalogue::{self, ArtistKey};
use crate::state::AppState;
use crate::templates::catalogue::{
    ArtistCardView, ArtistPage, HomePage, SearchPage, StudioPageView,
};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use domain::{Role, Style};
use tower_sessions::Session;

#[tracing::instrument(skip_all)]
pub async fn home(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Html<String>, AppError> {
    let listing = state.listing.get(state.store.as_ref()).await?;
    render(HomePage {
        layout: layout(&state, &session, user.as_ref()).await?,
        counts: listing.counts,
        styles: Style::ALL.iter().map(|s| (s.slug(), s.label())).collect(),
        cities: listing.cities.clone(),
        artists: listing
            .artists
            .iter()
            .cloned()
            .map(ArtistCardView::from)
            .collect(),
    })
}

#[tracing::instrument(skip_all)]
pub async fn search(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    Query(params): Query<SearchParams>,
) -> Result<Response, AppError> {
    let layout = layout(&state, &session, user.as_ref()).await?;
    let cities = state
        .listing
        .get(state.store.as_ref())
        .await?
        .cities
        .clone();
    let (status, results, errors, page) = match catalogue::search(&state, &params).await {
        Ok((query, results)) => (StatusCode::OK, Some(results), vec![], query.page),
        Err(AppError::Validation(errors)) => (StatusCode::UNPROCESSABLE_ENTITY, None, errors, 1),
        Err(e) => return Err(e),
    };
    let page = SearchPage::new(layout, params, cities, results, errors, page);
    Ok((status, render(page)?).into_response())
}

#[tracing::instrument(skip_all)]
pub async fn artist(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Html<String>, AppError> {
    let view = catalogue::artist(&state, ArtistKey::Slug(&slug)).await?;
    let watching = match &user {
        Some(u) if u.role == Role::Client && !view.profile.books_open => {
            Some(state.store.watches_books(view.profile.id, u.id).await?)
        }
        _ => None,
    };
    let mut page = ArtistPage::new(
        layout(&state, &session, user.as_ref()).await?,
        view.profile,
        view.reviews,
        view.portfolio,
        view.flash,
        view.guest_spots,
        user.as_ref().is_none_or(|u| u.role == Role::Client),
    );
    page.watching = watching;
    render(page)
}

#[tracing::instrument(skip_all)]
pub async fn studio(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Html<String>, AppError> {
    let studio = catalogue::studio(&state, &slug).await?;
    render(StudioPageView::new(
        layout(&state, &session, user.as_ref()).await?,
        studio,
    ))
}
