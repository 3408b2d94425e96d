//! `BookingStore` for both backends: one body of SQL and Rust, instantiated once per pool type.
//!
//! Writes run in a transaction that serialises on the booking: `FOR UPDATE` on PostgreSQL, and
//! `BEGIN IMMEDIATE` (the database's write lock taken up front) on SQLite.

use crate::StoreError;
use crate::booking::{
    Appointment, ArtistProfile, BookingEvent, BookingRequest, BookingSummary, LedgerEntry, Message,
    Notification, QuoteView, Review,
};
use domain::{
    AppointmentId, AppointmentState, ArtistId, BookingId, BookingPolicy, BookingState, Size, Style,
    UserId,
};
use time::OffsetDateTime;

/// `state` as the domain sees it: `completed` is kept in `completed_at` (see its migration).
pub(crate) const BOOKING_SELECT: &str = "SELECT br.id, br.client_id, cu.display_name AS client_name, \
br.artist_id, a.user_id AS artist_user_id, a.slug AS artist_slug, au.display_name AS artist_name, \
a.jurisdiction, a.time_zone, CASE WHEN br.completed_at IS NULL THEN br.state ELSE 'completed' END AS state, br.idea, br.placement, br.size, br.budget_cents, br.preferred_dates, \
br.needs_guardian, br.note, br.quote_min_cents, br.quote_max_cents, br.quote_sessions, br.deposit_cents, \
br.deadline_at, br.created_at \
FROM booking_requests br JOIN artists a ON a.id = br.artist_id \
JOIN users cu ON cu.id = br.client_id JOIN users au ON au.id = a.user_id";

pub(crate) const APPOINTMENT_SELECT: &str = "SELECT ap.id, ap.booking_id, ap.artist_id, ap.starts_at, \
ap.ends_at, ap.state, c.signed_at AS consent_signed_at \
FROM appointments ap LEFT JOIN consents c ON c.appointment_id = ap.id";

/// Unread messages in booking `br.id` for the user bound as `$1`.
pub(crate) const UNREAD_SQL: &str = "(SELECT COUNT(*) FROM messages m WHERE m.booking_id = br.id \
AND m.sender_id <> $1 AND m.id > COALESCE((SELECT r.last_read_id FROM message_reads r \
WHERE r.booking_id = br.id AND r.user_id = $1), 0))";

pub(crate) fn ts(at: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(at).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[derive(sqlx::FromRow)]
pub(crate) struct BookingRow {
    id: i64,
    client_id: i64,
    client_name: String,
    artist_id: i64,
    artist_user_id: i64,
    artist_slug: String,
    artist_name: String,
    jurisdiction: String,
    time_zone: String,
    state: String,
    idea: String,
    placement: String,
    size: String,
    budget_cents: Option<i64>,
    preferred_dates: String,
    needs_guardian: bool,
    note: Option<String>,
    quote_min_cents: Option<i64>,
    quote_max_cents: Option<i64>,
    quote_sessions: Option<i64>,
    deposit_cents: Option<i64>,
    deadline_at: Option<i64>,
    created_at: OffsetDateTime,
}

impl TryFrom<BookingRow> for BookingRequest {
    type Error = StoreError;
    fn try_from(r: BookingRow) -> Result<Self, StoreError> {
        let state = BookingState::parse(&r.state)
            .map_err(|e| StoreError::Corrupt(format!("booking {}: {e}", r.id)))?;
        let quote = match (
            r.quote_min_cents,
            r.quote_max_cents,
            r.quote_sessions,
            r.deposit_cents,
        ) {
            (Some(price_min_cents), Some(price_max_cents), Some(sessions), Some(deposit_cents)) => {
                Some(QuoteView {
                    price_min_cents,
                    price_max_cents,
                    sessions,
                    deposit_cents,
                })
            }
            _ => None,
        };
        Ok(BookingRequest {
            id: BookingId::new(r.id),
            client_id: UserId::new(r.client_id),
            client_name: r.client_name,
            artist_id: ArtistId::new(r.artist_id),
            artist_user_id: UserId::new(r.artist_user_id),
            artist_slug: r.artist_slug,
            artist_name: r.artist_name,
            jurisdiction: r.jurisdiction,
            time_zone: r.time_zone,
            state,
            idea: r.idea,
            placement: r.placement,
            // Requests written before sizes became a fixed scale carry free text such as "8 cm";
            // they read as medium rather than making the whole request unreadable.
            size: Size::parse(&r.size).unwrap_or(Size::M),
            budget_cents: r.budget_cents,
            preferred_dates: r.preferred_dates,
            needs_guardian: r.needs_guardian,
            note: r.note,
            quote,
            deadline_at: r.deadline_at,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AppointmentRow {
    id: i64,
    booking_id: i64,
    artist_id: i64,
    starts_at: i64,
    ends_at: i64,
    state: String,
    consent_signed_at: Option<i64>,
}

impl TryFrom<AppointmentRow> for Appointment {
    type Error = StoreError;
    fn try_from(r: AppointmentRow) -> Result<Self, StoreError> {
        Ok(Appointment {
            id: AppointmentId::new(r.id),
            booking_id: BookingId::new(r.booking_id),
            artist_id: ArtistId::new(r.artist_id),
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            state: AppointmentState::parse(&r.state)
                .map_err(|e| StoreError::Corrupt(format!("appointment {}: {e}", r.id)))?,
            consent_signed_at: r.consent_signed_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProfileRow {
    id: i64,
    user_id: i64,
    slug: String,
    display_name: String,
    bio: String,
    city: String,
    country: String,
    jurisdiction: String,
    studio_name: Option<String>,
    studio_slug: Option<String>,
    styles: Option<String>,
    price_min_cents: i64,
    price_max_cents: i64,
    hourly_rate_cents: i64,
    books_open: bool,
    min_age: i64,
    deposit_kind: String,
    deposit_value: i64,
    deposit_due_days: i64,
    response_hours: i64,
    notice_hours: i64,
    max_reschedules: i64,
    time_zone: String,
    work_days: String,
    work_start_min: i64,
    work_end_min: i64,
    rating_count: i64,
    rating_sum: i64,
}

impl TryFrom<ProfileRow> for ArtistProfile {
    type Error = StoreError;
    fn try_from(r: ProfileRow) -> Result<Self, StoreError> {
        let policy = BookingPolicy::parse(
            &r.deposit_kind,
            r.deposit_value,
            r.deposit_due_days,
            r.response_hours,
            r.notice_hours,
            r.max_reschedules,
        )
        .map_err(|e| StoreError::Corrupt(format!("artist {}: {e}", r.id)))?;
        let mut styles: Vec<Style> = r
            .styles
            .unwrap_or_default()
            .split(',')
            .filter_map(|s| Style::parse(s).ok())
            .collect();
        styles.sort_by_key(|s| s.slug());
        Ok(ArtistProfile {
            id: ArtistId::new(r.id),
            user_id: UserId::new(r.user_id),
            slug: r.slug,
            display_name: r.display_name,
            bio: r.bio,
            city: r.city,
            country: r.country,
            jurisdiction: r.jurisdiction,
            studio_name: r.studio_name,
            studio_slug: r.studio_slug,
            styles,
            price_min_cents: r.price_min_cents,
            price_max_cents: r.price_max_cents,
            hourly_rate_cents: r.hourly_rate_cents,
            books_open: r.books_open,
            min_age: u8::try_from(r.min_age).unwrap_or(18),
            policy,
            time_zone: r.time_zone,
            availability: domain::Availability::parse(
                &r.work_days,
                &domain::availability::clock(u16::try_from(r.work_start_min).unwrap_or(0)),
                &domain::availability::clock(u16::try_from(r.work_end_min).unwrap_or(0)),
            )
            .map_err(|e| StoreError::Corrupt(format!("artist {}: {e}", r.id)))?,
            rating_count: r.rating_count,
            rating_centi: (r.rating_count > 0).then(|| r.rating_sum * 100 / r.rating_count),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SummaryRow {
    id: i64,
    time_zone: String,
    state: String,
    other_party: String,
    artist_slug: String,
    idea: String,
    deadline_at: Option<i64>,
    unread_messages: i64,
    next_session_at: Option<i64>,
    sessions_to_consent: i64,
    can_review: bool,
}

impl TryFrom<SummaryRow> for BookingSummary {
    type Error = StoreError;
    fn try_from(r: SummaryRow) -> Result<Self, StoreError> {
        Ok(BookingSummary {
            id: BookingId::new(r.id),
            time_zone: r.time_zone,
            state: BookingState::parse(&r.state)
                .map_err(|e| StoreError::Corrupt(format!("booking {}: {e}", r.id)))?,
            other_party: r.other_party,
            artist_slug: r.artist_slug,
            idea: r.idea,
            deadline_at: r.deadline_at,
            unread_messages: r.unread_messages,
            next_session_at: r.next_session_at,
            sessions_to_consent: r.sessions_to_consent,
            can_review: r.can_review,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    pub(crate) id: i64,
    booking_id: i64,
    sender_id: i64,
    sender_name: String,
    body: String,
    created_at: i64,
}

impl From<MessageRow> for Message {
    fn from(r: MessageRow) -> Self {
        Message {
            id: r.id,
            booking_id: BookingId::new(r.booking_id),
            sender_id: UserId::new(r.sender_id),
            sender_name: r.sender_name,
            body: r.body,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ReviewRow {
    id: i64,
    booking_id: i64,
    artist_id: i64,
    client_name: String,
    rating: i64,
    body: String,
    created_at: i64,
}

impl From<ReviewRow> for Review {
    fn from(r: ReviewRow) -> Self {
        Review {
            id: r.id,
            booking_id: BookingId::new(r.booking_id),
            artist_id: ArtistId::new(r.artist_id),
            client_name: r.client_name,
            rating: u8::try_from(r.rating).unwrap_or(0),
            body: r.body,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    actor: String,
    action: String,
    from_state: String,
    to_state: String,
    at: i64,
}

impl From<EventRow> for BookingEvent {
    fn from(r: EventRow) -> Self {
        BookingEvent {
            actor: r.actor,
            action: r.action,
            from_state: r.from_state,
            to_state: r.to_state,
            at: r.at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LedgerRow {
    entry: String,
    amount_cents: i64,
    appointment_id: Option<i64>,
    at: i64,
}

impl From<LedgerRow> for LedgerEntry {
    fn from(r: LedgerRow) -> Self {
        LedgerEntry {
            entry: r.entry,
            amount_cents: r.amount_cents,
            appointment_id: r.appointment_id.map(AppointmentId::new),
            at: r.at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct NotificationRow {
    id: i64,
    kind: String,
    booking_id: Option<i64>,
    email: String,
    display_name: String,
    subject: String,
    body: String,
    attempts: i64,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            id: r.id,
            kind: r.kind,
            booking_id: r.booking_id.map(BookingId::new),
            recipient_email: r.email,
            recipient_name: r.display_name,
            subject: r.subject,
            body: r.body,
            attempts: r.attempts,
        }
    }
}

/// The email text for a booking that moved to `to`, addressed to `name`. `{link}` is filled in
/// by the worker, which knows the public address.
pub(crate) fn notice_text(req: &BookingRequest, what: &str) -> (String, String) {
    (
        format!("Booking #{}: {what}", req.id),
        format!(
            "Your booking request #{} ({} with {}) has an update: {what}.\n\nOpen it: {{link}}\n",
            req.id, req.client_name, req.artist_name
        ),
    )
}

/// Implements `BookingStore` for a backend. `$agg` is the dialect's string aggregate, `$search`
/// how search statements are shaped for it, `$lock`
/// the row-lock clause (empty on SQLite, where the transaction already holds the write lock) and
/// `$skip` the clause that lets concurrent outbox workers pass over each other's rows.
macro_rules! impl_booking_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        const PROFILE_SELECT: &str = concat!(
            "SELECT a.id, a.user_id, a.slug, u.display_name, a.bio, a.city, a.country, a.jurisdiction, ",
            "s.name AS studio_name, s.slug AS studio_slug, ",
            "(SELECT ", $agg, " FROM artist_styles st WHERE st.artist_id = a.id) AS styles, ",
            "a.price_min_cents, a.price_max_cents, a.hourly_rate_cents, a.books_open, a.min_age, ",
            "a.deposit_kind, a.deposit_value, a.deposit_due_days, a.response_hours, a.notice_hours, ",
            "a.max_reschedules, a.time_zone, a.work_days, a.work_start_min, a.work_end_min, a.rating_count, a.rating_sum ",
            "FROM artists a JOIN users u ON u.id = a.user_id LEFT JOIN studios s ON s.id = a.studio_id"
        );

        impl $ty {
            /// Deletes one of the artist's own rows in `table` (portfolio or flash) and returns
            /// its image keys; someone else's id is `NotFound`.
            async fn delete_owned_image(
                &self,
                table: &'static str,
                artist_user: domain::UserId,
                id: i64,
            ) -> $crate::Result<(String, String)> {
                let sql = format!(
                    "DELETE FROM {table} WHERE id = $1 AND artist_id = \
                     (SELECT a.id FROM artists a WHERE a.user_id = $2) RETURNING image_path, thumb_path"
                );
                let row: Option<(String, String)> = sqlx::query_as(&sql)
                    .bind(id)
                    .bind(artist_user.get())
                    .fetch_optional(&self.pool)
                    .await?;
                row.ok_or($crate::StoreError::NotFound)
            }

            async fn insert_piece(
                pool: &sqlx::Pool<$db>,
                artist: i64,
                booking: Option<i64>,
                item: $crate::booking::NewUpload,
            ) -> $crate::Result<$crate::booking::PortfolioEntry> {
                let tones = item
                    .draft
                    .skin_tones
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(",");
                Ok(sqlx::query_as(
                    "INSERT INTO portfolio_items (artist_id, title, style, placement, healed, image_path, \
                     thumb_path, skin_tones, booking_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     RETURNING id, title, style, placement, healed, image_path, thumb_path, skin_tones, booking_id",
                )
                .bind(artist)
                .bind(&item.draft.title)
                .bind(item.draft.style.slug())
                .bind(&item.draft.placement)
                .bind(item.draft.healed)
                .bind(&item.image_path)
                .bind(&item.thumb_path)
                .bind(tones)
                .bind(booking)
                .bind(time::OffsetDateTime::now_utc())
                .fetch_one(pool)
                .await?)
            }

            async fn profile_where(
                &self,
                clause: &str,
                bind: $crate::booking_sql::ProfileKey<'_>,
            ) -> $crate::Result<Option<$crate::booking::ArtistProfile>> {
                let sql = format!("{PROFILE_SELECT} WHERE {clause}");
                let q = sqlx::query_as::<_, $crate::booking_sql::ProfileRow>(&sql);
                let q = match bind {
                    $crate::booking_sql::ProfileKey::Id(id) => q.bind(id),
                    $crate::booking_sql::ProfileKey::Slug(s) => q.bind(s.to_owned()),
                };
                q.fetch_optional(&self.pool).await?.map(TryInto::try_into).transpose()
            }

            /// Reads a request for update. `viewer` limits it to the request's two participants.
            async fn lock_booking(
                tx: &mut sqlx::Transaction<'static, $db>,
                id: domain::BookingId,
                viewer: Option<domain::UserId>,
            ) -> $crate::Result<$crate::booking::BookingRequest> {
                let sql = format!(
                    "{} WHERE br.id = $1 AND ($2 = 0 OR br.client_id = $2 OR a.user_id = $2){}",
                    $crate::booking_sql::BOOKING_SELECT,
                    $lock
                );
                let row: Option<$crate::booking_sql::BookingRow> = sqlx::query_as(&sql)
                    .bind(id.get())
                    .bind(viewer.map_or(0, |v| v.get()))
                    .fetch_optional(&mut **tx)
                    .await?;
                row.ok_or($crate::StoreError::NotFound)?.try_into()
            }

            async fn policy_of(
                tx: &mut sqlx::Transaction<'static, $db>,
                artist: domain::ArtistId,
            ) -> $crate::Result<domain::BookingPolicy> {
                let (kind, value, due, resp, notice, max): (String, i64, i64, i64, i64, i64) =
                    sqlx::query_as(
                        "SELECT deposit_kind, deposit_value, deposit_due_days, response_hours, \
                         notice_hours, max_reschedules FROM artists WHERE id = $1",
                    )
                    .bind(artist.get())
                    .fetch_one(&mut **tx)
                    .await?;
                domain::BookingPolicy::parse(&kind, value, due, resp, notice, max)
                    .map_err(|e| $crate::StoreError::Corrupt(format!("artist {artist}: {e}")))
            }

            async fn notify(
                tx: &mut sqlx::Transaction<'static, $db>,
                kind: &str,
                req: &$crate::booking::BookingRequest,
                recipients: &[domain::UserId],
                what: &str,
                at: i64,
            ) -> $crate::Result<()> {
                let (subject, body) = $crate::booking_sql::notice_text(req, what);
                for r in recipients {
                    sqlx::query(
                        "INSERT INTO outbox (kind, booking_id, recipient_id, subject, body, created_at, \
                         next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    )
                    .bind(kind)
                    .bind(req.id.get())
                    .bind(r.get())
                    .bind(&subject)
                    .bind(&body)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            /// A request's sessions still in the calendar, and those completed.
            async fn session_counts(
                conn: &mut <$db as sqlx::Database>::Connection,
                booking: domain::BookingId,
            ) -> $crate::Result<(i64, i64)> {
                Ok(sqlx::query_as(
                    "SELECT COALESCE(SUM(CASE WHEN state IN ('scheduled', 'confirmed') THEN 1 ELSE 0 END), 0), \
                     COALESCE(SUM(CASE WHEN state = 'completed' THEN 1 ELSE 0 END), 0) \
                     FROM appointments WHERE booking_id = $1",
                )
                .bind(booking.get())
                .fetch_one(conn)
                .await?)
            }

            /// Applies one change to a locked request: state, data, history, ledger and outbox.
            async fn apply_change(
                tx: &mut sqlx::Transaction<'static, $db>,
                req: $crate::booking::BookingRequest,
                actor: domain::Actor,
                change: $crate::booking::BookingChange,
                at: i64,
            ) -> $crate::Result<$crate::booking::BookingRequest> {
                use $crate::booking::BookingChange as C;
                use $crate::StoreError;
                let next = req.state.apply(change.action(), actor).map_err(|e| match e {
                    domain::TransitionError::WrongActor { .. } => StoreError::WrongParty(e.to_string()),
                    _ => StoreError::Refused(e.to_string()),
                })?;
                let past_deadline = req.deadline_at.is_some_and(|d| d <= at);
                let policy = Self::policy_of(tx, req.artist_id).await?;
                let (mut note, mut quote, mut deadline) = (req.note.clone(), req.quote, None);
                match &change {
                    C::RequestInfo { question } => note = Some(question.clone()),
                    C::ProvideInfo { answer } => {
                        note = Some(answer.clone());
                        deadline = Some(at + i64::from(policy.response_hours) * 3600);
                    }
                    C::Quote(q) => {
                        if past_deadline {
                            return Err(StoreError::Refused("the time to answer this request has passed".into()));
                        }
                        note = None;
                        quote = Some($crate::booking::QuoteView {
                            price_min_cents: q.price_min_cents,
                            price_max_cents: q.price_max_cents,
                            sessions: i64::from(q.sessions),
                            deposit_cents: q.deposit_cents,
                        });
                        deadline = Some(at + i64::from(q.valid_days) * 86_400);
                    }
                    C::Decline { reason } => note = Some(reason.clone()),
                    C::Accept => {
                        if past_deadline {
                            return Err(StoreError::Refused("this quote has expired".into()));
                        }
                        deadline = Some(at + i64::from(policy.deposit_due_days) * 86_400);
                    }
                    C::DepositPaid => {
                        if past_deadline {
                            return Err(StoreError::Refused("the deposit deadline has passed".into()));
                        }
                        let amount = quote.map_or(0, |q| q.deposit_cents);
                        sqlx::query(
                            "INSERT INTO deposit_ledger (booking_id, entry, amount_cents, at) \
                             VALUES ($1, 'deposit_paid', $2, $3)",
                        )
                        .bind(req.id.get())
                        .bind(amount)
                        .bind(at)
                        .execute(&mut **tx)
                        .await?;
                    }
                    C::Withdraw => {
                        let (active, completed) = Self::session_counts(&mut **tx, req.id).await?;
                        domain::withdrawal_allowed(active, completed)
                            .map_err(|e| StoreError::Refused(e.to_string()))?;
                    }
                    C::Expire => {}
                }
                sqlx::query(
                    "UPDATE booking_requests SET state = $1, note = $2, quote_min_cents = $3, \
                     quote_max_cents = $4, quote_sessions = $5, deposit_cents = $6, deadline_at = $7, \
                     updated_at = $8 WHERE id = $9",
                )
                .bind(next.as_str())
                .bind(&note)
                .bind(quote.map(|q| q.price_min_cents))
                .bind(quote.map(|q| q.price_max_cents))
                .bind(quote.map(|q| q.sessions))
                .bind(quote.map(|q| q.deposit_cents))
                .bind(deadline)
                .bind($crate::booking_sql::ts(at))
                .bind(req.id.get())
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "INSERT INTO booking_events (booking_id, actor, action, from_state, to_state, at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(req.id.get())
                .bind(format!("{actor:?}").to_lowercase())
                .bind(change.action().as_str())
                .bind(req.state.as_str())
                .bind(next.as_str())
                .bind(at)
                .execute(&mut **tx)
                .await?;
                let recipients = match actor {
                    domain::Actor::Client => vec![req.artist_user_id],
                    domain::Actor::Artist => vec![req.client_id],
                    domain::Actor::System => vec![req.client_id, req.artist_user_id],
                };
                let updated = $crate::booking::BookingRequest {
                    state: next,
                    note,
                    quote,
                    deadline_at: deadline,
                    ..req
                };
                Self::notify(tx, &format!("booking.{}", next.as_str()), &updated, &recipients, next.label(), at)
                    .await?;
                Ok(updated)
            }

            async fn lock_appointment(
                tx: &mut sqlx::Transaction<'static, $db>,
                id: domain::AppointmentId,
            ) -> $crate::Result<$crate::booking::Appointment> {
                let sql = format!(
                    "{} WHERE ap.id = $1{}",
                    $crate::booking_sql::APPOINTMENT_SELECT,
                    $lock.replace("OF br", "OF ap")
                );
                let row: Option<$crate::booking_sql::AppointmentRow> = sqlx::query_as(&sql)
                    .bind(id.get())
                    .fetch_optional(&mut **tx)
                    .await?;
                row.ok_or($crate::StoreError::NotFound)?.try_into()
            }

            async fn insert_appointment(
                tx: &mut sqlx::Transaction<'static, $db>,
                req: &$crate::booking::BookingRequest,
                slot: domain::Slot,
                at: i64,
            ) -> $crate::Result<domain::AppointmentId> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO appointments (booking_id, artist_id, starts_at, ends_at, state, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, 'scheduled', $5, $5) RETURNING id",
                )
                .bind(req.id.get())
                .bind(req.artist_id.get())
                .bind(slot.starts_at)
                .bind(slot.ends_at)
                .bind(at)
                .fetch_one(&mut **tx)
                .await?;
                Ok(domain::AppointmentId::new(id))
            }

            /// Settles the deposit once, on the first cancellation or no-show after it was paid.
            async fn settle_deposit(
                tx: &mut sqlx::Transaction<'static, $db>,
                req: &$crate::booking::BookingRequest,
                appointment: domain::AppointmentId,
                outcome: domain::DepositOutcome,
                at: i64,
            ) -> $crate::Result<()> {
                let (paid, settled): (i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM deposit_ledger WHERE booking_id = $1 AND entry = 'deposit_paid'), \
                     (SELECT COUNT(*) FROM deposit_ledger WHERE booking_id = $1 AND entry <> 'deposit_paid')",
                )
                .bind(req.id.get())
                .fetch_one(&mut **tx)
                .await?;
                if paid > 0 && settled == 0 {
                    sqlx::query(
                        "INSERT INTO deposit_ledger (booking_id, appointment_id, entry, amount_cents, at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(req.id.get())
                    .bind(appointment.get())
                    .bind(outcome.as_str())
                    .bind(req.quote.map_or(0, |q| q.deposit_cents))
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::booking::BookingStore for $ty {
            #[tracing::instrument(skip_all, name = "store.search_artists")]
            async fn search_artists(
                &self,
                q: &$crate::booking::ArtistQuery,
            ) -> $crate::Result<$crate::booking::SearchResults> {
                use $crate::booking_sql::Bind;
                let st = $crate::booking_sql::search_statements(q, $search);
                let mut page = sqlx::query_as::<_, $crate::booking_sql::SearchRow>(&st.page_sql);
                for b in &st.page_binds {
                    page = match b {
                        Bind::Text(t) => page.bind(t.clone()),
                        Bind::Int(i) => page.bind(*i),
                    };
                }
                let rows = page.fetch_all(&self.pool).await?;
                let mut count = sqlx::query_as::<_, (i64,)>(&st.count_sql);
                for b in &st.count_binds {
                    count = match b {
                        Bind::Text(t) => count.bind(t.clone()),
                        Bind::Int(i) => count.bind(*i),
                    };
                }
                let (total,) = count.fetch_one(&self.pool).await?;
                Ok($crate::booking::SearchResults {
                    artists: rows.into_iter().map(Into::into).collect(),
                    total,
                })
            }

            #[tracing::instrument(skip_all, name = "store.cities")]
            async fn cities(&self) -> $crate::Result<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT city FROM artists ORDER BY city LIMIT 500")
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|(c,)| c).collect())
            }

            #[tracing::instrument(skip_all, name = "store.artist_by_slug")]
            async fn artist_by_slug(&self, slug: &str) -> $crate::Result<Option<$crate::booking::ArtistProfile>> {
                self.profile_where("a.slug = $1", $crate::booking_sql::ProfileKey::Slug(slug)).await
            }

            #[tracing::instrument(skip_all, name = "store.artist_by_id")]
            async fn artist_by_id(&self, id: domain::ArtistId) -> $crate::Result<Option<$crate::booking::ArtistProfile>> {
                self.profile_where("a.id = $1", $crate::booking_sql::ProfileKey::Id(id.get())).await
            }

            #[tracing::instrument(skip_all, name = "store.artist_for_user")]
            async fn artist_for_user(&self, user: domain::UserId) -> $crate::Result<Option<$crate::booking::ArtistProfile>> {
                self.profile_where("a.user_id = $1", $crate::booking_sql::ProfileKey::Id(user.get())).await
            }

            #[tracing::instrument(skip_all, name = "store.save_artist_settings")]
            async fn save_artist_settings(
                &self,
                user: domain::UserId,
                s: $crate::booking::ArtistSettings,
            ) -> $crate::Result<$crate::booking::ArtistProfile> {
                let (kind, value) = match s.policy.deposit {
                    domain::DepositRule::Fixed { cents } => ("fixed", cents),
                    domain::DepositRule::Percent { percent } => ("percent", i64::from(percent)),
                };
                let mut tx = self.write_tx().await?;
                let existing: Option<(i64,)> = sqlx::query_as("SELECT id FROM artists WHERE user_id = $1")
                    .bind(user.get())
                    .fetch_optional(&mut *tx)
                    .await?;
                let sql = if existing.is_some() {
                    "UPDATE artists SET slug = $2, bio = $3, city = $4, country = $5, jurisdiction = $6, \
                     price_min_cents = $7, price_max_cents = $8, hourly_rate_cents = $9, books_open = $10, \
                     min_age = $11, deposit_kind = $12, deposit_value = $13, deposit_due_days = $14, \
                     response_hours = $15, notice_hours = $16, max_reschedules = $17, time_zone = $19, \
                     work_days = $20, work_start_min = $21, work_end_min = $22 \
                     WHERE user_id = $1 RETURNING id"
                } else {
                    "INSERT INTO artists (user_id, slug, bio, city, country, jurisdiction, price_min_cents, \
                     price_max_cents, hourly_rate_cents, books_open, min_age, deposit_kind, deposit_value, \
                     deposit_due_days, response_hours, notice_hours, max_reschedules, created_at, time_zone, \
                     work_days, work_start_min, work_end_min) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
                     RETURNING id"
                };
                let (id,): (i64,) = sqlx::query_as(sql)
                    .bind(user.get())
                    .bind(s.slug.as_str())
                    .bind(&s.bio)
                    .bind(&s.city)
                    .bind(&s.country)
                    .bind(&s.jurisdiction)
                    .bind(s.price_min_cents)
                    .bind(s.price_max_cents)
                    .bind(s.hourly_rate_cents)
                    .bind(s.books_open)
                    .bind(i64::from(s.min_age))
                    .bind(kind)
                    .bind(value)
                    .bind(i64::from(s.policy.deposit_due_days))
                    .bind(i64::from(s.policy.response_hours))
                    .bind(i64::from(s.policy.notice_hours))
                    .bind(i64::from(s.policy.max_reschedules))
                    .bind(time::OffsetDateTime::now_utc())
                    .bind(&s.time_zone)
                    .bind(s.availability.days_key())
                    .bind(i64::from(s.availability.start_min))
                    .bind(i64::from(s.availability.end_min))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| match $crate::StoreError::from(e) {
                        $crate::StoreError::Conflict(_) => {
                            $crate::StoreError::Conflict("that profile address is already taken")
                        }
                        other => other,
                    })?;
                sqlx::query(&format!("{}id = $1", $crate::booking_sql::REFRESH_SEARCH_TEXT))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM artist_styles WHERE artist_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                for style in &s.styles {
                    sqlx::query("INSERT INTO artist_styles (artist_id, style) VALUES ($1, $2)")
                        .bind(id)
                        .bind(style.slug())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                self.artist_by_id(domain::ArtistId::new(id))
                    .await?
                    .ok_or($crate::StoreError::NotFound)
            }

            #[tracing::instrument(skip_all, name = "store.create_request")]
            async fn create_request(
                &self,
                new: $crate::booking::NewRequest,
                at: i64,
            ) -> $crate::Result<$crate::booking::BookingRequest> {
                let mut tx = self.write_tx().await?;
                let open: Option<(bool,)> = sqlx::query_as("SELECT books_open FROM artists WHERE id = $1")
                    .bind(new.artist.get())
                    .fetch_optional(&mut *tx)
                    .await?;
                match open {
                    None => return Err($crate::StoreError::NotFound),
                    Some((false,)) => {
                        return Err($crate::StoreError::Refused("this artist's books are closed".into()))
                    }
                    Some((true,)) => {}
                }
                let policy = Self::policy_of(&mut tx, new.artist).await?;
                let d = &new.draft;
                let format = time::macros::format_description!("[year]-[month]-[day]");
                let dob = d.date_of_birth.format(&format).map_err(|e| $crate::StoreError::Corrupt(e.to_string()))?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO booking_requests (client_id, artist_id, state, idea, placement, size, \
                     budget_cents, preferred_dates, date_of_birth, needs_guardian, deadline_at, created_at, \
                     updated_at) VALUES ($1, $2, 'submitted', $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
                )
                .bind(new.client.get())
                .bind(new.artist.get())
                .bind(&d.idea)
                .bind(&d.placement)
                .bind(d.size.as_str())
                .bind(d.budget_cents)
                .bind(&d.preferred_dates)
                .bind(dob)
                .bind(new.needs_guardian)
                .bind(at + i64::from(policy.response_hours) * 3600)
                .bind($crate::booking_sql::ts(at))
                .fetch_one(&mut *tx)
                .await?;
                for (image, thumb) in &new.references {
                    sqlx::query("INSERT INTO booking_references (booking_id, image_path, thumb_path) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(image)
                        .bind(thumb)
                        .execute(&mut *tx)
                        .await?;
                }
                let req = Self::lock_booking(&mut tx, domain::BookingId::new(id), None).await?;
                sqlx::query(
                    "INSERT INTO booking_events (booking_id, actor, action, from_state, to_state, at) \
                     VALUES ($1, 'client', 'submit', 'new', 'submitted', $2)",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                Self::notify(&mut tx, "booking.submitted", &req, &[req.artist_user_id], "new request", at).await?;
                tx.commit().await?;
                Ok(req)
            }

            #[tracing::instrument(skip_all, name = "store.booking")]
            async fn booking_request(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
            ) -> $crate::Result<Option<$crate::booking::BookingRequest>> {
                let sql = format!(
                    "{} WHERE br.id = $1 AND (br.client_id = $2 OR a.user_id = $2)",
                    $crate::booking_sql::BOOKING_SELECT
                );
                sqlx::query_as::<_, $crate::booking_sql::BookingRow>(&sql)
                    .bind(id.get())
                    .bind(viewer.get())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            async fn reference_visible(&self, key: &str, viewer: domain::UserId) -> $crate::Result<bool> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT br.id FROM booking_references r \
                     JOIN booking_requests br ON br.id = r.booking_id \
                     JOIN artists a ON a.id = br.artist_id \
                     WHERE (r.image_path = $1 OR r.thumb_path = $1) \
                     AND (br.client_id = $2 OR a.user_id = $2) LIMIT 1",
                )
                .bind(key)
                .bind(viewer.get())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.is_some())
            }

            async fn booking(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
            ) -> $crate::Result<Option<$crate::booking::BookingDetail>> {
                let Some(request) = self.booking_request(id, viewer).await? else {
                    return Ok(None);
                };
                let sql = format!("{} WHERE ap.booking_id = $1 ORDER BY ap.starts_at, ap.id", $crate::booking_sql::APPOINTMENT_SELECT);
                let appointments = sqlx::query_as::<_, $crate::booking_sql::AppointmentRow>(&sql)
                    .bind(id.get())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<$crate::Result<Vec<_>>>()?;
                let events = sqlx::query_as::<_, $crate::booking_sql::EventRow>(
                    "SELECT actor, action, from_state, to_state, at FROM booking_events WHERE booking_id = $1 ORDER BY id",
                )
                .bind(id.get())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
                let ledger = sqlx::query_as::<_, $crate::booking_sql::LedgerRow>(
                    "SELECT entry, amount_cents, appointment_id, at FROM deposit_ledger WHERE booking_id = $1 ORDER BY id",
                )
                .bind(id.get())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
                let review = sqlx::query_as::<_, $crate::booking_sql::ReviewRow>(
                    "SELECT r.id, r.booking_id, r.artist_id, u.display_name AS client_name, r.rating, r.body, \
                     r.created_at FROM reviews r JOIN users u ON u.id = r.client_id WHERE r.booking_id = $1",
                )
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await?
                .map(Into::into);
                let unread_sql = format!(
                    "SELECT {} FROM booking_requests br WHERE br.id = $2",
                    $crate::booking_sql::UNREAD_SQL
                );
                let (unread_messages,): (i64,) = sqlx::query_as(&unread_sql)
                    .bind(viewer.get())
                    .bind(id.get())
                    .fetch_one(&self.pool)
                    .await?;
                let references = sqlx::query_as(
                    "SELECT image_path, thumb_path FROM booking_references WHERE booking_id = $1 ORDER BY id",
                )
                .bind(id.get())
                .fetch_all(&self.pool)
                .await?;
                Ok(Some($crate::booking::BookingDetail {
                    request,
                    appointments,
                    events,
                    ledger,
                    review,
                    unread_messages,
                    references,
                }))
            }

            #[tracing::instrument(skip_all, name = "store.bookings_for")]
            async fn bookings_for(&self, viewer: domain::UserId) -> $crate::Result<Vec<$crate::booking::BookingSummary>> {
                let sql = format!(
                    "SELECT br.id, a.time_zone, CASE WHEN br.completed_at IS NULL THEN br.state ELSE 'completed' END AS state, CASE WHEN br.client_id = $1 THEN au.display_name ELSE cu.display_name END \
                     AS other_party, a.slug AS artist_slug, br.idea, br.deadline_at, {} AS unread_messages, \
                     (SELECT MIN(ap.starts_at) FROM appointments ap WHERE ap.booking_id = br.id \
                      AND ap.state IN ('scheduled', 'confirmed')) AS next_session_at, \
                     (SELECT COUNT(*) FROM appointments ap WHERE ap.booking_id = br.id AND ap.state = 'scheduled') \
                      AS sessions_to_consent, \
                     (br.client_id = $1 AND EXISTS (SELECT 1 FROM appointments ap WHERE ap.booking_id = br.id \
                      AND ap.state = 'completed') AND NOT EXISTS (SELECT 1 FROM reviews rv WHERE rv.booking_id = br.id)) \
                      AS can_review \
                     FROM booking_requests br JOIN artists a ON a.id = br.artist_id \
                     JOIN users cu ON cu.id = br.client_id JOIN users au ON au.id = a.user_id \
                     WHERE br.client_id = $1 OR a.user_id = $1 ORDER BY br.id DESC LIMIT 500",
                    $crate::booking_sql::UNREAD_SQL
                );
                sqlx::query_as::<_, $crate::booking_sql::SummaryRow>(&sql)
                    .bind(viewer.get())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            #[tracing::instrument(skip_all, name = "store.change_booking", fields(action = change.action().as_str()))]
            async fn change_booking(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
                change: $crate::booking::BookingChange,
                at: i64,
            ) -> $crate::Result<$crate::booking::BookingRequest> {
                let mut tx = self.write_tx().await?;
                let req = Self::lock_booking(&mut tx, id, Some(viewer)).await?;
                let actor = req.actor_for(viewer).ok_or($crate::StoreError::NotFound)?;
                let updated = Self::apply_change(&mut tx, req, actor, change, at).await?;
                tx.commit().await?;
                Ok(updated)
            }

            #[tracing::instrument(skip_all, name = "store.schedule")]
            async fn schedule(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
                slot: domain::Slot,
                at: i64,
            ) -> $crate::Result<$crate::booking::Appointment> {
                let mut tx = self.write_tx().await?;
                let req = Self::lock_booking(&mut tx, id, Some(viewer)).await?;
                if req.actor_for(viewer) != Some(domain::Actor::Artist) {
                    return Err($crate::StoreError::WrongParty("only the artist schedules sessions".into()));
                }
                if req.state != domain::BookingState::Booked {
                    return Err($crate::StoreError::Refused(
                        "sessions can be scheduled once the deposit is paid".into(),
                    ));
                }
                let (used,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM appointments WHERE booking_id = $1 \
                     AND state IN ('scheduled', 'confirmed', 'completed')",
                )
                .bind(id.get())
                .fetch_one(&mut *tx)
                .await?;
                let quoted = req.quote.map_or(1, |q| q.sessions);
                if used >= quoted {
                    return Err($crate::StoreError::Refused(format!(
                        "all {quoted} quoted sessions are already scheduled"
                    )));
                }
                let ap = Self::insert_appointment(&mut tx, &req, slot, at).await?;
                Self::notify(&mut tx, "appointment.scheduled", &req, &[req.client_id],
                    "a session is scheduled: sign the consent form to confirm it", at).await?;
                let appointment = Self::lock_appointment(&mut tx, ap).await?;
                tx.commit().await?;
                Ok(appointment)
            }

            #[tracing::instrument(skip_all, name = "store.change_appointment", fields(action = change.action().as_str()))]
            async fn change_appointment(
                &self,
                id: domain::AppointmentId,
                viewer: domain::UserId,
                change: $crate::booking::AppointmentChange,
                at: i64,
            ) -> $crate::Result<$crate::booking::Appointment> {
                use $crate::booking::AppointmentChange as C;
                use $crate::StoreError;
                let mut tx = self.write_tx().await?;
                let ap = Self::lock_appointment(&mut tx, id).await?;
                let req = Self::lock_booking(&mut tx, ap.booking_id, Some(viewer)).await?;
                let actor = req.actor_for(viewer).ok_or(StoreError::NotFound)?;
                let next = ap.state.apply_at(change.action(), actor, ap.starts_at, at).map_err(|e| match e {
                    domain::TransitionError::WrongActor { .. } => StoreError::WrongParty(e.to_string()),
                    _ => StoreError::Refused(e.to_string()),
                })?;
                let policy = Self::policy_of(&mut tx, req.artist_id).await?;
                let mut result_id = ap.id;
                let mut new_slot = None;
                match change {
                    C::Consent { answers, ip, user_agent } => {
                        let answers = answers.validate(req.needs_guardian).map_err(|errors| {
                            StoreError::Refused(
                                errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
                            )
                        })?;
                        sqlx::query(
                            "INSERT INTO consents (appointment_id, client_id, medical_notes, confirms_age, \
                             guardian_name, aftercare_ack, photo_permission, jurisdiction, ip, user_agent, signed_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        )
                        .bind(ap.id.get())
                        .bind(viewer.get())
                        .bind(&answers.medical_notes)
                        .bind(answers.confirms_age)
                        .bind(Some(answers.guardian_name.clone()).filter(|g| !g.is_empty()))
                        .bind(answers.aftercare_acknowledged)
                        .bind(answers.photo_permission)
                        .bind(&req.jurisdiction)
                        .bind(ip)
                        .bind(user_agent)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    C::Complete => {}
                    C::Cancel => {
                        let outcome = policy.cancellation(actor, ap.starts_at, at);
                        Self::settle_deposit(&mut tx, &req, ap.id, outcome, at).await?;
                    }
                    C::NoShow => {
                        Self::settle_deposit(&mut tx, &req, ap.id, domain::DepositOutcome::Forfeited, at).await?;
                    }
                    C::Reschedule(slot) => {
                        let (moved,): (i64,) = sqlx::query_as(
                            "SELECT COUNT(*) FROM appointments WHERE booking_id = $1 AND state = 'rescheduled'",
                        )
                        .bind(req.id.get())
                        .fetch_one(&mut *tx)
                        .await?;
                        if moved >= i64::from(policy.max_reschedules) {
                            return Err(StoreError::Refused(format!(
                                "this booking has been rescheduled {moved} times, the artist's limit"
                            )));
                        }
                        new_slot = Some(slot);
                    }
                }
                sqlx::query("UPDATE appointments SET state = $1, updated_at = $2 WHERE id = $3")
                    .bind(next.as_str())
                    .bind(at)
                    .bind(ap.id.get())
                    .execute(&mut *tx)
                    .await?;
                if let Some(slot) = new_slot {
                    result_id = Self::insert_appointment(&mut tx, &req, slot, at).await?;
                }
                if next == domain::AppointmentState::Completed {
                    let (active, completed) = Self::session_counts(&mut *tx, req.id).await?;
                    let planned = req.quote.as_ref().map_or(1, |q| q.sessions);
                    if domain::booking_completed(active, completed, planned) {
                        sqlx::query("UPDATE booking_requests SET completed_at = $1, updated_at = $2 WHERE id = $3")
                            .bind(at)
                            .bind($crate::booking_sql::ts(at))
                            .bind(req.id.get())
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(
                            "INSERT INTO booking_events (booking_id, actor, action, from_state, to_state, at) \
                             VALUES ($1, $2, 'complete', 'booked', 'completed', $3)",
                        )
                        .bind(req.id.get())
                        .bind(format!("{actor:?}").to_lowercase())
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let other = if actor == domain::Actor::Client { req.artist_user_id } else { req.client_id };
                Self::notify(&mut tx, &format!("appointment.{}", next.as_str()), &req, &[other], next.label(), at)
                    .await?;
                let appointment = Self::lock_appointment(&mut tx, result_id).await?;
                tx.commit().await?;
                Ok(appointment)
            }

            #[tracing::instrument(skip_all, name = "store.appointment_booking")]
            async fn appointment_booking(&self, id: domain::AppointmentId) -> $crate::Result<Option<domain::BookingId>> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT booking_id FROM appointments WHERE id = $1")
                    .bind(id.get())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(b,)| domain::BookingId::new(b)))
            }

            #[tracing::instrument(skip_all, name = "store.portfolio")]
            async fn portfolio(&self, artist: domain::ArtistId, limit: i64) -> $crate::Result<Vec<$crate::booking::PortfolioEntry>> {
                Ok(sqlx::query_as(
                    "SELECT id, title, style, placement, healed, image_path, thumb_path, skin_tones, booking_id \
                     FROM portfolio_items WHERE artist_id = $1 ORDER BY healed DESC, id DESC LIMIT $2",
                )
                .bind(artist.get())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            #[tracing::instrument(skip_all, name = "store.add_portfolio_item")]
            async fn add_portfolio_item(
                &self,
                artist_user: domain::UserId,
                item: $crate::booking::NewUpload,
            ) -> $crate::Result<$crate::booking::PortfolioEntry> {
                let artist: Option<(i64,)> = sqlx::query_as("SELECT id FROM artists WHERE user_id = $1")
                    .bind(artist_user.get())
                    .fetch_optional(&self.pool)
                    .await?;
                let (artist,) = artist.ok_or($crate::StoreError::NotFound)?;
                Self::insert_piece(&self.pool, artist, None, item).await
            }

            #[tracing::instrument(skip_all, name = "store.delete_portfolio_item")]
            async fn delete_portfolio_item(
                &self,
                artist_user: domain::UserId,
                id: i64,
            ) -> $crate::Result<(String, String)> {
                self.delete_owned_image("portfolio_items", artist_user, id).await
            }

            #[tracing::instrument(skip_all, name = "store.add_healed_photo")]
            async fn add_healed_photo(
                &self,
                id: domain::BookingId,
                client: domain::UserId,
                mut item: $crate::booking::NewUpload,
            ) -> $crate::Result<$crate::booking::PortfolioEntry> {
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "SELECT br.artist_id, (SELECT COUNT(*) FROM appointments ap WHERE ap.booking_id = br.id \
                     AND ap.state = 'completed') FROM booking_requests br WHERE br.id = $1 AND br.client_id = $2",
                )
                .bind(id.get())
                .bind(client.get())
                .fetch_optional(&self.pool)
                .await?;
                let (artist, completed) = row.ok_or($crate::StoreError::NotFound)?;
                if completed == 0 {
                    return Err($crate::StoreError::Refused(
                        "a healed photo can be shared once a session is completed".into(),
                    ));
                }
                item.draft.healed = true;
                Self::insert_piece(&self.pool, artist, Some(id.get()), item).await
            }

            #[tracing::instrument(skip_all, name = "store.appointments_for_artist")]
            async fn appointments_for_artist(
                &self,
                artist: domain::ArtistId,
                from: i64,
            ) -> $crate::Result<Vec<$crate::booking::Appointment>> {
                let sql = format!(
                    "{} WHERE ap.artist_id = $1 AND ap.ends_at >= $2 AND ap.state IN ('scheduled', 'confirmed', 'completed') \
                     ORDER BY ap.starts_at LIMIT 500",
                    $crate::booking_sql::APPOINTMENT_SELECT
                );
                sqlx::query_as::<_, $crate::booking_sql::AppointmentRow>(&sql)
                    .bind(artist.get())
                    .bind(from)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            #[tracing::instrument(skip_all, name = "store.messages")]
            async fn messages(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
            ) -> $crate::Result<Vec<$crate::booking::Message>> {
                let mut tx = self.write_tx().await?;
                Self::lock_booking(&mut tx, id, Some(viewer)).await?;
                let rows: Vec<$crate::booking_sql::MessageRow> = sqlx::query_as(
                    "SELECT m.id, m.booking_id, m.sender_id, u.display_name AS sender_name, m.body, m.created_at \
                     FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.booking_id = $1 ORDER BY m.id",
                )
                .bind(id.get())
                .fetch_all(&mut *tx)
                .await?;
                if let Some(last) = rows.last() {
                    sqlx::query(
                        "INSERT INTO message_reads (booking_id, user_id, last_read_id) VALUES ($1, $2, $3) \
                         ON CONFLICT (booking_id, user_id) DO UPDATE SET last_read_id = excluded.last_read_id",
                    )
                    .bind(id.get())
                    .bind(viewer.get())
                    .bind(last.id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            #[tracing::instrument(skip_all, name = "store.post_message")]
            async fn post_message(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
                body: String,
                at: i64,
            ) -> $crate::Result<$crate::booking::Message> {
                let mut tx = self.write_tx().await?;
                let req = Self::lock_booking(&mut tx, id, Some(viewer)).await?;
                let row: $crate::booking_sql::MessageRow = sqlx::query_as(
                    "INSERT INTO messages (booking_id, sender_id, body, created_at) VALUES ($1, $2, $3, $4) \
                     RETURNING id, booking_id, sender_id, '' AS sender_name, body, created_at",
                )
                .bind(id.get())
                .bind(viewer.get())
                .bind(&body)
                .bind(at)
                .fetch_one(&mut *tx)
                .await?;
                let mut message: $crate::booking::Message = row.into();
                let (other, name) = if viewer == req.client_id {
                    (req.artist_user_id, req.client_name.clone())
                } else {
                    (req.client_id, req.artist_name.clone())
                };
                message.sender_name = name;
                Self::notify(&mut tx, "message", &req, &[other], "a new message", at).await?;
                tx.commit().await?;
                Ok(message)
            }

            #[tracing::instrument(skip_all, name = "store.unread_total")]
            async fn unread_total(&self, viewer: domain::UserId) -> $crate::Result<i64> {
                let sql = format!(
                    "SELECT CAST(COALESCE(SUM({}), 0) AS BIGINT) FROM booking_requests br \
                     JOIN artists a ON a.id = br.artist_id WHERE br.client_id = $1 OR a.user_id = $1",
                    $crate::booking_sql::UNREAD_SQL
                );
                let (n,): (i64,) = sqlx::query_as(&sql).bind(viewer.get()).fetch_one(&self.pool).await?;
                Ok(n)
            }

            #[tracing::instrument(skip_all, name = "store.create_review")]
            async fn create_review(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
                rating: domain::Rating,
                body: String,
                at: i64,
            ) -> $crate::Result<$crate::booking::Review> {
                let mut tx = self.write_tx().await?;
                let req = Self::lock_booking(&mut tx, id, Some(viewer)).await?;
                if req.actor_for(viewer) != Some(domain::Actor::Client) {
                    return Err($crate::StoreError::WrongParty("only the client reviews a booking".into()));
                }
                let (completed,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM appointments WHERE booking_id = $1 AND state = 'completed'",
                )
                .bind(id.get())
                .fetch_one(&mut *tx)
                .await?;
                if completed == 0 {
                    return Err($crate::StoreError::Refused(
                        "a review opens once a session is completed".into(),
                    ));
                }
                let (rid,): (i64,) = sqlx::query_as(
                    "INSERT INTO reviews (booking_id, artist_id, client_id, rating, body, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(id.get())
                .bind(req.artist_id.get())
                .bind(viewer.get())
                .bind(i64::from(rating.get()))
                .bind(&body)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match $crate::StoreError::from(e) {
                    $crate::StoreError::Conflict(_) => {
                        $crate::StoreError::Conflict("this booking has already been reviewed")
                    }
                    other => other,
                })?;
                sqlx::query(
                    "UPDATE artists SET rating_count = rating_count + 1, rating_sum = rating_sum + $2, \
                     rating_avg_centi = (rating_sum + $2) * 100 / (rating_count + 1) WHERE id = $1",
                )
                .bind(req.artist_id.get())
                .bind(i64::from(rating.get()))
                .execute(&mut *tx)
                .await?;
                Self::notify(&mut tx, "review", &req, &[req.artist_user_id], "a new review", at).await?;
                tx.commit().await?;
                Ok($crate::booking::Review {
                    id: rid,
                    booking_id: id,
                    artist_id: req.artist_id,
                    client_name: req.client_name,
                    rating: rating.get(),
                    body,
                    created_at: at,
                })
            }

            #[tracing::instrument(skip_all, name = "store.reviews_for_artist")]
            async fn reviews_for_artist(
                &self,
                artist: domain::ArtistId,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::booking::Review>> {
                Ok(sqlx::query_as::<_, $crate::booking_sql::ReviewRow>(
                    "SELECT r.id, r.booking_id, r.artist_id, u.display_name AS client_name, r.rating, r.body, \
                     r.created_at FROM reviews r JOIN users u ON u.id = r.client_id WHERE r.artist_id = $1 \
                     ORDER BY r.id DESC LIMIT $2",
                )
                .bind(artist.get())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
            }

            #[tracing::instrument(skip_all, name = "store.expire_due")]
            async fn expire_due(&self, at: i64, limit: i64) -> $crate::Result<Vec<domain::BookingId>> {
                let due: Vec<(i64,)> = sqlx::query_as(
                    "SELECT id FROM booking_requests WHERE state IN ('submitted', 'quoted', 'deposit_pending') \
                     AND deadline_at <= $1 ORDER BY deadline_at LIMIT $2",
                )
                .bind(at)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let mut expired = Vec::new();
                for (id,) in due {
                    let mut tx = self.write_tx().await?;
                    let req = Self::lock_booking(&mut tx, domain::BookingId::new(id), None).await?;
                    // Another instance may have expired it, or a participant acted, since the scan.
                    if !req.state.has_deadline() || req.deadline_at.is_none_or(|d| d > at) {
                        continue;
                    }
                    let change = $crate::booking::BookingChange::Expire;
                    Self::apply_change(&mut tx, req, domain::Actor::System, change, at).await?;
                    tx.commit().await?;
                    expired.push(domain::BookingId::new(id));
                }
                Ok(expired)
            }

            #[tracing::instrument(skip_all, name = "store.add_flash")]
            async fn add_flash(
                &self,
                artist_user: domain::UserId,
                flash: $crate::booking::NewFlash,
            ) -> $crate::Result<$crate::booking::FlashDesign> {
                let mut tx = self.write_tx().await?;
                let artist: Option<(i64,)> = sqlx::query_as("SELECT id FROM artists WHERE user_id = $1")
                    .bind(artist_user.get())
                    .fetch_optional(&mut *tx)
                    .await?;
                let (artist,) = artist.ok_or($crate::StoreError::NotFound)?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO flash_designs (artist_id, title, style, image_path, thumb_path, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(artist)
                .bind(&flash.title)
                .bind(flash.style.slug())
                .bind(&flash.image_path)
                .bind(&flash.thumb_path)
                .bind(time::OffsetDateTime::now_utc().unix_timestamp())
                .fetch_one(&mut *tx)
                .await?;
                for v in &flash.variants {
                    sqlx::query("INSERT INTO flash_variants (flash_id, size, price_cents, minutes) VALUES ($1, $2, $3, $4)")
                        .bind(id)
                        .bind(v.size.as_str())
                        .bind(v.price_cents)
                        .bind(v.minutes)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok($crate::booking::FlashDesign {
                    id,
                    artist_id: domain::ArtistId::new(artist),
                    title: flash.title,
                    style: flash.style.slug().to_owned(),
                    image_path: flash.image_path,
                    thumb_path: flash.thumb_path,
                    variants: flash.variants,
                })
            }

            #[tracing::instrument(skip_all, name = "store.delete_flash")]
            async fn delete_flash(&self, artist_user: domain::UserId, id: i64) -> $crate::Result<(String, String)> {
                self.delete_owned_image("flash_designs", artist_user, id).await
            }

            #[tracing::instrument(skip_all, name = "store.flash_for_artist")]
            async fn flash_for_artist(&self, artist: domain::ArtistId, limit: i64) -> $crate::Result<Vec<$crate::booking::FlashDesign>> {
                let designs: Vec<(i64, String, String, String, String)> = sqlx::query_as(
                    "SELECT id, title, style, image_path, thumb_path FROM flash_designs WHERE artist_id = $1 \
                     ORDER BY id DESC LIMIT $2",
                )
                .bind(artist.get())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let variants: Vec<(i64, String, i64, i64)> = sqlx::query_as(
                    "SELECT v.flash_id, v.size, v.price_cents, v.minutes FROM flash_variants v \
                     JOIN flash_designs f ON f.id = v.flash_id WHERE f.artist_id = $1 ORDER BY v.price_cents",
                )
                .bind(artist.get())
                .fetch_all(&self.pool)
                .await?;
                Ok($crate::booking_sql::assemble_flash(artist, designs, variants))
            }

            #[tracing::instrument(skip_all, name = "store.flash_design")]
            async fn flash_design(&self, id: i64) -> $crate::Result<Option<$crate::booking::FlashDesign>> {
                let artist: Option<(i64,)> = sqlx::query_as("SELECT artist_id FROM flash_designs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some((artist,)) = artist else { return Ok(None) };
                let all = self.flash_for_artist(domain::ArtistId::new(artist), 1000).await?;
                Ok(all.into_iter().find(|f| f.id == id))
            }

            #[tracing::instrument(skip_all, name = "store.add_guest_spot")]
            async fn add_guest_spot(
                &self,
                artist_user: domain::UserId,
                studio_slug: &str,
                spot: domain::GuestSpot,
            ) -> $crate::Result<$crate::booking::GuestSpotView> {
                let ids: Option<(i64, i64)> = sqlx::query_as(
                    "SELECT a.id, s.id FROM artists a, studios s WHERE a.user_id = $1 AND s.slug = $2",
                )
                .bind(artist_user.get())
                .bind(studio_slug)
                .fetch_optional(&self.pool)
                .await?;
                let (artist, studio) = ids.ok_or($crate::StoreError::NotFound)?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO guest_spots (artist_id, studio_id, starts_on, ends_on, time_zone, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(artist)
                .bind(studio)
                .bind(spot.starts_on.to_string())
                .bind(spot.ends_on.to_string())
                .bind(&spot.time_zone)
                .bind(time::OffsetDateTime::now_utc().unix_timestamp())
                .fetch_one(&self.pool)
                .await?;
                let sql = format!("{} WHERE g.id = $1", $crate::booking_sql::GUEST_SPOT_SELECT);
                Ok(sqlx::query_as(&sql).bind(id).fetch_one(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, name = "store.delete_guest_spot")]
            async fn delete_guest_spot(&self, artist_user: domain::UserId, id: i64) -> $crate::Result<()> {
                let done = sqlx::query(
                    "DELETE FROM guest_spots WHERE id = $1 AND artist_id = (SELECT a.id FROM artists a WHERE a.user_id = $2)",
                )
                .bind(id)
                .bind(artist_user.get())
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.guest_spots_for_artist")]
            async fn guest_spots_for_artist(&self, artist: domain::ArtistId, from: &str) -> $crate::Result<Vec<$crate::booking::GuestSpotView>> {
                let sql = format!(
                    "{} WHERE g.artist_id = $1 AND g.ends_on >= $2 ORDER BY g.starts_on LIMIT 50",
                    $crate::booking_sql::GUEST_SPOT_SELECT
                );
                Ok(sqlx::query_as(&sql).bind(artist.get()).bind(from).fetch_all(&self.pool).await?)
            }

            #[tracing::instrument(skip_all, name = "store.studios")]
            async fn studios(&self) -> $crate::Result<Vec<(String, String, String)>> {
                Ok(sqlx::query_as("SELECT slug, name, city FROM studios ORDER BY name LIMIT 1000")
                    .fetch_all(&self.pool)
                    .await?)
            }

            #[tracing::instrument(skip_all, name = "store.studio")]
            async fn studio(&self, slug: &str, from: &str) -> $crate::Result<Option<$crate::booking::StudioPage>> {
                let row: Option<(i64, String, String, String, String, String)> = sqlx::query_as(
                    "SELECT id, slug, name, city, country, jurisdiction FROM studios WHERE slug = $1",
                )
                .bind(slug)
                .fetch_optional(&self.pool)
                .await?;
                let Some((id, slug, name, city, country, jurisdiction)) = row else { return Ok(None) };
                let q = $crate::booking::ArtistQuery { studio_id: Some(id), page: 1, per_page: 100, ..Default::default() };
                let members = $crate::booking::BookingStore::search_artists(self, &q).await?.artists;
                let sql = format!(
                    "{} WHERE g.studio_id = $1 AND g.ends_on >= $2 ORDER BY g.starts_on LIMIT 50",
                    $crate::booking_sql::GUEST_SPOT_SELECT
                );
                let guests = sqlx::query_as(&sql).bind(id).bind(from).fetch_all(&self.pool).await?;
                Ok(Some($crate::booking::StudioPage {
                    slug,
                    name,
                    city,
                    country,
                    jurisdiction,
                    members: members.into_iter().map(|h| h.card).collect(),
                    guests,
                }))
            }

            #[tracing::instrument(skip_all, name = "store.prompt_healed_photos")]
            async fn prompt_healed_photos(&self, at: i64, after: i64, limit: i64) -> $crate::Result<usize> {
                let mut tx = self.write_tx().await?;
                let due: Vec<(i64, i64)> = sqlx::query_as(&format!(
                    "SELECT ap.id, ap.booking_id FROM appointments ap WHERE ap.state = 'completed' \
                     AND ap.healed_prompted_at IS NULL AND ap.ends_at <= $1 ORDER BY ap.id LIMIT $2{}",
                    $skip
                ))
                .bind(at - after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                let mut asked = 0;
                for (ap, booking) in due {
                    let done = sqlx::query(
                        "UPDATE appointments SET healed_prompted_at = $1 WHERE id = $2 AND healed_prompted_at IS NULL",
                    )
                    .bind(at)
                    .bind(ap)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 1 {
                        let req = Self::lock_booking(&mut tx, domain::BookingId::new(booking), None).await?;
                        Self::notify(&mut tx, "healed.prompt", &req, &[req.client_id],
                            "how has it healed? Share a photo of the healed piece", at).await?;
                        asked += 1;
                    }
                }
                tx.commit().await?;
                Ok(asked)
            }

            #[tracing::instrument(skip_all, name = "store.claim_notifications")]
            async fn claim_notifications(
                &self,
                at: i64,
                lease: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::booking::Notification>> {
                let mut tx = self.write_tx().await?;
                let sql = concat!(
                    "UPDATE outbox SET claimed_until = $2, attempts = attempts + 1 WHERE id IN (",
                    "SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 ",
                    "AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY id LIMIT $3", $skip, ") RETURNING id"
                );
                let ids: Vec<(i64,)> = sqlx::query_as(sql)
                    .bind(at)
                    .bind(at + lease)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut out = Vec::with_capacity(ids.len());
                for (id,) in ids {
                    let row: $crate::booking_sql::NotificationRow = sqlx::query_as(
                        "SELECT o.id, o.kind, o.booking_id, u.email, u.display_name, o.subject, o.body, o.attempts \
                         FROM outbox o JOIN users u ON u.id = o.recipient_id WHERE o.id = $1",
                    )
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    out.push(row.into());
                }
                tx.commit().await?;
                out.sort_by_key(|n: &$crate::booking::Notification| n.id);
                Ok(out)
            }

            #[tracing::instrument(skip_all, name = "store.notification_sent")]
            async fn notification_sent(&self, id: i64, at: i64) -> $crate::Result<()> {
                sqlx::query("UPDATE outbox SET sent_at = $2, claimed_until = NULL, last_error = NULL WHERE id = $1 AND sent_at IS NULL")
                    .bind(id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.notification_failed")]
            async fn notification_failed(&self, id: i64, error: &str, retry_at: i64) -> $crate::Result<()> {
                sqlx::query("UPDATE outbox SET claimed_until = NULL, last_error = $2, next_attempt_at = $3 WHERE id = $1 AND sent_at IS NULL")
                    .bind(id)
                    .bind(error)
                    .bind(retry_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            #[tracing::instrument(skip_all, name = "store.pending_notifications")]
            async fn pending_notifications(&self) -> $crate::Result<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
            }
        }
    };
}
pub(crate) use impl_booking_store;

/// A value bound to a search statement, in order.
#[derive(Debug, Clone)]
pub enum Bind {
    Text(String),
    Int(i64),
}

/// The filter clause shared by a search page and its count, with its binds.
pub(crate) fn search_filter(q: &crate::booking::ArtistQuery) -> (String, Vec<Bind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let next = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if let Some(style) = q.style {
        let n = next(Bind::Text(style.slug().to_owned()), &mut binds);
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM artist_styles st WHERE st.artist_id = a.id AND st.style = {n})"
        ));
    }
    if let Some(city) = &q.city {
        let n = next(Bind::Text(city.to_lowercase()), &mut binds);
        match &q.today {
            Some(today) => {
                let d = next(Bind::Text(today.clone()), &mut binds);
                // A union, not an OR, so each side can use its index (the city index on
                // artists, the studio index on guest spots).
                clauses.push(format!(
                    "a.id IN (SELECT c.id FROM artists c WHERE lower(c.city) = {n} \
                     UNION SELECT g.artist_id FROM guest_spots g JOIN studios gs ON gs.id = g.studio_id \
                     WHERE lower(gs.city) = {n} AND g.ends_on >= {d})"
                ));
            }
            None => clauses.push(format!("lower(a.city) = {n}")),
        }
    }
    if let Some(studio) = q.studio_id {
        let n = next(Bind::Int(studio), &mut binds);
        clauses.push(format!("a.studio_id = {n}"));
    }
    if let Some(max) = q.max_price_cents {
        let n = next(Bind::Int(max), &mut binds);
        clauses.push(format!("a.price_min_cents <= {n}"));
    }
    if let Some(min) = q.min_rating_centi {
        let n = next(Bind::Int(min), &mut binds);
        clauses.push(format!("a.rating_count > 0 AND a.rating_avg_centi >= {n}"));
    }
    if q.books_open {
        clauses.push("a.books_open".to_owned());
    }
    if q.healed_only {
        clauses.push(
            "EXISTS (SELECT 1 FROM portfolio_items p WHERE p.artist_id = a.id AND p.healed)"
                .to_owned(),
        );
    }
    if let Some(text) = &q.text {
        // LIKE wildcards typed by the user match themselves.
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let n = next(Bind::Text(format!("%{escaped}%")), &mut binds);
        clauses.push(format!("a.search_text LIKE {n} ESCAPE '\\'"));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (filter, binds)
}

/// The two statements one search runs: the page of artists and the total count.
#[derive(Debug, Clone)]
pub struct SearchStatements {
    pub page_sql: String,
    pub page_binds: Vec<Bind>,
    pub count_sql: String,
    pub count_binds: Vec<Bind>,
}

impl SearchStatements {
    /// The statements with their values written in as literals, for `pgbench -f` (benchmarks
    /// only: the service always binds).
    pub fn inlined(&self) -> (String, String) {
        let inline = |sql: &str, binds: &[Bind]| {
            // Highest number first, so `$1` never matches the start of `$10`.
            binds
                .iter()
                .enumerate()
                .rev()
                .fold(sql.to_owned(), |sql, (i, b)| {
                    let literal = match b {
                        Bind::Text(t) => format!("'{}'", t.replace('\'', "''")),
                        Bind::Int(n) => n.to_string(),
                    };
                    sql.replace(&format!("${}", i + 1), &literal)
                })
        };
        (
            inline(&self.page_sql, &self.page_binds),
            inline(&self.count_sql, &self.count_binds),
        )
    }
}

/// Builds a search's statements; `aggregate` is the dialect's string aggregate over `st.style`.
/// How each database is told which artists are on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchDialect {
    Postgres,
    Sqlite,
}

pub fn search_statements(
    q: &crate::booking::ArtistQuery,
    dialect: SearchDialect,
) -> SearchStatements {
    let (filter, binds) = search_filter(q);
    let order = search_order(q.sort);
    let from = "FROM artists a";
    let limit = binds.len() + 1;
    let page_ids = format!(
        "SELECT a.id {from} {filter} ORDER BY {order} LIMIT ${limit} OFFSET ${offset}",
        offset = limit + 1
    );
    // The page's ids are picked first and the cards are built for those alone. PostgreSQL gets
    // them as an array: a prepared statement soon runs a generic plan, which cannot know that
    // `LIMIT $n` is small, and planned a join to the page as a scan of every artist (762 against
    // 1,031 tps in pgbench with binds); `= ANY(array)` is an index lookup in any plan.
    let (aggregate, on_page) = match dialect {
        SearchDialect::Postgres => (
            "string_agg(st.style, ',')",
            format!("a.id = ANY (ARRAY({page_ids}))"),
        ),
        SearchDialect::Sqlite => (
            "group_concat(st.style, ',')",
            format!("a.id IN ({page_ids})"),
        ),
    };
    let page_sql = format!(
        "SELECT a.id, a.slug, u.display_name, a.city, a.country, s.name AS studio_name, \
         (SELECT {aggregate} FROM artist_styles st WHERE st.artist_id = a.id) AS styles, \
         a.books_open, a.price_min_cents, a.price_max_cents, \
         (SELECT p.thumb_path FROM portfolio_items p WHERE p.artist_id = a.id ORDER BY p.healed DESC, p.id LIMIT 1) AS thumb_path, \
         a.rating_count, a.rating_avg_centi \
         FROM artists a JOIN users u ON u.id = a.user_id \
         LEFT JOIN studios s ON s.id = a.studio_id WHERE {on_page} ORDER BY {order}"
    );
    let per_page = i64::from(q.per_page.clamp(1, 100));
    let offset = i64::from(q.page.max(1) - 1) * per_page;
    let mut page_binds = binds.clone();
    page_binds.push(Bind::Int(per_page));
    page_binds.push(Bind::Int(offset));
    SearchStatements {
        page_sql,
        page_binds,
        count_sql: format!("SELECT COUNT(*) {from} {filter}"),
        count_binds: binds,
    }
}

/// PostgreSQL's statements for a search, as the service runs them.
pub fn postgres_search_statements(q: &crate::booking::ArtistQuery) -> SearchStatements {
    search_statements(q, SearchDialect::Postgres)
}

pub(crate) fn search_order(sort: crate::booking::SearchSort) -> &'static str {
    use crate::booking::SearchSort as S;
    match sort {
        S::Featured => "a.books_open DESC, a.id",
        S::Rating => "a.rating_avg_centi DESC, a.rating_count DESC, a.id",
        S::PriceLow => "a.price_min_cents, a.id",
        S::Newest => "a.id DESC",
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SearchRow {
    #[sqlx(flatten)]
    card: crate::shared::ArtistCardRow,
    rating_count: i64,
    rating_avg_centi: i64,
}

impl From<SearchRow> for crate::booking::SearchHit {
    fn from(r: SearchRow) -> Self {
        crate::booking::SearchHit {
            card: r.card.into(),
            rating_count: r.rating_count,
            rating_centi: (r.rating_count > 0).then_some(r.rating_avg_centi),
        }
    }
}

/// Recomputes `artists.search_text` (what free-text search matches) for the rows `filter` picks.
pub(crate) const REFRESH_SEARCH_TEXT: &str = "UPDATE artists SET search_text = lower(\
COALESCE((SELECT u.display_name FROM users u WHERE u.id = artists.user_id), '') || ' ' || city || ' ' || \
COALESCE((SELECT s.name FROM studios s WHERE s.id = artists.studio_id), '') || ' ' || bio) WHERE ";

pub(crate) const GUEST_SPOT_SELECT: &str = "SELECT g.id, a.slug AS artist_slug, u.display_name AS artist_name, \
s.slug AS studio_slug, s.name AS studio_name, s.city, g.starts_on, g.ends_on, g.time_zone \
FROM guest_spots g JOIN artists a ON a.id = g.artist_id JOIN users u ON u.id = a.user_id \
JOIN studios s ON s.id = g.studio_id";

/// Groups flash variants under their designs.
pub(crate) fn assemble_flash(
    artist: domain::ArtistId,
    designs: Vec<(i64, String, String, String, String)>,
    variants: Vec<(i64, String, i64, i64)>,
) -> Vec<crate::booking::FlashDesign> {
    designs
        .into_iter()
        .map(
            |(id, title, style, image_path, thumb_path)| crate::booking::FlashDesign {
                id,
                artist_id: artist,
                title,
                style,
                image_path,
                thumb_path,
                variants: variants
                    .iter()
                    .filter(|v| v.0 == id)
                    .filter_map(|(_, size, price_cents, minutes)| {
                        domain::Size::parse(size)
                            .ok()
                            .map(|size| domain::FlashVariant {
                                size,
                                price_cents: *price_cents,
                                minutes: *minutes,
                            })
                    })
                    .collect(),
            },
        )
        .collect()
}

/// How a profile is looked up.
pub(crate) enum ProfileKey<'a> {
    Id(i64),
    Slug(&'a str),
}
