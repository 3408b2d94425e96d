//! Portfolio images: checking an upload by its content, re-encoding it (which drops EXIF and GPS
//! data), making a WebP thumbnail, and storing both through `object_store` (a local folder by
//! default, S3 when configured).

use crate::config::MediaSettings;
use crate::error::{AppError, FieldError};
use axum::body::Bytes;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use std::io::Cursor;
use std::sync::Arc;

/// The longest side of a stored full image, and of a thumbnail.
const FULL_SIDE: u32 = 2048;
const THUMB_SIDE: u32 = 480;

/// Why an upload was refused. Each message tells the person what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("The file is empty.")]
    Empty,
    #[error("The file is larger than {0} MB.")]
    TooLarge(usize),
    #[error("This is not a JPEG, PNG or WebP image (whatever its name says).")]
    NotAnImage,
    #[error("The image is {0} megapixels; the limit is {1}.")]
    TooManyPixels(u64, u64),
    #[error("The image could not be read: it looks damaged or truncated.")]
    Corrupt,
    #[error(
        "The image needs too much memory to read; save it with 8 bits per channel, or smaller."
    )]
    TooDeep,
}

/// The most a decoder may allocate for one image: a 40-megapixel RGBA image at 8 bits per
/// channel fits, a 16-bit one of that size does not.
const MAX_DECODE_BYTES: u64 = 192 * 1024 * 1024;

/// An accepted upload, ready to store.
pub struct Processed {
    pub full_jpeg: Vec<u8>,
    pub thumb_webp: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Checks and re-encodes one uploaded image. CPU-bound: call it from `spawn_blocking`.
pub fn process(bytes: &[u8], max_bytes: usize, max_pixels: u64) -> Result<Processed, UploadError> {
    if bytes.is_empty() {
        return Err(UploadError::Empty);
    }
    if bytes.len() > max_bytes {
        return Err(UploadError::TooLarge(max_bytes / (1024 * 1024)));
    }
    // The content decides, never the file name or the declared content type.
    let format = image::guess_format(bytes).map_err(|_| UploadError::NotAnImage)?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP
    ) {
        return Err(UploadError::NotAnImage);
    }
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    let (w, h) = reader.into_dimensions().map_err(|_| UploadError::Corrupt)?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(UploadError::TooManyPixels(
            pixels.div_ceil(1_000_000),
            max_pixels / 1_000_000,
        ));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    // Phones store rotation in EXIF; apply it before the EXIF is dropped.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let img = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    // Area averaging: it needs no float copy of the source (Lanczos on 6000x6000 would allocate
    // another 150 MB), and at these reduction factors it looks as good. Shrinking comes before
    // rotating, so that only the small image is rotated.
    let mut full = if img.width().max(img.height()) > FULL_SIDE {
        let small = img.thumbnail(FULL_SIDE, FULL_SIDE);
        drop(img);
        small
    } else {
        img
    };
    full.apply_orientation(orientation);
    let thumb = full.thumbnail(THUMB_SIDE, THUMB_SIDE);
    let mut full_jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut full_jpeg, 85)
        .encode_image(&full.to_rgb8())
        .map_err(|_| UploadError::Corrupt)?;
    let mut thumb_webp = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(thumb.to_rgb8())
        .write_to(&mut thumb_webp, ImageFormat::WebP)
        .map_err(|_| UploadError::Corrupt)?;
    Ok(Processed {
        full_jpeg,
        thumb_webp: thumb_webp.into_inner(),
        width: full.width(),
        height: full.height(),
    })
}

/// The top-level folders whose files anyone may fetch under `/media/`. An allow-list, so that a
/// private folder (`references/`, or anything added later) is never public by omission.
pub const PUBLIC_PREFIXES: &[&str] = &["portfolio", "flash", "demo"];

/// Whether the public media files may serve `path` (relative to `/media`), however it is spelt:
/// it is decoded and resolved exactly as the file server will, then checked against the allow-list.
pub fn is_public_path(path: &str) -> bool {
    crate::canonical::segments(path)
        .is_ok_and(|s| s.len() >= 2 && PUBLIC_PREFIXES.contains(&s[0].as_ref()))
}

fn decode_error(e: image::ImageError) -> UploadError {
    match e {
        image::ImageError::Limits(_) => UploadError::TooDeep,
        _ => UploadError::Corrupt,
    }
}

/// Where images are kept. Browsers fetch them under `/media/`: from this service's folder, or
/// from the bucket through the CDN.
#[derive(Clone)]
pub struct MediaStore {
    objects: Arc<dyn ObjectStore>,
    /// One permit per image being decoded; see `MediaSettings::max_parallel_decodes`.
    decodes: Arc<tokio::sync::Semaphore>,
    max_bytes: usize,
    max_pixels: u64,
}

impl MediaStore {
    pub fn from_settings(media: &MediaSettings) -> anyhow::Result<Self> {
        let objects: Arc<dyn ObjectStore> = match &media.s3_bucket {
            // Under `media/` in the bucket: the CDN maps `/media/...` URLs to keys of the same
            // path, so pages link every image the same way with a folder or a bucket.
            Some(bucket) => Arc::new(object_store::prefix::PrefixStore::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| anyhow::anyhow!("media.s3_bucket {bucket:?}: {e}"))?,
                "media",
            )),
            None => {
                std::fs::create_dir_all(&media.dir).map_err(|e| {
                    anyhow::anyhow!("creating the media folder {}: {e}", media.dir.display())
                })?;
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(&media.dir)
                        .map_err(|e| anyhow::anyhow!("media.dir {}: {e}", media.dir.display()))?,
                )
            }
        };
        Ok(Self {
            objects,
            decodes: Arc::new(tokio::sync::Semaphore::new(media.max_parallel_decodes)),
            max_bytes: media.max_upload_bytes,
            max_pixels: media.max_pixels,
        })
    }

    /// Checks and re-encodes one image off the async threads; the inner error is the person's.
    pub async fn process(&self, bytes: Bytes) -> Result<Result<Processed, UploadError>, AppError> {
        let (max_bytes, max_pixels) = (self.max_bytes, self.max_pixels);
        // Waiting is bounded too: past it the client is told to retry rather than queueing forever.
        let permit = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            self.decodes.clone().acquire_owned(),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| AppError::Busy {
            message: "Many images are being processed right now. Please try again in a moment."
                .into(),
            retry_after_secs: 5,
        })?;
        // The blocking thread does not inherit the request's span: hand it over, so the decode
        // shows in the trace under the request that uploaded it.
        let span = tracing::info_span!("image.process", image.bytes = bytes.len());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(|| process(&bytes, max_bytes, max_pixels))
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))
    }

    /// Fresh keys for an image and its thumbnail under `prefix`.
    pub fn image_keys(prefix: &str) -> (String, String) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        (
            format!("{prefix}/{id}.jpg"),
            format!("{prefix}/{id}-thumb.webp"),
        )
    }

    /// Stores an image and its thumbnail under their keys; if the second write fails the first
    /// is removed.
    pub async fn put_pair(
        &self,
        (image_path, image): (&str, Vec<u8>),
        (thumb_path, thumb): (&str, Vec<u8>),
    ) -> Result<(), AppError> {
        self.put(image_path, image).await?;
        if let Err(e) = self.put(thumb_path, thumb).await {
            self.delete(&[image_path]).await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Stores a processed image and its thumbnail under `prefix` and returns their keys; if the
    /// second write fails the first is removed.
    pub async fn put_image(
        &self,
        processed: Processed,
        prefix: &str,
    ) -> Result<(String, String), AppError> {
        let (image_path, thumb_path) = Self::image_keys(prefix);
        self.put_pair(
            (&image_path, processed.full_jpeg),
            (&thumb_path, processed.thumb_webp),
        )
        .await?;
        Ok((image_path, thumb_path))
    }

    /// Checks and re-encodes one image and stores it and its thumbnail under `prefix`; returns
    /// the keys. Nothing stays stored if it fails.
    pub async fn store_image(
        &self,
        bytes: Bytes,
        prefix: &str,
    ) -> Result<(String, String), AppError> {
        let processed = self.checked(bytes).await?;
        self.put_image(processed, prefix).await
    }

    /// Checks and re-encodes one image; a bad one is a validation error on `image`.
    pub async fn checked(&self, bytes: Bytes) -> Result<Processed, AppError> {
        self.process(bytes).await?.map_err(|e| {
            AppError::Validation(vec![FieldError {
                field: "image".into(),
                message: e.to_string(),
            }])
        })
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.objects
            .put(&ObjectPath::from(key), Bytes::from(bytes).into())
            .await
            .map(drop)
            .map_err(|e| anyhow::anyhow!("storing {key}: {e}"))
    }

    /// The bytes stored under `key`, or `None` when nothing is.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Bytes>> {
        match self.objects.get(&ObjectPath::from(key)).await {
            Ok(found) => Ok(Some(
                found
                    .bytes()
                    .await
                    .map_err(|e| anyhow::anyhow!("reading {key}: {e}"))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("reading {key}: {e}")),
        }
    }

    /// Awaits `record`, which writes already-stored images (`keys`: image and thumbnail) to the
    /// database; if it fails the files are deleted again, so a failed write leaves nothing behind.
    pub async fn kept_if<T, E>(
        &self,
        keys: &[(String, String)],
        record: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let outcome = record.await;
        if outcome.is_err() {
            for (image, thumb) in keys {
                self.delete(&[image, thumb]).await;
            }
        }
        outcome
    }

    /// Removes one object and says whether it could: erasure must know, to try again. A missing
    /// object counts as removed.
    pub async fn remove(&self, key: &str) -> anyhow::Result<()> {
        match self.objects.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("deleting {key}: {e}")),
        }
    }

    /// Removes objects; a missing one is not an error (deleting twice is harmless).
    pub async fn delete(&self, keys: &[&str]) {
        for key in keys {
            match self.objects.delete(&ObjectPath::from(*key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(key, error = %e, "could not delete an image; it is orphaned")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 30, 60]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn only_public_folders_are_public_however_the_path_is_spelt() {
        for public in ["/portfolio/3/a.jpg", "/demo/x-1.png", "//flash/2/b.webp"] {
            assert!(is_public_path(public), "{public}");
        }
        for private in [
            "/references/1/a.jpg",
            "/references/1/a.jpg/",
            "//references//1/a.jpg",
            "/./references/1/a.jpg",
            "/portfolio/../references/1/a.jpg",
            "/%72eferences/1/a.jpg",
            "/References/1/a.jpg",
            "/portfolio%2F..%2Freferences/1/a.jpg",
            "/mail/x.eml",
            "/portfolio",
            "/",
        ] {
            assert!(!is_public_path(private), "{private}");
        }
    }

    #[test]
    fn a_png_becomes_a_jpeg_and_a_webp_thumbnail() {
        let p = process(&png(1200, 800), 10 << 20, 40_000_000).unwrap();
        assert_eq!((p.width, p.height), (1200, 800));
        assert_eq!(
            image::guess_format(&p.full_jpeg).unwrap(),
            ImageFormat::Jpeg
        );
        assert_eq!(
            image::guess_format(&p.thumb_webp).unwrap(),
            ImageFormat::WebP
        );
        let thumb = image::load_from_memory(&p.thumb_webp).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (480, 320));
    }

    #[test]
    fn exif_and_gps_do_not_survive_re_encoding() {
        let mut jpeg = Vec::new();
        let img = image::RgbImage::from_pixel(64, 64, image::Rgb([1, 2, 3]));
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
            .encode_image(&img)
            .unwrap();
        // Splice an APP1 EXIF segment carrying a GPS marker in after the SOI marker.
        let payload = b"Exif\0\0MM\0*GPSLatitude=51.5;GPSLongitude=-0.12";
        let len = (payload.len() + 2) as u16;
        let mut with_exif = vec![0xFF, 0xD8, 0xFF, 0xE1];
        with_exif.extend_from_slice(&len.to_be_bytes());
        with_exif.extend_from_slice(payload);
        with_exif.extend_from_slice(&jpeg[2..]);
        let p = process(&with_exif, 10 << 20, 40_000_000).unwrap();
        let hay = |b: &[u8], n: &[u8]| b.windows(n.len()).any(|w| w == n);
        assert!(hay(&with_exif, b"GPSLatitude"));
        assert!(!hay(&p.full_jpeg, b"Exif") && !hay(&p.full_jpeg, b"GPS"));
        assert!(!hay(&p.thumb_webp, b"GPS"));
    }

    #[test]
    fn content_not_names_decide_and_limits_hold() {
        assert_eq!(process(b"", 10, 10).err(), Some(UploadError::Empty));
        assert_eq!(
            process(b"GIF89a....", 100, 100).err(),
            Some(UploadError::NotAnImage)
        );
        assert_eq!(
            process(b"<html>not an image</html>", 100, 100).err(),
            Some(UploadError::NotAnImage)
        );
        assert_eq!(
            process(&png(10, 10), 20, 100).err(),
            Some(UploadError::TooLarge(0))
        );
        assert_eq!(
            process(&png(5000, 5000), 10 << 20, 20_000_000).err(),
            Some(UploadError::TooManyPixels(25, 20))
        );
        let mut truncated = png(300, 300);
        truncated.truncate(truncated.len() / 2);
        assert_eq!(
            process(&truncated, 10 << 20, 40_000_000).err(),
            Some(UploadError::Corrupt)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = process(&bytes, 10 << 20, 40_000_000);
        }

        #[test]
        fn damaged_pngs_are_refused_without_panicking(cut in 8usize..400, flip in 0usize..400) {
            let mut bytes = png(40, 30);
            let n = bytes.len();
            bytes[flip % n] ^= 0x5A;
            bytes.truncate(cut.min(n));
            let _ = process(&bytes, 10 << 20, 40_000_000);
        }
    }
}
