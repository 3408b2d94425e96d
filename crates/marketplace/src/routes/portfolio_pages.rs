//! Portfolio uploads: the artist's portfolio page (upload, delete), flash designs and guest
//! spots, and the healed photo a client shares after a completed session. Images are checked by content and re-encoded (`media`).

use crate::auth::CurrentUser;
use crate::auth::csrf::{self, CsrfForm, CsrfMultipart};
use crate::error::{AppError, FieldError};
use crate::media;
use crate::routes::bookings_api::visible_request;
use crate::state::AppState;
use crate::templates::{Layout, PortfolioPage};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::{BookingId, PortfolioDraft, Role, SkinTone};
use std::collections::HashMap;
use storage::{NewUpload, User};
use tower_sessions::Session;

fn render(page: impl Template) -> Result<Html<String>, AppError> {
    page.render()
        .map(Html)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering template: {e}")))
}

fn field_error(field: &str, message: impl Into<String>) -> AppError {
    AppError::Validation(vec![FieldError {
        field: field.into(),
        message: message.into(),
    }])
}

/// The one image a portfolio, flash or healed-photo form carries.
fn single(files: Vec<axum::body::Bytes>) -> Result<Option<axum::body::Bytes>, AppError> {
    if files.len() > 1 {
        return Err(field_error("image", "Send one image at a time."));
    }
    Ok(files.into_iter().next())
}

/// Checks and re-encodes one image off the async threads; the inner error is the person's.
async fn process_image(
    state: &AppState,
    bytes: axum::body::Bytes,
) -> Result<Result<media::Processed, media::UploadError>, AppError> {
    let (max_bytes, max_pixels) = (
        state.settings.media.max_upload_bytes,
        state.settings.media.max_pixels,
    );
    // Waiting is bounded too: past it the client is told to retry rather than queueing forever.
    let permit = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        state.media.decodes.clone().acquire_owned(),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .ok_or_else(|| AppError::Busy {
        message: "Many images are being processed right now. Please try again in a moment.".into(),
        retry_after_secs: 5,
    })?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        media::process(&bytes, max_bytes, max_pixels)
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))
}

/// Stores a processed image and its thumbnail under `prefix` and returns their keys; if the
/// second write fails the first is removed.
async fn put_image(
    state: &AppState,
    processed: media::Processed,
    prefix: &str,
) -> Result<(String, String), AppError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let image_path = format!("{prefix}/{id}.jpg");
    let thumb_path = format!("{prefix}/{id}-thumb.webp");
    state.media.put(&image_path, processed.full_jpeg).await?;
    if let Err(e) = state.media.put(&thumb_path, processed.thumb_webp).await {
        state.media.delete(&[&image_path]).await;
        return Err(e.into());
    }
    Ok((image_path, thumb_path))
}

/// Checks and re-encodes one image and stores it and its thumbnail under `prefix`; returns the
/// keys. Nothing stays stored if it fails.
pub(crate) async fn store_image(
    state: &AppState,
    bytes: axum::body::Bytes,
    prefix: &str,
) -> Result<(String, String), AppError> {
    let processed = process_image(state, bytes)
        .await?
        .map_err(|e| field_error("image", e.to_string()))?;
    put_image(state, processed, prefix).await
}

/// Parses the form, checks and re-encodes the image, and stores both files under `prefix`.
/// Returns the new piece's description and keys; nothing is stored if anything fails.
async fn accept_upload(
    state: &AppState,
    fields: &HashMap<String, String>,
    file: Option<axum::body::Bytes>,
    prefix: &str,
    healed: bool,
) -> Result<NewUpload, AppError> {
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let tones: Vec<&str> = SkinTone::ALL
        .iter()
        .filter(|t| fields.contains_key(&format!("skin_tone_{}", t.as_str())))
        .map(|t| t.as_str())
        .collect();
    let draft = PortfolioDraft::parse(
        get("title"),
        get("style"),
        get("placement"),
        healed || !get("healed").is_empty(),
        &tones,
    );
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        return Err(field_error("image", "Choose an image to upload."));
    };
    let processed = process_image(state, bytes).await?;
    let (draft, processed) = match (draft, processed) {
        (Ok(d), Ok(p)) => (d, p),
        (d, p) => {
            let mut errors: Vec<FieldError> = d
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect();
            if let Err(e) = p {
                errors.push(FieldError {
                    field: "image".into(),
                    message: e.to_string(),
                });
            }
            return Err(AppError::Validation(errors));
        }
    };
    let (image_path, thumb_path) = put_image(state, processed, prefix).await?;
    Ok(NewUpload {
        draft,
        image_path,
        thumb_path,
    })
}

async fn portfolio_page(
    state: &AppState,
    session: &Session,
    user: &User,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let profile = own_profile(state, user).await?;
    let pieces = state.store.portfolio(profile.id, 500).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let layout = Layout::new(state, Some(user), Some(csrf::token(session).await?));
    Ok((
        status,
        render(PortfolioPage::new(layout, profile, pieces, errors))?,
    )
        .into_response())
}

/// The signed-in artist's own profile; work can only be added once it exists.
async fn own_profile(state: &AppState, user: &User) -> Result<storage::ArtistProfile, AppError> {
    state.store.artist_for_user(user.id).await?.ok_or_else(|| {
        AppError::Conflict("Set up your profile before adding work or flash.".into())
    })
}

fn require_artist(user: &User) -> Result<(), AppError> {
    if matches!(user.role, Role::Artist | Role::StudioOwner) {
        Ok(())
    } else {
        Err(AppError::Forbidden("This page is for artists only.".into()))
    }
}

#[tracing::instrument(skip_all)]
pub async fn portfolio(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    require_artist(&user)?;
    portfolio_page(&state, &session, &user, vec![]).await
}

#[tracing::instrument(skip_all)]
pub async fn upload(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    form: CsrfMultipart,
) -> Result<Response, AppError> {
    require_artist(&user)?;
    let profile = own_profile(&state, &user).await?;
    let prefix = format!("portfolio/{}", profile.id);
    let item = match accept_upload(&state, &form.fields, single(form.files)?, &prefix, false).await
    {
        Ok(item) => item,
        Err(AppError::Validation(errors)) => {
            return portfolio_page(&state, &form.session, &user, errors).await;
        }
        Err(e) => return Err(e),
    };
    let keys = [(item.image_path.clone(), item.thumb_path.clone())];
    state
        .media
        .kept_if(&keys, state.store.add_portfolio_item(user.id, item))
        .await?;
    Ok(Redirect::to("/dashboard/portfolio").into_response())
}

#[derive(serde::Deserialize)]
pub struct Empty {}

#[tracing::instrument(skip_all)]
pub async fn delete(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    CsrfForm { .. }: CsrfForm<Empty>,
) -> Result<Response, AppError> {
    require_artist(&user)?;
    let (image, thumb) = state.store.delete_portfolio_item(user.id, id).await?;
    // Demo images are shared by seeded pieces; only uploads are removed from storage.
    if image.starts_with("portfolio/") {
        state.media.delete(&[&image, &thumb]).await;
    }
    Ok(Redirect::to("/dashboard/portfolio").into_response())
}

/// A client shares a photo of their healed tattoo; it joins the artist's healed work.
#[tracing::instrument(skip_all)]
pub async fn healed_photo(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    form: CsrfMultipart,
) -> Result<Response, AppError> {
    let id = BookingId::new(id);
    let request = visible_request(&state, id, &user).await?;
    if request.client_id != user.id {
        return Err(AppError::Forbidden(
            "Only the client shares healed photos.".into(),
        ));
    }
    let result = async {
        if form.fields.get("publish").is_none_or(|v| v.is_empty()) {
            return Err(field_error(
                "publish",
                "Tick the box to let the artist show your photo.",
            ));
        }
        let mut fields = form.fields.clone();
        fields.insert("placement".into(), request.placement.clone());
        fields
            .entry("title".into())
            .or_insert_with(|| "Healed piece".into());
        let prefix = format!("portfolio/{}", request.artist_id);
        let item = accept_upload(&state, &fields, single(form.files)?, &prefix, true).await?;
        let keys = [(item.image_path.clone(), item.thumb_path.clone())];
        state
            .media
            .kept_if(&keys, state.store.add_healed_photo(id, user.id, item))
            .await?;
        Ok(())
    }
    .await;
    crate::routes::bookings_pages::after_form(&state, &form.session, &user, id, result).await
}

async fn flash_page(
    state: &AppState,
    session: &Session,
    user: &User,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let profile = own_profile(state, user).await?;
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let (designs, spots, studios) = tokio::try_join!(
        state.store.flash_for_artist(profile.id, 500),
        state.store.guest_spots_for_artist(profile.id, &today),
        state.store.studios()
    )?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let layout = Layout::new(state, Some(user), Some(csrf::token(session).await?));
    let page = crate::templates::FlashPage::new(layout, profile, designs, spots, studios, errors);
    Ok((status, render(page)?).into_response())
}

#[tracing::instrument(skip_all)]
pub async fn flash(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    require_artist(&user)?;
    flash_page(&state, &session, &user, vec![]).await
}

/// Parses the sizes offered: `price_S`/`minutes_S` … `price_XL`/`minutes_XL`.
fn variants(fields: &HashMap<String, String>) -> Result<Vec<domain::FlashVariant>, FieldError> {
    let get = |k: String| fields.get(&k).map(String::as_str).unwrap_or("").to_owned();
    let mut out = Vec::new();
    for size in domain::Size::ALL {
        let v = domain::FlashVariant::parse(
            size,
            &get(format!("price_{}", size.as_str())),
            &get(format!("minutes_{}", size.as_str())),
        )
        .map_err(FieldError::from)?;
        out.extend(v);
    }
    domain::flash::check_variants(&out).map_err(FieldError::from)?;
    Ok(out)
}

#[tracing::instrument(skip_all)]
pub async fn upload_flash(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    form: CsrfMultipart,
) -> Result<Response, AppError> {
    require_artist(&user)?;
    let profile = own_profile(&state, &user).await?;
    let sizes = variants(&form.fields);
    let mut fields = form.fields.clone();
    fields.insert("placement".into(), "other".into());
    let prefix = format!("flash/{}", profile.id);
    let upload = match (
        sizes,
        accept_upload(&state, &fields, single(form.files)?, &prefix, false).await,
    ) {
        (Ok(sizes), Ok(item)) => (sizes, item),
        (sizes, item) => {
            let mut errors = match &item {
                Err(AppError::Validation(e)) => e.clone(),
                Err(_) | Ok(_) => vec![],
            };
            if let Ok(item) = &item {
                state
                    .media
                    .delete(&[&item.image_path, &item.thumb_path])
                    .await;
            }
            if let Err(e) = sizes {
                errors.push(e);
            }
            if let Err(e) = item
                && !matches!(e, AppError::Validation(_))
            {
                return Err(e);
            }
            return flash_page(&state, &form.session, &user, errors).await;
        }
    };
    let (sizes, item) = upload;
    let keys = [(item.image_path.clone(), item.thumb_path.clone())];
    let new = storage::NewFlash {
        title: item.draft.title,
        style: item.draft.style,
        image_path: item.image_path,
        thumb_path: item.thumb_path,
        variants: sizes,
    };
    state
        .media
        .kept_if(&keys, state.store.add_flash(user.id, new))
        .await?;
    Ok(Redirect::to("/dashboard/flash").into_response())
}

#[tracing::instrument(skip_all)]
pub async fn delete_flash(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    CsrfForm { .. }: CsrfForm<Empty>,
) -> Result<Response, AppError> {
    require_artist(&user)?;
    let (image, thumb) = state.store.delete_flash(user.id, id).await?;
    state.media.delete(&[&image, &thumb]).await;
    Ok(Redirect::to("/dashboard/flash").into_response())
}

#[derive(serde::Deserialize)]
pub struct GuestSpotForm {
    #[serde(default)]
    studio: String,
    #[serde(default)]
    starts_on: String,
    #[serde(default)]
    ends_on: String,
    #[serde(default)]
    time_zone: String,
}

#[tracing::instrument(skip_all)]
pub async fn add_guest_spot(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    CsrfForm { form, session }: CsrfForm<GuestSpotForm>,
) -> Result<Response, AppError> {
    require_artist(&user)?;
    let today = time::OffsetDateTime::now_utc().date();
    let spot =
        match domain::GuestSpot::parse(&form.starts_on, &form.ends_on, &form.time_zone, today)
            .and_then(|s| crate::booking::time_zone(&s.time_zone).map(|_| s))
        {
            Ok(s) => s,
            Err(e) => return flash_page(&state, &session, &user, vec![e.into()]).await,
        };
    match state
        .store
        .add_guest_spot(user.id, &form.studio, spot)
        .await
    {
        Ok(_) => Ok(Redirect::to("/dashboard/flash").into_response()),
        Err(storage::StoreError::NotFound) => {
            let e = FieldError {
                field: "studio".into(),
                message: "Choose a studio from the list.".into(),
            };
            flash_page(&state, &session, &user, vec![e]).await
        }
        Err(e) => Err(e.into()),
    }
}

#[tracing::instrument(skip_all)]
pub async fn delete_guest_spot(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    CsrfForm { .. }: CsrfForm<Empty>,
) -> Result<Response, AppError> {
    require_artist(&user)?;
    state.store.delete_guest_spot(user.id, id).await?;
    Ok(Redirect::to("/dashboard/flash").into_response())
}
