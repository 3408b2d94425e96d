//! Demo data for an empty database: artists across cities and styles, studios, clients, bookings
//! in every state, and portfolio images drawn locally (nothing is downloaded).

mod artwork;

use crate::auth::password;
use crate::error::AppError;
use artwork::draw_design;
use domain::{BookingState, DisplayName, Email, FlashVariant, Role, Size, Slug, Style};
use image::{ImageFormat, RgbImage};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use storage::{
    CatalogueBatch, ImportSummary, NewArtist, NewBooking, NewFlash, NewFlashItem, NewPortfolioItem,
    NewStudio, NewUser, Store,
};

/// Every demo account signs in with this password (development only; never seeded elsewhere by default).
pub const DEMO_PASSWORD: &str = "ink-and-needles-demo";

/// Accounts offered for one-click sign-in when `auth.simplified_sign_in` is on.
pub const DEMO_SIGN_INS: &[(&str, &str)] = &[
    ("admin@tattoo.example", "Admin"),
    ("mara.okafor@artists.tattoo.example", "Artist: Mara Okafor"),
    (
        "sam.whitfield@clients.tattoo.example",
        "Client: Sam Whitfield",
    ),
];

const CITIES: &[(&str, &str, &str)] = &[
    ("Berlin", "DE", "DE"),
    ("London", "GB", "GB"),
    ("Paris", "FR", "FR"),
    ("Amsterdam", "NL", "NL"),
    ("New York", "US", "US-NY"),
    ("Los Angeles", "US", "US-CA"),
    ("Miami", "US", "US-FL"),
    ("Sydney", "AU", "AU-NSW"),
    ("Toronto", "CA", "CA-ON"),
    ("Hamburg", "DE", "DE"),
];

/// The IANA zone of each demo city.
fn time_zone_of(city: &str) -> &'static str {
    match city {
        "Berlin" | "Hamburg" => "Europe/Berlin",
        "London" => "Europe/London",
        "Paris" => "Europe/Paris",
        "Amsterdam" => "Europe/Amsterdam",
        "New York" => "America/New_York",
        "Los Angeles" => "America/Los_Angeles",
        "Miami" => "America/New_York",
        "Sydney" => "Australia/Sydney",
        "Toronto" => "America/Toronto",
        _ => "UTC",
    }
}

const STUDIOS: &[&str] = &[
    "Black Lodge Tattoo",
    "Iron & Ink",
    "Atelier Encre",
    "Kraken Studio",
    "Bowery Electric Tattoo",
    "Sunset Needle",
    "Coral Gables Ink",
    "Harbour Lights Tattoo",
    "Maple Leaf Tattoo Co.",
    "Elbe Tattoo Collective",
];

const ARTIST_NAMES: &[&str] = &[
    "Mara Okafor",
    "Jonas Lindqvist",
    "Aiko Tanaka",
    "Rafael Duarte",
    "Nina Petrova",
    "Theo Marchetti",
    "Leila Haddad",
    "Ben Carter",
    "Sofia Álvarez",
    "Kenji Mori",
    "Ines Fontaine",
    "Ollie Brennan",
    "Priya Raman",
    "Lukas Weber",
    "Hana Kim",
    "Marco Bellini",
    "Freya Nilsson",
    "Diego Castillo",
    "Zoe Laurent",
    "Tomasz Nowak",
    "Amara Mensah",
    "Finn O'Reilly",
    "Yara Santos",
    "Elias Becker",
    "Mei Lin",
    "Jack Thornton",
    "Chloé Moreau",
    "Omar Farouk",
    "Greta Hansen",
    "Luca Romano",
    "Ava Mitchell",
    "Kai Nakamura",
    "Rosa Delgado",
    "Henrik Berg",
    "Lina Schmidt",
    "Noah Fischer",
    "Isla MacLeod",
    "Mateo Rossi",
    "Sienna Clarke",
    "Viktor Ivanov",
    "Maya Cohen",
    "Oscar Lindgren",
    "Tara Singh",
    "Felix Wagner",
    "Luna García",
    "Arjun Mehta",
    "Eva Novak",
    "Sean Gallagher",
];

const CLIENT_NAMES: &[&str] = &[
    "Sam Whitfield",
    "Alex Moreno",
    "Jamie Chen",
    "Robin Meyer",
    "Charlie Dubois",
    "Taylor Brooks",
    "Jordan Evans",
    "Casey Müller",
    "Morgan Patel",
    "Riley Novak",
    "Avery Kowalski",
    "Quinn Jensen",
    "Drew Nakamura",
    "Skyler Rossi",
    "Emery Walsh",
    "Reese Okonkwo",
];

const PIECES: &[&str] = &[
    "Koi and peonies",
    "Moth with moon phases",
    "Snake and dagger",
    "Botanical sleeve panel",
    "Swallow pair",
    "Geometric wolf",
    "Lotus mandala",
    "Script: 'still here'",
    "Hannya mask",
    "Fine-line wildflowers",
    "Skull and roses",
    "Ornamental sternum piece",
    "Watercolour hummingbird",
    "Tiger head",
    "Crescent moon and stars",
    "Compass rose",
    "Lighthouse at dusk",
    "Octopus half-sleeve",
];

const PLACEMENTS: &[&str] = &[
    "forearm",
    "upper-arm",
    "calf",
    "thigh",
    "shoulder",
    "back",
    "ribs",
    "ankle",
    "wrist",
    "sternum",
    "collarbone",
    "hand",
];

const IDEAS: &[&str] = &[
    "A small botanical piece to go with my existing fern",
    "Cover-up of an old tribal band",
    "Portrait of my dog in black and grey",
    "Traditional swallow, matching my sister's",
    "Japanese-style wave wrapping around the calf",
    "Fine-line constellation of my kids' birth stars",
    "Geometric mandala, symmetrical, around 12 cm",
    "Lettering in my grandmother's handwriting",
];

const SIZES: &[&str] = &["S", "M", "L", "XL"];

const FLASH: &[&str] = &[
    "Dagger and rose",
    "Swallow with banner",
    "Sacred heart",
    "Luna moth",
    "Crescent moon",
    "Coiled snake",
    "Panther head",
    "All-seeing eye",
    "Anchor and rope",
    "Wildflower bunch",
];

/// Fills an empty database. Returns `Ok(None)` without writing anything when it holds accounts,
/// including when another instance starting at the same moment seeded it first.
pub async fn seed_if_empty(
    store: &dyn Store,
    media_dir: &Path,
) -> Result<Option<ImportSummary>, AppError> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let password_hash = password::Passwords::new(password::HashLimits::default())
        .hash(DEMO_PASSWORD.to_owned())
        .await?;
    let media_dir = media_dir.to_owned();
    let (batch, written) = tokio::task::spawn_blocking(move || build(&media_dir, &password_hash))
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
    match store.seed_catalogue(batch).await {
        Ok(summary) => Ok(summary),
        Err(e) => {
            // The rows were rolled back; remove the images so nothing half-seeded remains,
            // unless another instance's seed landed, whose rows point at the same files.
            if store.count_users().await.unwrap_or(1) == 0 {
                for file in written {
                    let _ = std::fs::remove_file(file);
                }
            }
            Err(e.into())
        }
    }
}

fn email_for(name: &str, domain: &str) -> Email {
    let local = Slug::from_name(name)
        .map(|s| s.as_str().replace('-', "."))
        .unwrap_or_else(|_| "someone".into());
    Email::parse(&format!("{local}@{domain}")).expect("demo emails are valid")
}

fn user(name: &str, email: Email, role: Role, password_hash: &str) -> NewUser {
    NewUser {
        email,
        display_name: DisplayName::parse(name).expect("demo names are valid"),
        role,
        password_hash: password_hash.to_owned(),
    }
}

type Built = (CatalogueBatch, Vec<PathBuf>);

/// Flash sizes priced from the hourly rate: S takes an hour, each size up takes longer.
fn flash_sizes(hourly_cents: i64, with_xl: bool) -> Vec<FlashVariant> {
    let mut sizes = vec![(Size::S, 60), (Size::M, 120), (Size::L, 180)];
    if with_xl {
        sizes.push((Size::XL, 300));
    }
    sizes
        .into_iter()
        .map(|(size, minutes)| FlashVariant {
            size,
            // Rounded to whole units of the currency, as artists price flash.
            price_cents: (hourly_cents * minutes / 60).div_euclid(1_000) * 1_000,
            minutes,
        })
        .collect()
}

/// Writes a design as `demo/{stem}.png` and its thumbnail as `demo/{stem}-thumb.webp` under the
/// media folder; returns both keys.
fn write_design(
    media_dir: &Path,
    stem: &str,
    design: &RgbImage,
    written: &mut Vec<PathBuf>,
) -> Result<(String, String), AppError> {
    let (image_rel, thumb_rel) = (
        format!("demo/{stem}.png"),
        format!("demo/{stem}-thumb.webp"),
    );
    let thumb = image::imageops::thumbnail(design, 240, 240);
    for (rel, img, format) in [
        (&image_rel, design, ImageFormat::Png),
        (&thumb_rel, &thumb, ImageFormat::WebP),
    ] {
        let mut bytes = Cursor::new(Vec::new());
        img.write_to(&mut bytes, format)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding demo image: {e}")))?;
        let path = media_dir.join(rel);
        // Instances starting together write the same files: each renames a whole file
        // into place, so a reader never sees one half-written by another.
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, bytes.into_inner())
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("writing {}: {e}", path.display())))?;
        written.push(path);
    }
    Ok((image_rel, thumb_rel))
}

fn build(media_dir: &Path, password_hash: &str) -> Result<Built, AppError> {
    let mut rng = StdRng::seed_from_u64(0x007A_7700);
    let mut batch = CatalogueBatch::default();
    let mut written = Vec::new();
    let demo_dir = media_dir.join("demo");
    std::fs::create_dir_all(&demo_dir)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("creating {}: {e}", demo_dir.display())))?;

    batch.users.push(user(
        "Site Admin",
        Email::parse("admin@tattoo.example").expect("valid"),
        Role::Admin,
        password_hash,
    ));
    for (i, (city, country, jurisdiction)) in CITIES.iter().enumerate() {
        batch.studios.push(NewStudio {
            slug: Slug::from_name(STUDIOS[i]).expect("valid"),
            name: STUDIOS[i].to_owned(),
            city: (*city).to_owned(),
            country: (*country).to_owned(),
            jurisdiction: (*jurisdiction).to_owned(),
        });
    }
    for (i, name) in ARTIST_NAMES.iter().enumerate() {
        batch.users.push(user(
            name,
            email_for(name, "artists.tattoo.example"),
            Role::Artist,
            password_hash,
        ));
        let city_index = i % CITIES.len();
        let (city, country, jurisdiction) = CITIES[city_index];
        let count = rng.gen_range(2..=3);
        let mut styles: Vec<Style> = Style::ALL
            .choose_multiple(&mut rng, count)
            .copied()
            .collect();
        // Guarantees every style is represented at least once across the demo artists.
        styles[0] = Style::ALL[i % Style::ALL.len()];
        styles.dedup();
        let price_min = rng.gen_range(8..=20) * 1_000;
        let hourly = rng.gen_range(10..=25) * 1_000;
        batch.artists.push(NewArtist {
            user: batch.users.len() - 1,
            studio: (i % 3 != 2).then_some(city_index),
            slug: Slug::from_name(name).expect("valid"),
            bio: format!(
                "{name} tattoos in {city}, mostly {}. Consultations in person or by video; custom work preferred over flash.",
                styles.iter().map(|s| s.label().to_lowercase()).collect::<Vec<_>>().join(" and ")
            ),
            city: city.to_owned(),
            country: country.to_owned(),
            jurisdiction: jurisdiction.to_owned(),
            styles: styles.clone(),
            price_min_cents: price_min * 10,
            price_max_cents: price_min * 10 * rng.gen_range(3..=8),
            hourly_rate_cents: hourly * 10,
            // The demo artist offered on the sign-in page can always be booked.
            books_open: rng.gen_bool(0.7) || i == 0,
            min_age: if i % 7 == 0 { 21 } else { 18 },
            time_zone: time_zone_of(city).to_owned(),
        });
        let artist = batch.artists.len() - 1;
        for n in 0..3 {
            let style = styles[n % styles.len()];
            let slug = Slug::from_name(name).expect("valid");
            let (image_rel, thumb_rel) = write_design(
                media_dir,
                &format!("{}-{n}", slug.as_str()),
                &draw_design((i * 3 + n) as u64, style, 480),
                &mut written,
            )?;
            batch.portfolio.push(NewPortfolioItem {
                artist,
                title: PIECES[(i * 3 + n) % PIECES.len()].to_owned(),
                style,
                placement: PLACEMENTS[rng.gen_range(0..PLACEMENTS.len())].to_owned(),
                healed: n != 0,
                image_path: image_rel,
                thumb_path: thumb_rel,
            });
        }
        if i % 3 == 0 {
            for n in 0..2 {
                let style = styles[n % styles.len()];
                let slug = Slug::from_name(name).expect("valid");
                let (image_rel, thumb_rel) = write_design(
                    media_dir,
                    &format!("{}-flash-{n}", slug.as_str()),
                    &draw_design(10_000 + (i * 2 + n) as u64, style, 480),
                    &mut written,
                )?;
                batch.flash.push(NewFlashItem {
                    artist,
                    flash: NewFlash {
                        title: FLASH[(i + n) % FLASH.len()].to_owned(),
                        style,
                        image_path: image_rel,
                        thumb_path: thumb_rel,
                        variants: flash_sizes(hourly * 10, n == 0),
                    },
                });
            }
        }
    }
    let first_client = batch.users.len();
    for name in CLIENT_NAMES {
        batch.users.push(user(
            name,
            email_for(name, "clients.tattoo.example"),
            Role::Client,
            password_hash,
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    for i in 0..40 {
        batch.bookings.push(NewBooking {
            client: first_client + i % CLIENT_NAMES.len(),
            artist: (i * 5) % ARTIST_NAMES.len(),
            state: BookingState::ALL[i % BookingState::ALL.len()],
            idea: IDEAS[i % IDEAS.len()].to_owned(),
            placement: PLACEMENTS[i % PLACEMENTS.len()].to_owned(),
            size: SIZES[i % SIZES.len()].to_owned(),
            created_at: now - time::Duration::days(i as i64 + 1),
        });
    }
    Ok((batch, written))
}

/// Artists added per transaction by `seed_bulk`, so a large seed commits in steps and memory
/// stays flat.
const BULK_BATCH: usize = 500;
/// Portfolio pieces per bulk artist: 10,000 artists make the spec's 100,000 items.
const BULK_PIECES: usize = 10;

/// Grows the catalogue to `target` artists for load tests and benchmarks
/// (`marketplace seed-demo --artists 10000`). Bulk artists reuse the demo images, so it needs
/// the demo seed first. Returns how many artists it added.
pub async fn seed_bulk(store: &dyn Store, target: usize) -> Result<usize, AppError> {
    let counts = store.catalogue_counts().await?;
    let existing = usize::try_from(counts.artists).unwrap_or(0);
    if existing >= target {
        return Ok(0);
    }
    let images: Vec<(String, String)> = (0..ARTIST_NAMES.len() * 3)
        .map(|k| {
            let slug = Slug::from_name(ARTIST_NAMES[k / 3]).expect("valid");
            (
                format!("demo/{}-{}.png", slug.as_str(), k % 3),
                format!("demo/{}-{}-thumb.webp", slug.as_str(), k % 3),
            )
        })
        .collect();
    let password_hash = password::Passwords::new(password::HashLimits::default())
        .hash(DEMO_PASSWORD.to_owned())
        .await?;
    let mut rng = StdRng::seed_from_u64(0x0B01_0C00 ^ existing as u64);
    let mut added = 0;
    while existing + added < target {
        let mut batch = CatalogueBatch::default();
        for _ in 0..BULK_BATCH.min(target - existing - added) {
            let n = existing + added + batch.artists.len();
            let first = ARTIST_NAMES[n % ARTIST_NAMES.len()]
                .split(' ')
                .next()
                .unwrap_or("Artist");
            let name = format!("{first} {}", n + 1);
            let slug = Slug::parse(&format!("artist-{}", n + 1)).expect("valid");
            batch.users.push(user(
                &name,
                Email::parse(&format!("artist{}@bulk.tattoo.example", n + 1)).expect("valid"),
                Role::Artist,
                &password_hash,
            ));
            let (city, country, jurisdiction) = CITIES[rng.gen_range(0..CITIES.len())];
            let how_many = rng.gen_range(1..=3);
            let styles: Vec<Style> = Style::ALL
                .choose_multiple(&mut rng, how_many)
                .copied()
                .collect();
            let price_min = rng.gen_range(5..=40) * 1_000;
            batch.artists.push(NewArtist {
                user: batch.users.len() - 1,
                studio: None,
                slug,
                bio: format!(
                    "{name} works in {city}: {}.",
                    styles
                        .iter()
                        .map(|s| s.label().to_lowercase())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                city: city.to_owned(),
                country: country.to_owned(),
                jurisdiction: jurisdiction.to_owned(),
                styles: styles.clone(),
                price_min_cents: price_min * 10,
                price_max_cents: price_min * 10 * rng.gen_range(2..=6),
                hourly_rate_cents: rng.gen_range(80..=250) * 100,
                books_open: rng.gen_bool(0.6),
                min_age: 18,
                time_zone: time_zone_of(city).to_owned(),
            });
            let artist = batch.artists.len() - 1;
            for p in 0..BULK_PIECES {
                let (image_path, thumb_path) = images[rng.gen_range(0..images.len())].clone();
                batch.portfolio.push(NewPortfolioItem {
                    artist,
                    title: PIECES[(n + p) % PIECES.len()].to_owned(),
                    style: styles[p % styles.len()],
                    placement: PLACEMENTS[rng.gen_range(0..PLACEMENTS.len())].to_owned(),
                    healed: rng.gen_bool(0.5),
                    image_path,
                    thumb_path,
                });
            }
        }
        added += store.import_catalogue(batch).await?.artists;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_covers_enough_cities_styles_and_artists() {
        assert!(ARTIST_NAMES.len() >= 40);
        assert!(CITIES.len() >= 8);
        let emails: Vec<_> = ARTIST_NAMES
            .iter()
            .map(|n| email_for(n, "artists.tattoo.example"))
            .collect();
        assert!(emails.iter().any(|e| e.as_str() == DEMO_SIGN_INS[1].0));
        let mut unique = emails.clone();
        unique.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        unique.dedup();
        assert_eq!(unique.len(), emails.len());
        assert_eq!(
            email_for(CLIENT_NAMES[0], "clients.tattoo.example").as_str(),
            DEMO_SIGN_INS[2].0
        );
    }
}
