//! Booking requests and their sessions: each change persists a `domain::decide_*` decision atomically, in a transaction that serialises on the request (`FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite).

use crate::error::Result;
#[allow(unused_imports)]
use crate::model::*;
use async_trait::async_trait;
#[allow(unused_imports)]
use domain::*;

/// Booking requests and their sessions's storage operations.
#[async_trait]
pub trait BookingStore: Send + Sync {
    async fn create_request(&self, new: NewRequest, at: i64) -> Result<BookingRequest>;

    async fn booking(&self, id: BookingId, viewer: UserId) -> Result<Option<BookingDetail>>;

    /// The request alone (one query), if `viewer` takes part in it: enough to authorise an
    /// action and to know its artist, time zone and consent needs.
    async fn booking_request(
        &self,
        id: BookingId,
        viewer: UserId,
    ) -> Result<Option<BookingRequest>>;

    /// Whether `key` is a reference image (or its thumbnail) of a request `viewer` takes part in.
    async fn reference_visible(&self, key: &str, viewer: UserId) -> Result<bool>;

    async fn bookings_for(&self, viewer: UserId) -> Result<Vec<BookingSummary>>;

    async fn change_booking(
        &self,
        id: BookingId,
        viewer: UserId,
        change: BookingChange,
        at: i64,
    ) -> Result<BookingRequest>;

    /// Schedules a session on a booked request; overlapping another active session is a conflict.
    async fn schedule(
        &self,
        id: BookingId,
        viewer: UserId,
        slot: Slot,
        at: i64,
    ) -> Result<Appointment>;

    async fn change_appointment(
        &self,
        id: AppointmentId,
        viewer: UserId,
        change: AppointmentChange,
        at: i64,
    ) -> Result<Appointment>;

    /// The request a session belongs to, for routing a session action to its ownership check.
    async fn appointment_booking(&self, id: AppointmentId) -> Result<Option<BookingId>>;

    async fn appointments_for_artist(
        &self,
        artist: ArtistId,
        from: i64,
    ) -> Result<Vec<Appointment>>;

    /// Expires every request whose deadline has passed; safe to run on several instances at once.
    async fn expire_due(&self, at: i64, limit: i64) -> Result<Vec<BookingId>>;
}

/// Implements `BookingStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_booking_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        impl $ty {
            /// What the booking rules count, in one statement: the request's sessions in the
            /// calendar, completed and moved, and its deposits paid and settled.
            async fn request_counts(
                tx: &mut sqlx::Transaction<'static, $db>,
                booking: domain::BookingId,
            ) -> $crate::Result<(i64, i64, i64, i64, i64)> {
                Ok(sqlx::query_as(
                    "SELECT \
                     (SELECT COUNT(*) FROM appointments WHERE booking_id = $1 AND state IN ('scheduled', 'confirmed')), \
                     (SELECT COUNT(*) FROM appointments WHERE booking_id = $1 AND state = 'completed'), \
                     (SELECT COUNT(*) FROM appointments WHERE booking_id = $1 AND state = 'rescheduled'), \
                     (SELECT COUNT(*) FROM deposit_ledger WHERE booking_id = $1 AND entry = 'deposit_paid'), \
                     (SELECT COUNT(*) FROM deposit_ledger WHERE booking_id = $1 AND entry <> 'deposit_paid')",
                )
                .bind(booking.get())
                .fetch_one(&mut **tx)
                .await?)
            }

            /// Decides one change to a locked request (`domain::decide_booking`) and persists the
            /// decision: state, data, history, ledger and outbox, in the caller's transaction.
            async fn apply_change(
                tx: &mut sqlx::Transaction<'static, $db>,
                req: $crate::BookingRequest,
                actor: domain::Actor,
                change: $crate::BookingChange,
                at: i64,
            ) -> $crate::Result<$crate::BookingRequest> {
                let policy = Self::policy_of(tx, req.artist_id).await?;
                let (active, completed, ..) = Self::request_counts(tx, req.id).await?;
                let facts = domain::RequestFacts {
                    state: req.state,
                    note: req.note.clone(),
                    quote: req.quote,
                    deadline_at: req.deadline_at,
                    active_sessions: active,
                    completed_sessions: completed,
                };
                let d = domain::decide_booking(&facts, actor, &change, &policy, at)?;
                if let Some(amount) = d.deposit_paid_cents {
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
                sqlx::query(
                    "UPDATE booking_requests SET state = $1, note = $2, quote_min_cents = $3, \
                     quote_max_cents = $4, quote_sessions = $5, deposit_cents = $6, deadline_at = $7, \
                     updated_at = $8 WHERE id = $9",
                )
                .bind(d.to.as_str())
                .bind(&d.note)
                .bind(d.quote.map(|q| q.price_min_cents))
                .bind(d.quote.map(|q| q.price_max_cents))
                .bind(d.quote.map(|q| q.sessions))
                .bind(d.quote.map(|q| q.deposit_cents))
                .bind(d.deadline_at)
                .bind($crate::rows::ts(at))
                .bind(req.id.get())
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "INSERT INTO booking_events (booking_id, actor, action, from_state, to_state, at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(req.id.get())
                .bind(format!("{actor:?}").to_lowercase())
                .bind(d.action.as_str())
                .bind(d.from.as_str())
                .bind(d.to.as_str())
                .bind(at)
                .execute(&mut **tx)
                .await?;
                let updated = $crate::BookingRequest {
                    state: d.to,
                    note: d.note,
                    quote: d.quote,
                    deadline_at: d.deadline_at,
                    ..req
                };
                Self::send_notices(tx, &updated, &d.notices, None, at).await?;
                Ok(updated)
            }

            async fn lock_appointment(
                tx: &mut sqlx::Transaction<'static, $db>,
                id: domain::AppointmentId,
            ) -> $crate::Result<$crate::Appointment> {
                let sql = format!(
                    "{} WHERE ap.id = $1{}",
                    $crate::rows::APPOINTMENT_SELECT,
                    $lock.replace("OF br", "OF ap")
                );
                let row: Option<$crate::rows::AppointmentRow> = sqlx::query_as(&sql)
                    .bind(id.get())
                    .fetch_optional(&mut **tx)
                    .await?;
                row.ok_or($crate::StoreError::NotFound)?.try_into()
            }

            async fn insert_appointment(
                tx: &mut sqlx::Transaction<'static, $db>,
                req: &$crate::BookingRequest,
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
        }

        #[async_trait::async_trait]
        impl $crate::BookingStore for $ty {
            #[tracing::instrument(skip_all, name = "store.create_request")]
            async fn create_request(
                &self,
                new: $crate::NewRequest,
                at: i64,
            ) -> $crate::Result<$crate::BookingRequest> {
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
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO booking_requests (client_id, artist_id, state, idea, placement, size, \
                     budget_cents, preferred_dates, date_of_birth, needs_guardian, deadline_at, created_at, \
                     updated_at, age_at_request) VALUES ($1, $2, 'submitted', $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12) \
                     RETURNING id",
                )
                .bind(new.client.get())
                .bind(new.artist.get())
                .bind(&d.idea)
                .bind(&d.placement)
                .bind(d.size.as_str())
                .bind(d.budget_cents)
                .bind(&d.preferred_dates)
                .bind(&new.date_of_birth)
                .bind(new.needs_guardian)
                .bind(at + i64::from(policy.response_hours) * 3600)
                .bind($crate::rows::ts(at))
                .bind(new.age_at_request)
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
                Self::notify(&mut tx, "booking.submitted", &req, &[req.artist_user_id], at).await?;
                tx.commit().await?;
                Ok(req)
            }

            #[tracing::instrument(skip_all, name = "store.booking")]
            async fn booking(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
            ) -> $crate::Result<Option<$crate::BookingDetail>> {
                let Some(request) = self.booking_request(id, viewer).await? else {
                    return Ok(None);
                };
                let sql = format!("{} WHERE ap.booking_id = $1 ORDER BY ap.starts_at, ap.id", $crate::rows::APPOINTMENT_SELECT);
                let appointments = sqlx::query_as::<_, $crate::rows::AppointmentRow>(&sql)
                    .bind(id.get())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<$crate::Result<Vec<_>>>()?;
                let events = sqlx::query_as::<_, $crate::rows::EventRow>($crate::rows::EVENTS_SQL)
                .bind(id.get())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
                let ledger = sqlx::query_as::<_, $crate::rows::LedgerRow>($crate::rows::LEDGER_SQL)
                .bind(id.get())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
                let review = sqlx::query_as::<_, $crate::rows::ReviewRow>($crate::rows::REVIEW_SQL)
                .bind(id.get())
                .fetch_optional(&self.pool)
                .await?
                .map(Into::into);
                let unread_sql = format!(
                    "SELECT {} FROM booking_requests br WHERE br.id = $2",
                    $crate::rows::UNREAD_SQL
                );
                let (unread_messages,): (i64,) = sqlx::query_as(&unread_sql)
                    .bind(viewer.get())
                    .bind(id.get())
                    .fetch_one(&self.pool)
                    .await?;
                let references = sqlx::query_as($crate::rows::REFERENCES_SQL)
                .bind(id.get())
                .fetch_all(&self.pool)
                .await?;
                let consents = sqlx::query_as::<_, $crate::rows::ConsentRow>($crate::rows::CONSENTS_SQL)
                .bind(id.get())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
                Ok(Some($crate::BookingDetail {
                    consents,
                    request,
                    appointments,
                    events,
                    ledger,
                    review,
                    unread_messages,
                    references,
                }))
            }

            #[tracing::instrument(skip_all, name = "store.booking_request")]
            async fn booking_request(
                &self,
                id: domain::BookingId,
                viewer: domain::UserId,
            ) -> $crate::Result<Option<$crate::BookingRequest>> {
                let sql = format!(
                    "{} WHERE br.id = $1 AND (br.client_id = $2 OR a.user_id = $2)",
                    $crate::rows::BOOKING_SELECT
                );
                sqlx::query_as::<_, $crate::rows::BookingRow>(&sql)
                    .bind(id.get())
                    .bind(viewer.get())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()
            }

            #[tracing::instrument(skip_all, name = "store.reference_visible")]
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

            #[tracing::instrument(skip_all, name = "store.bookings_for")]
            async fn bookings_for(&self, viewer: domain::UserId) -> $crate::Result<Vec<$crate::BookingSummary>> {
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
                    $crate::rows::UNREAD_SQL
                );
                sqlx::query_as::<_, $crate::rows::SummaryRow>(&sql)
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
                change: $crate::BookingChange,
                at: i64,
            ) -> $crate::Result<$crate::BookingRequest> {
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
            ) -> $crate::Result<$crate::Appointment> {
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
                Self::notify_session(&mut tx, "appointment.scheduled", &req, Some(ap), &[req.client_id], at).await?;
                let appointment = Self::lock_appointment(&mut tx, ap).await?;
                tx.commit().await?;
                Ok(appointment)
            }

            #[tracing::instrument(skip_all, name = "store.change_appointment", fields(action = change.action().as_str()))]
            async fn change_appointment(
                &self,
                id: domain::AppointmentId,
                viewer: domain::UserId,
                change: $crate::AppointmentChange,
                at: i64,
            ) -> $crate::Result<$crate::Appointment> {
                use $crate::StoreError;
                let mut tx = self.write_tx().await?;
                let ap = Self::lock_appointment(&mut tx, id).await?;
                let req = Self::lock_booking(&mut tx, ap.booking_id, Some(viewer)).await?;
                let actor = req.actor_for(viewer).ok_or(StoreError::NotFound)?;
                let policy = Self::policy_of(&mut tx, req.artist_id).await?;
                let (active, completed, moved, paid, settled) = Self::request_counts(&mut tx, req.id).await?;
                let facts = domain::SessionFacts {
                    state: ap.state,
                    starts_at: ap.starts_at,
                    needs_guardian: req.needs_guardian,
                    deposit_unsettled: paid > 0 && settled == 0,
                    deposit_cents: req.quote.map_or(0, |q| q.deposit_cents),
                    reschedules: moved,
                    active_sessions: active,
                    completed_sessions: completed,
                    planned_sessions: req.quote.as_ref().map_or(1, |q| q.sessions),
                };
                let d = domain::decide_session(&facts, actor, &change, &policy, at)?;
                if let (Some(answers), domain::AppointmentChange::Consent { ip, user_agent, .. }) = (&d.consent, &change) {
                    sqlx::query(
                        "INSERT INTO consents (appointment_id, client_id, medical_notes, confirms_age, \
                         guardian_name, aftercare_ack, photo_permission, jurisdiction, ip, user_agent, signed_at, \
                         allergies) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
                    .bind(&answers.allergies)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some((outcome, amount)) = d.settle {
                    sqlx::query(
                        "INSERT INTO deposit_ledger (booking_id, appointment_id, entry, amount_cents, at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(req.id.get())
                    .bind(ap.id.get())
                    .bind(outcome.as_str())
                    .bind(amount)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query("UPDATE appointments SET state = $1, updated_at = $2 WHERE id = $3")
                    .bind(d.to.as_str())
                    .bind(at)
                    .bind(ap.id.get())
                    .execute(&mut *tx)
                    .await?;
                let mut result_id = ap.id;
                if let Some(slot) = d.new_slot {
                    result_id = Self::insert_appointment(&mut tx, &req, slot, at).await?;
                }
                if d.completes_request {
                    sqlx::query("UPDATE booking_requests SET completed_at = $1, updated_at = $2 WHERE id = $3")
                        .bind(at)
                        .bind($crate::rows::ts(at))
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
                Self::send_notices(&mut tx, &req, &d.notices, Some(result_id), at).await?;
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

            #[tracing::instrument(skip_all, name = "store.appointments_for_artist")]
            async fn appointments_for_artist(
                &self,
                artist: domain::ArtistId,
                from: i64,
            ) -> $crate::Result<Vec<$crate::Appointment>> {
                let sql = format!(
                    "{} WHERE ap.artist_id = $1 AND ap.ends_at >= $2 AND ap.state IN ('scheduled', 'confirmed', 'completed') \
                     ORDER BY ap.starts_at LIMIT 500",
                    $crate::rows::APPOINTMENT_SELECT
                );
                sqlx::query_as::<_, $crate::rows::AppointmentRow>(&sql)
                    .bind(artist.get())
                    .bind(from)
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
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
                    let change = $crate::BookingChange::Expire;
                    Self::apply_change(&mut tx, req, domain::Actor::System, change, at).await?;
                    tx.commit().await?;
                    expired.push(domain::BookingId::new(id));
                }
                Ok(expired)
            }
        }
    };
}
pub(crate) use impl_booking_store;
