//! Data exports (GDPR art. 15 and 20, CCPA "know"): asked for on the account page, built in the
//! background into a tar of JSON and images spooled to a temporary file, stored in sealed parts
//! (the archive holds health answers), emailed as a link that expires, and streamed back.

use crate::client_ip::Origin;
use crate::error::AppError;
use crate::services::audit;
use crate::state::AppState;
use axum::body::Bytes;
use domain::{AuditAction, UserId};
use std::io::{Read, Write};
use storage::{DataExport, User};

/// GDPR's one month (CCPA allows 45 days).
const DUE_SECS: i64 = 30 * 86_400;
/// How long a finished archive can be downloaded.
const KEEP_SECS: i64 = 7 * 86_400;
/// A build whose worker stopped is started again after this.
const LEASE_SECS: i64 = 15 * 60;
/// Each stored part is sealed on its own, so neither building nor downloading holds more.
const PART_BYTES: usize = 4 * 1024 * 1024;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Records a request (or returns the one already under way), audited with its deadline.
pub async fn request(
    state: &AppState,
    user: &User,
    origin: &Origin,
) -> Result<DataExport, AppError> {
    let at = now();
    let (export, new) = state
        .store
        .request_export(user.id, at, at + DUE_SECS)
        .await?;
    if new {
        let detail = serde_json::json!({ "export": export.id, "due_at": export.due_at });
        let who = Some(user.id);
        audit::record(
            state,
            AuditAction::DataExportRequested,
            who,
            who,
            origin,
            detail,
        )
        .await?;
    }
    Ok(export)
}

fn part_key(e: &DataExport, n: i64) -> String {
    format!("exports/{}/{}/part-{n}", e.user_id, e.id)
}

/// Builds the next waiting export, if any; called by the jobs loop. A failure is recorded on the
/// request (the person sees it and may ask again) and nothing half-built stays downloadable.
pub async fn build_next(state: &AppState) -> Result<Option<i64>, AppError> {
    let at = now();
    let Some(export) = state.store.claim_export(at, at - LEASE_SECS).await? else {
        return Ok(None);
    };
    match build(state, &export).await {
        Ok((parts, bytes)) => {
            let expires = now() + KEEP_SECS;
            let kept = state
                .store
                .finish_export(export.id, parts, bytes, expires, now())
                .await?;
            if !kept {
                // The account was erased while this was built: its parts go too.
                for n in 0..parts {
                    state.media.remove(&part_key(&export, n)).await?;
                }
                return Ok(Some(export.id));
            }
            notify_ready(state, &export, expires).await?;
            let subject = Some(UserId::new(export.user_id));
            let detail = serde_json::json!({ "export": export.id, "bytes": bytes });
            audit::record(
                state,
                AuditAction::DataExportCompleted,
                None,
                subject,
                &Origin::default(),
                detail,
            )
            .await?;
        }
        Err(e) => {
            tracing::error!(export = export.id, error = %e, "data export failed");
            state
                .store
                .fail_export(
                    export.id,
                    "The archive could not be built. Please ask again.",
                    now(),
                )
                .await?;
        }
    }
    Ok(Some(export.id))
}

async fn notify_ready(state: &AppState, export: &DataExport, expires: i64) -> Result<(), AppError> {
    let base = state.settings.mail.public_url.trim_end_matches('/');
    let until = crate::templates::format::when(expires);
    state
        .store
        .queue_account_email(
            UserId::new(export.user_id),
            "account.data_export",
            "Your Tattoo Marketplace data is ready",
            &format!(
                "The copy of your data you asked for is ready. Sign in and download it here, \
                 until {until}:\n\n{base}/account/data/exports/{}\n\nIt holds your account, your \
                 booking requests with their messages, consent forms and reference photos, and \
                 the security log entries about your account, as JSON and image files in a tar \
                 archive.\n",
                export.id
            ),
            now(),
        )
        .await?;
    Ok(())
}

/// Appends one file to the archive.
fn add(tar: &mut tar::Builder<std::fs::File>, path: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(now().max(0) as u64);
    header.set_cksum();
    tar.append_data(&mut header, path, bytes)
}

fn json(value: &impl serde::Serialize) -> Result<Vec<u8>, AppError> {
    serde_json::to_vec_pretty(value).map_err(|e| AppError::Internal(e.into()))
}

fn io(e: std::io::Error) -> AppError {
    AppError::Internal(anyhow::anyhow!("writing the export archive: {e}"))
}

/// Writes everything about the user into a spooled tar, request by request, then stores it in
/// sealed parts. Returns (parts, bytes).
async fn build(state: &AppState, export: &DataExport) -> Result<(i64, i64), AppError> {
    let id = UserId::new(export.user_id);
    let user = state.store.user(id).await?.ok_or(AppError::NotFound)?;
    let file = tempfile::tempfile().map_err(io)?;
    let mut tar = tar::Builder::new(file);
    add(&mut tar, "README.txt", README.as_bytes()).map_err(io)?;

    let choice = state.store.privacy_choice(id).await?;
    let devices: Vec<serde_json::Value> = state
        .store
        .devices(id)
        .await?
        .into_iter()
        .map(|d| serde_json::json!({ "browser": d.label, "signed_in_at": d.created_at, "last_seen_at": d.last_seen_at }))
        .collect();
    let account = serde_json::json!({
        "account": user,
        "accepted_documents": state.store.accepted_versions(id).await?,
        "do_not_sell_or_share": choice.map(|c| serde_json::json!({ "on": c.do_not_sell, "source": c.source, "since": c.updated_at })),
        "optional_emails_turned_off": state.store.email_opt_out(id).await?,
        "signed_in_browsers": devices,
    });
    add(&mut tar, "account.json", &json(&account)?).map_err(io)?;

    // The security log about the account, page by page.
    let mut before = None;
    let mut page_no = 0;
    loop {
        let filter = storage::AuditFilter {
            user: Some(id),
            before_seq: before,
            ..Default::default()
        };
        let page = state.store.audit_entries(&filter, 1_000).await?;
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        page_no += 1;
        add(
            &mut tar,
            &format!("security-log/{page_no}.json"),
            &json(&page)?,
        )
        .map_err(io)?;
    }

    for summary in state.store.bookings_for(id).await? {
        let detail = crate::services::booking::detail(state, summary.id, &user).await?;
        let messages = state.store.messages(summary.id, id).await?;
        let payments = state.store.payments(summary.id, id).await?;
        let record = serde_json::json!({ "request": detail, "messages": messages, "card_payments": payments });
        let dir = format!("booking-requests/{}", summary.id);
        add(&mut tar, &format!("{dir}/request.json"), &json(&record)?).map_err(io)?;
        for (image, _) in &detail.references {
            if let Some(bytes) = crate::services::booking::reference_bytes(state, image).await? {
                let name = image.rsplit('/').next().unwrap_or("photo.jpg");
                add(&mut tar, &format!("{dir}/reference-photos/{name}"), &bytes).map_err(io)?;
            }
        }
    }
    let mut file = tar.into_inner().map_err(io)?;
    file.flush().map_err(io)?;
    store_parts(state, export, file).await
}

/// Reads the spooled archive back a part at a time, sealing and storing each.
async fn store_parts(
    state: &AppState,
    export: &DataExport,
    mut file: std::fs::File,
) -> Result<(i64, i64), AppError> {
    use std::io::Seek;
    file.rewind().map_err(io)?;
    let (mut parts, mut bytes) = (0_i64, 0_i64);
    let mut buf = vec![0u8; PART_BYTES];
    loop {
        let mut filled = 0;
        while filled < PART_BYTES {
            let n = file.read(&mut buf[filled..]).map_err(io)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        let key = part_key(export, parts);
        let sealed = state.cipher.seal_bytes(&key, &buf[..filled]).await?;
        state.media.put(&key, sealed).await?;
        parts += 1;
        bytes += filled as i64;
    }
    Ok((parts, bytes))
}

/// Why a download is refused, for the page.
pub enum Download {
    Ready(DataExport),
    Expired,
    NotYet,
}

/// The user's own export, if it is theirs (anyone else's is 404).
pub async fn for_download(state: &AppState, user: &User, id: i64) -> Result<Download, AppError> {
    let export = state
        .store
        .export(id)
        .await?
        .filter(|e| e.user_id == user.id.get())
        .ok_or(AppError::NotFound)?;
    Ok(match export.status.as_str() {
        "ready" if export.expires_at.is_some_and(|t| t > now()) => Download::Ready(export),
        "ready" | "purged" => Download::Expired,
        _ => Download::NotYet,
    })
}

/// The archive as a stream of opened parts: one part in memory at a time.
pub fn stream(
    state: AppState,
    export: DataExport,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(0_i64, move |n| {
        let (state, export) = (state.clone(), export.clone());
        async move {
            if n >= export.parts {
                return None;
            }
            let key = part_key(&export, n);
            let part = async {
                let sealed = state
                    .media
                    .get(&key)
                    .await
                    .map_err(std::io::Error::other)?
                    .ok_or_else(|| std::io::Error::other(format!("{key} is missing")))?;
                let plain = state
                    .cipher
                    .open_bytes(&key, &sealed)
                    .await
                    .map_err(std::io::Error::other)?;
                Ok(Bytes::from(plain))
            }
            .await;
            Some((part, n + 1))
        }
    })
}

/// Deletes the parts of archives past their expiry; part of the retention sweep.
pub async fn purge_expired(state: &AppState, now: i64) -> Result<u64, AppError> {
    let mut purged = 0;
    for e in state.store.expired_exports(now, 100).await? {
        for n in 0..e.parts {
            state.media.delete(&[&part_key(&e, n)]).await;
        }
        state.store.mark_export_purged(e.id).await?;
        purged += 1;
    }
    Ok(purged)
}

const README: &str = "Your data from Tattoo Marketplace\n\n\
account.json: your account, the terms you accepted, your privacy and email choices, and the \
browsers signed in to your account.\n\
security-log/: the entries of our security log about your account (sign-ins, changes).\n\
booking-requests/ID/request.json: each booking request you took part in, with its sessions, \
quote, deposit records, consent forms, messages and card payments.\n\
booking-requests/ID/reference-photos/: the reference photos sent with it.\n\n\
Times are Unix timestamps (seconds since 1970-01-01 UTC) unless written as dates.\n";
