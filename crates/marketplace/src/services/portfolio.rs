//! The artist's profile and work: portfolio pieces, flash designs, guest spots, settings, and the
//! healed photo a client shares after a completed session. Images are checked by content and
//! re-encoded (`media`) before anything is recorded, and removed again if recording fails.

use crate::error::{AppError, FieldError};
use crate::services::booking::visible_request;
use crate::state::AppState;
use axum::body::Bytes;
use domain::{BookingId, PortfolioDraft, SkinTone};
use std::collections::HashMap;
use storage::{ArtistProfile, NewUpload, User};

/// The one image a portfolio, flash or healed-photo form carries.
fn single(files: Vec<Bytes>) -> Result<Option<Bytes>, AppError> {
    if files.len() > 1 {
        return Err(AppError::field("image", "Send one image at a time."));
    }
    Ok(files.into_iter().next())
}

/// The signed-in artist's own profile; work, flash and payouts need it to exist.
pub async fn own_profile(state: &AppState, user: &User) -> Result<ArtistProfile, AppError> {
    state.store.artist_for_user(user.id).await?.ok_or_else(|| {
        AppError::Conflict("Set up your artist profile first, at /dashboard/profile.".into())
    })
}

/// Parses the form, checks and re-encodes the image, and stores both files under `prefix`.
/// Returns the new piece's description and keys; nothing is stored if anything fails.
async fn accept_upload(
    state: &AppState,
    fields: &HashMap<String, String>,
    file: Option<Bytes>,
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
        return Err(AppError::field("image", "Choose an image to upload."));
    };
    let processed = state.media.process(bytes).await?;
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
    let (image_path, thumb_path) = state.media.put_image(processed, prefix).await?;
    Ok(NewUpload {
        draft,
        image_path,
        thumb_path,
    })
}

/// Adds a piece to the artist's portfolio from the upload form.
pub async fn add_piece(
    state: &AppState,
    artist: &User,
    fields: &HashMap<String, String>,
    files: Vec<Bytes>,
) -> Result<(), AppError> {
    let profile = own_profile(state, artist).await?;
    let prefix = format!("portfolio/{}", profile.id);
    let item = accept_upload(state, fields, single(files)?, &prefix, false).await?;
    let keys = [(item.image_path.clone(), item.thumb_path.clone())];
    state
        .media
        .kept_if(&keys, state.store.add_portfolio_item(artist.id, item))
        .await?;
    Ok(())
}

/// Removes one of the artist's own pieces, and its files.
pub async fn delete_piece(state: &AppState, artist: &User, id: i64) -> Result<(), AppError> {
    let (image, thumb) = state.store.delete_portfolio_item(artist.id, id).await?;
    // Demo images are shared by seeded pieces; only uploads are removed from storage.
    if image.starts_with("portfolio/") {
        state.media.delete(&[&image, &thumb]).await;
    }
    Ok(())
}

/// A client shares a photo of their healed tattoo; it joins the artist's healed work.
pub async fn share_healed_photo(
    state: &AppState,
    client: &User,
    id: BookingId,
    fields: &HashMap<String, String>,
    files: Vec<Bytes>,
) -> Result<(), AppError> {
    let request = visible_request(state, id, client).await?;
    if request.client_id != client.id {
        return Err(AppError::Forbidden(
            "Only the client shares healed photos.".into(),
        ));
    }
    if fields.get("publish").is_none_or(|v| v.is_empty()) {
        return Err(AppError::field(
            "publish",
            "Tick the box to let the artist show your photo.",
        ));
    }
    let mut fields = fields.clone();
    fields.insert("placement".into(), request.placement.clone());
    fields
        .entry("title".into())
        .or_insert_with(|| "Healed piece".into());
    let prefix = format!("portfolio/{}", request.artist_id);
    let item = accept_upload(state, &fields, single(files)?, &prefix, true).await?;
    let keys = [(item.image_path.clone(), item.thumb_path.clone())];
    state
        .media
        .kept_if(&keys, state.store.add_healed_photo(id, client.id, item))
        .await?;
    Ok(())
}

/// Parses the sizes offered: `price_S`/`minutes_S` … `price_XL`/`minutes_XL`.
fn variants(
    fields: &HashMap<String, String>,
    currency: domain::Currency,
) -> Result<Vec<domain::FlashVariant>, FieldError> {
    let get = |k: String| fields.get(&k).map(String::as_str).unwrap_or("").to_owned();
    let mut out = Vec::new();
    for size in domain::Size::ALL {
        let v = domain::FlashVariant::parse(
            size,
            &get(format!("price_{}", size.as_str())),
            &get(format!("minutes_{}", size.as_str())),
            currency,
        )
        .map_err(FieldError::from)?;
        out.extend(v);
    }
    domain::flash::check_variants(&out).map_err(FieldError::from)?;
    Ok(out)
}

/// Adds a flash design with the sizes and prices it is offered in. Every problem with the form
/// and the image is reported at once.
pub async fn add_flash(
    state: &AppState,
    artist: &User,
    fields: &HashMap<String, String>,
    files: Vec<Bytes>,
) -> Result<(), AppError> {
    let profile = own_profile(state, artist).await?;
    let sizes = variants(fields, profile.currency);
    let mut fields = fields.clone();
    fields.insert("placement".into(), "other".into());
    let prefix = format!("flash/{}", profile.id);
    let (sizes, item) = match (
        sizes,
        accept_upload(state, &fields, single(files)?, &prefix, false).await,
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
            return Err(AppError::Validation(errors));
        }
    };
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
        .kept_if(&keys, state.store.add_flash(artist.id, new))
        .await?;
    Ok(())
}

/// Removes one of the artist's flash designs, and its files.
pub async fn delete_flash(state: &AppState, artist: &User, id: i64) -> Result<(), AppError> {
    let (image, thumb) = state.store.delete_flash(artist.id, id).await?;
    state.media.delete(&[&image, &thumb]).await;
    Ok(())
}

/// A guest spot as the form sends it.
pub struct GuestSpotInput<'a> {
    pub studio: &'a str,
    pub starts_on: &'a str,
    pub ends_on: &'a str,
    pub time_zone: &'a str,
}

/// Announces a stay at a studio (by its slug) in the artist's calendar.
pub async fn add_guest_spot(
    state: &AppState,
    artist: &User,
    input: GuestSpotInput<'_>,
) -> Result<(), AppError> {
    let today = time::OffsetDateTime::now_utc().date();
    let spot = domain::GuestSpot::parse(input.starts_on, input.ends_on, input.time_zone, today)
        .and_then(|s| crate::clock::time_zone(&s.time_zone).map(|_| s))
        .map_err(|e| AppError::Validation(vec![e.into()]))?;
    match state
        .store
        .add_guest_spot(artist.id, input.studio, spot)
        .await
    {
        Ok(_) => Ok(()),
        Err(storage::StoreError::NotFound) => {
            Err(AppError::field("studio", "Choose a studio from the list."))
        }
        Err(e) => Err(e.into()),
    }
}

/// Saves the artist's profile and policy; a slug another artist has is the person's to change.
pub async fn save_settings(
    state: &AppState,
    artist: &User,
    settings: storage::ArtistSettings,
) -> Result<(), AppError> {
    match state.store.save_artist_settings(artist.id, settings).await {
        Ok(_) => Ok(()),
        Err(storage::StoreError::Conflict(m)) => Err(AppError::field("slug", m)),
        Err(e) => Err(e.into()),
    }
}
