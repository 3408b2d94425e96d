//! The SQL every concern shares: the request lock, the artist's policy and the outbox insert,
//! and the macro that instantiates every concern's SQL for one backend.

/// The private helpers every concern's SQL calls; see `impl_sql_store` for the arguments.
macro_rules! impl_sql_helpers {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        const PROFILE_SELECT: &str = concat!(
            "SELECT a.id, a.user_id, a.slug, u.display_name, a.bio, a.city, a.country, a.jurisdiction, ",
            "s.name AS studio_name, s.slug AS studio_slug, ",
            "(SELECT ", $agg, " FROM artist_styles st WHERE st.artist_id = a.id) AS styles, ",
            "a.price_min_cents, a.price_max_cents, a.hourly_rate_cents, a.books_open, a.min_age, ",
            "a.deposit_kind, a.deposit_value, a.deposit_due_days, a.response_hours, a.notice_hours, ",
            "a.max_reschedules, a.currency, a.session_minutes, a.time_zone, a.work_days, a.work_start_min, a.work_end_min, a.rating_count, a.rating_sum ",
            "FROM artists a JOIN users u ON u.id = a.user_id LEFT JOIN studios s ON s.id = a.studio_id"
        );

        impl $ty {
            /// Reads a request for update. `viewer` limits it to the request's two participants.
            async fn lock_booking(
                tx: &mut sqlx::Transaction<'static, $db>,
                id: domain::BookingId,
                viewer: Option<domain::UserId>,
            ) -> $crate::Result<$crate::BookingRequest> {
                let sql = format!(
                    "{} WHERE br.id = $1 AND ($2 = 0 OR br.client_id = $2 OR a.user_id = $2){}",
                    $crate::rows::BOOKING_SELECT,
                    $lock
                );
                let row: Option<$crate::rows::BookingRow> = sqlx::query_as(&sql)
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

            /// Queues an email of `kind` about `req` to each recipient. Only the kind is stored:
            /// the worker words it from the email templates when it sends it.
            async fn notify(
                tx: &mut sqlx::Transaction<'static, $db>,
                kind: &str,
                req: &$crate::BookingRequest,
                recipients: &[domain::UserId],
                at: i64,
            ) -> $crate::Result<()> {
                Self::notify_session(tx, kind, req, None, recipients, at).await
            }

            /// Queues `kind` to each recipient, about `req` and, where it concerns one, a session.
            async fn notify_session(
                tx: &mut sqlx::Transaction<'static, $db>,
                kind: &str,
                req: &$crate::BookingRequest,
                appointment: Option<domain::AppointmentId>,
                recipients: &[domain::UserId],
                at: i64,
            ) -> $crate::Result<()> {
                for r in recipients {
                    sqlx::query(
                        "INSERT INTO outbox (kind, booking_id, recipient_id, subject, body, created_at, \
                         next_attempt_at, appointment_id) VALUES ($1, $2, $3, '', '', $4, $4, $5)",
                    )
                    .bind(kind)
                    .bind(req.id.get())
                    .bind(r.get())
                    .bind(at)
                    .bind(appointment.map(|a| a.get()))
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            /// Queues the notices a decision names, each to its party of `req`.
            async fn send_notices(
                tx: &mut sqlx::Transaction<'static, $db>,
                req: &$crate::BookingRequest,
                notices: &[domain::Notice],
                appointment: Option<domain::AppointmentId>,
                at: i64,
            ) -> $crate::Result<()> {
                for n in notices {
                    let to = match n.to {
                        domain::Party::Client => req.client_id,
                        domain::Party::Artist => req.artist_user_id,
                    };
                    Self::notify_session(tx, &n.kind, req, appointment, &[to], at).await?;
                }
                Ok(())
            }
        }
    };
}
pub(crate) use impl_sql_helpers;

/// Implements every storage trait for a backend type with a `pool` field and a `write_tx`
/// method. `db` is its sqlx database, `styles_agg` the dialect's string aggregate, `search` how
/// search statements are shaped for it, `lock` the row-lock clause (empty on SQLite, where the
/// transaction already holds the write lock) and `skip_locked` the clause that lets concurrent
/// outbox workers pass over each other's rows.
macro_rules! impl_sql_store {
    ($($args:tt)*) => {
        $crate::sql::impl_sql_helpers!($($args)*);
        $crate::accounts::impl_accounts_store!($($args)*);
        $crate::catalogue::impl_catalogue_store!($($args)*);
        $crate::booking::impl_booking_store!($($args)*);
        $crate::portfolio::impl_portfolio_store!($($args)*);
        $crate::conversation::impl_conversation_store!($($args)*);
        $crate::outbox::impl_outbox_store!($($args)*);
        $crate::scheduling::impl_scheduling_store!($($args)*);
        $crate::payments::impl_payment_store!($($args)*);
        $crate::audit::impl_audit_store!($($args)*);
        $crate::legal::impl_legal_store!($($args)*);
        $crate::keys::impl_data_key_store!($($args)*);
        $crate::retention::impl_retention_store!($($args)*);
        $crate::exports::impl_export_store!($($args)*);
        $crate::erasure::impl_erasure_store!($($args)*);
    };
}
pub(crate) use impl_sql_store;
