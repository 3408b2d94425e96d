//! Rows as the database returns them, and their conversion into the model; the SELECTs that
//! produce them.

use crate::StoreError;
use crate::{
    Appointment, ArtistProfile, BookingEvent, BookingRequest, BookingSummary, LedgerEntry, Message,
    Notification, QuoteView, Review, User,
};
use domain::{
    AppointmentId, AppointmentState, ArtistId, BookingId, BookingPolicy, BookingState, DisplayName,
    Email, Role, Size, Style, UserId,
};
use time::OffsetDateTime;

/// `state` as the domain sees it: `completed` is kept in `completed_at` (see its migration).
pub(crate) const BOOKING_SELECT: &str = "SELECT br.id, br.client_id, cu.display_name AS client_name, \
br.artist_id, a.user_id AS artist_user_id, a.slug AS artist_slug, au.display_name AS artist_name, \
a.jurisdiction, a.time_zone, a.currency AS artist_currency, a.country AS artist_country, CASE WHEN br.completed_at IS NULL THEN br.state ELSE 'completed' END AS state, br.idea, br.placement, br.size, br.budget_cents, br.preferred_dates, \
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
    artist_currency: Option<String>,
    artist_country: String,
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
            currency: domain::Currency::of_artist(r.artist_currency.as_deref(), &r.artist_country),
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
    currency: Option<String>,
    session_minutes: i64,
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
            currency: domain::Currency::of_artist(r.currency.as_deref(), &r.country),
            session_minutes: r.session_minutes,
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
    payment_id: Option<i64>,
}

impl From<LedgerRow> for LedgerEntry {
    fn from(r: LedgerRow) -> Self {
        LedgerEntry {
            entry: r.entry,
            amount_cents: r.amount_cents,
            appointment_id: r.appointment_id.map(AppointmentId::new),
            at: r.at,
            payment_id: r.payment_id,
        }
    }
}

/// The parts of a request's page, each for the booking bound as `$1`.
pub(crate) const EVENTS_SQL: &str = "SELECT actor, action, from_state, to_state, at FROM booking_events \
WHERE booking_id = $1 ORDER BY id";
pub(crate) const LEDGER_SQL: &str = "SELECT entry, amount_cents, appointment_id, at, payment_id FROM deposit_ledger \
WHERE booking_id = $1 ORDER BY id";
pub(crate) const REVIEW_SQL: &str = "SELECT r.id, r.booking_id, r.artist_id, u.display_name AS client_name, \
r.rating, r.body, r.created_at FROM reviews r JOIN users u ON u.id = r.client_id WHERE r.booking_id = $1";
pub(crate) const REFERENCES_SQL: &str = "SELECT image_path, thumb_path FROM booking_references \
WHERE booking_id = $1 ORDER BY id";
pub(crate) const CONSENTS_SQL: &str = "SELECT c.appointment_id, ap.starts_at, c.medical_notes, c.allergies, \
c.confirms_age, c.guardian_name, c.aftercare_ack, c.photo_permission, c.jurisdiction, c.signed_at \
FROM consents c JOIN appointments ap ON ap.id = c.appointment_id \
WHERE ap.booking_id = $1 ORDER BY ap.starts_at, c.id";

#[derive(sqlx::FromRow)]
pub(crate) struct ConsentRow {
    appointment_id: i64,
    starts_at: i64,
    medical_notes: String,
    allergies: String,
    confirms_age: bool,
    guardian_name: Option<String>,
    aftercare_ack: bool,
    photo_permission: bool,
    jurisdiction: String,
    signed_at: i64,
}

impl From<ConsentRow> for crate::ConsentRecord {
    fn from(r: ConsentRow) -> Self {
        crate::ConsentRecord {
            appointment_id: AppointmentId::new(r.appointment_id),
            session_starts_at: r.starts_at,
            medical_notes: r.medical_notes,
            allergies: r.allergies,
            confirms_age: r.confirms_age,
            guardian_name: r.guardian_name,
            aftercare_acknowledged: r.aftercare_ack,
            photo_permission: r.photo_permission,
            jurisdiction: r.jurisdiction,
            signed_at: r.signed_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct NotificationRow {
    id: i64,
    kind: String,
    booking_id: Option<i64>,
    recipient_id: i64,
    email: String,
    display_name: String,
    subject: String,
    body: String,
    attempts: i64,
    email_opt_out: String,
    client_name: Option<String>,
    artist_name: Option<String>,
    artist_slug: Option<String>,
    appointment_id: Option<i64>,
    session_starts_at: Option<i64>,
    session_ends_at: Option<i64>,
    time_zone: Option<String>,
    artist_city: Option<String>,
    payment_amount: Option<i64>,
    payment_currency: Option<String>,
    payment_intent: Option<String>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            id: r.id,
            kind: r.kind,
            booking_id: r.booking_id.map(BookingId::new),
            recipient_id: domain::UserId::new(r.recipient_id),
            recipient_email: r.email,
            recipient_name: r.display_name,
            subject: r.subject,
            body: r.body,
            attempts: r.attempts,
            client_name: r.client_name,
            artist_name: r.artist_name,
            artist_slug: r.artist_slug,
            session: match (r.appointment_id, r.session_starts_at, r.session_ends_at) {
                (Some(id), Some(starts_at), Some(ends_at)) => Some(crate::SessionTime {
                    appointment_id: AppointmentId::new(id),
                    starts_at,
                    ends_at,
                    time_zone: r.time_zone.unwrap_or_else(|| "UTC".into()),
                    city: r.artist_city.unwrap_or_default(),
                }),
                _ => None,
            },
            payment: match (r.payment_amount, r.payment_currency, r.payment_intent) {
                (Some(amount_cents), Some(currency), Some(reference)) => Some(crate::PaymentNote {
                    amount_cents,
                    currency,
                    reference,
                }),
                _ => None,
            },
            recipient_opt_out: r
                .email_opt_out
                .split(',')
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// A `users` row before its columns are parsed back into domain types.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub created_at: OffsetDateTime,
    pub email_verified_at: Option<i64>,
    pub session_epoch: i64,
    pub two_factor: bool,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let corrupt = |e: domain::ParseError| StoreError::Corrupt(format!("user {}: {e}", r.id));
        Ok(User {
            id: UserId::new(r.id),
            email: Email::parse(&r.email).map_err(corrupt)?,
            display_name: DisplayName::parse(&r.display_name).map_err(corrupt)?,
            role: Role::parse(&r.role).map_err(corrupt)?,
            created_at: r.created_at,
            email_verified: r.email_verified_at.is_some(),
            session_epoch: r.session_epoch,
            two_factor: r.two_factor,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialsRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub password_hash: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ArtistCardRow {
    pub id: i64,
    pub slug: String,
    pub display_name: String,
    pub city: String,
    pub country: String,
    pub currency: Option<String>,
    pub studio_name: Option<String>,
    pub styles: Option<String>,
    pub books_open: bool,
    pub price_min_cents: i64,
    pub price_max_cents: i64,
    pub thumb_path: Option<String>,
}

impl From<ArtistCardRow> for crate::ArtistCard {
    fn from(r: ArtistCardRow) -> Self {
        // Styles are written only from `Style` values, so unknown ones can only come from a
        // newer release's taxonomy (expand/contract): they are skipped, not fatal.
        let mut styles: Vec<_> = r
            .styles
            .unwrap_or_default()
            .split(',')
            .filter_map(|s| domain::Style::parse(s).ok())
            .collect();
        styles.sort_by_key(|s| s.slug());
        crate::ArtistCard {
            id: domain::ArtistId::new(r.id),
            slug: r.slug,
            display_name: r.display_name,
            city: r.city,
            currency: domain::Currency::of_artist(r.currency.as_deref(), &r.country),
            country: r.country,
            studio_name: r.studio_name,
            styles,
            books_open: r.books_open,
            price_min_cents: r.price_min_cents,
            price_max_cents: r.price_max_cents,
            thumb_path: r.thumb_path,
        }
    }
}

pub(crate) const USER_COLUMNS: &str = "id, email, display_name, role, created_at, email_verified_at, session_epoch, \
     totp_secret IS NOT NULL AS two_factor";
