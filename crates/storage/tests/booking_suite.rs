//! The booking flow's storage, run against SQLite and PostgreSQL alike: transitions, ownership,
//! the no-overlap rule under concurrency, deadlines, deposits, messages, reviews and the outbox.

use domain::{
    BookingState, ConsentAnswers, DisplayName, Email, Quote, Rating, RawRequest, RequestDraft,
    Role, Slot, Style, UserId,
};
use std::sync::Arc;
use storage::testing::TestDb;
use storage::{
    AppointmentChange, ArtistProfile, ArtistSettings, BookingChange, BookingRequest, NewRequest,
    NewUser, Store, StoreError,
};

const NOW: i64 = 1_800_000_000; // a fixed clock: 2027-01-15
const HOUR: i64 = 3600;

async fn user(store: &Arc<dyn Store>, email: &str, role: Role) -> UserId {
    store
        .create_user(NewUser {
            email: Email::parse(email).unwrap(),
            display_name: DisplayName::parse(&format!("{role:?} {}", &email[..2])).unwrap(),
            role,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        })
        .await
        .unwrap()
        .id
}

async fn artist(store: &Arc<dyn Store>, email: &str, slug: &str) -> (UserId, ArtistProfile) {
    let id = user(store, email, Role::Artist).await;
    let profile = store
        .save_artist_settings(id, storage::testing::artist_settings(slug))
        .await
        .unwrap();
    (id, profile)
}

fn draft() -> RequestDraft {
    RequestDraft::parse(
        &RawRequest {
            idea: "A sprig of lavender along the wrist".into(),
            placement: "wrist".into(),
            size: "S".into(),
            budget: "200".into(),
            preferred_dates: "Any Saturday".into(),
            date_of_birth: "1995-05-05".into(),
        },
        domain::Currency::EUR,
    )
    .unwrap()
}

async fn request(store: &Arc<dyn Store>, client: UserId, a: &ArtistProfile) -> BookingRequest {
    store
        .create_request(
            NewRequest {
                client,
                artist: a.id,
                draft: draft(),
                needs_guardian: false,
                references: vec![],
                date_of_birth: "sealed by the caller".into(),
                age_at_request: 30,
            },
            NOW,
        )
        .await
        .unwrap()
}

/// A request taken through quote, acceptance and deposit.
async fn booked(
    store: &Arc<dyn Store>,
    client: UserId,
    artist_user: UserId,
    a: &ArtistProfile,
    sessions: i64,
) -> BookingRequest {
    let req = request(store, client, a).await;
    let quote = Quote::new(20_000, 30_000, sessions, 5_000, 14).unwrap();
    store
        .change_booking(req.id, artist_user, BookingChange::Quote(quote), NOW + 1)
        .await
        .unwrap();
    store
        .change_booking(req.id, client, BookingChange::Accept, NOW + 2)
        .await
        .unwrap();
    store
        .change_booking(req.id, artist_user, BookingChange::DepositPaid, NOW + 3)
        .await
        .unwrap()
}

fn consent() -> AppointmentChange {
    AppointmentChange::Consent {
        answers: ConsentAnswers {
            medical_notes: "Asthma, inhaler".into(),
            allergies: "Latex".into(),
            confirms_age: true,
            guardian_name: String::new(),
            aftercare_acknowledged: true,
            photo_permission: true,
            health_sealed: false,
        },
        ip: "127.0.0.1".into(),
        user_agent: "test".into(),
    }
}

async fn the_whole_journey_reaches_a_review_and_the_rating_shows_on_the_profile(db: TestDb) {
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let (artist_user, a) = artist(&store, "ar@example.com", "lavender-ink").await;
    let req = request(&store, client, &a).await;
    assert_eq!(req.state, BookingState::Submitted);
    assert_eq!(req.deadline_at, Some(NOW + 72 * HOUR));

    let change = BookingChange::RequestInfo {
        question: "Which wrist?".into(),
    };
    let r = store
        .change_booking(req.id, artist_user, change, NOW + 10)
        .await
        .unwrap();
    assert_eq!((r.state, r.deadline_at), (BookingState::NeedsInfo, None));
    let change = BookingChange::ProvideInfo {
        answer: "Left, inner side".into(),
    };
    let r = store
        .change_booking(req.id, client, change, NOW + 20)
        .await
        .unwrap();
    assert_eq!(r.state, BookingState::Submitted);

    let quote = Quote::new(20_000, 30_000, 2, 5_000, 14).unwrap();
    let r = store
        .change_booking(req.id, artist_user, BookingChange::Quote(quote), NOW + 30)
        .await
        .unwrap();
    assert_eq!(
        (r.state, r.deadline_at),
        (BookingState::Quoted, Some(NOW + 30 + 14 * 86_400))
    );
    let r = store
        .change_booking(req.id, client, BookingChange::Accept, NOW + 40)
        .await
        .unwrap();
    assert_eq!(
        (r.state, r.deadline_at),
        (BookingState::DepositPending, Some(NOW + 40 + 3 * 86_400))
    );
    let r = store
        .change_booking(req.id, artist_user, BookingChange::DepositPaid, NOW + 50)
        .await
        .unwrap();
    assert_eq!(r.state, BookingState::Booked);

    let slot = Slot::new(NOW + 7 * 86_400 - NOW % 900, 180, NOW).unwrap();
    let ap = store
        .schedule(req.id, artist_user, slot, NOW + 60)
        .await
        .unwrap();
    assert_eq!(ap.state, domain::AppointmentState::Scheduled);
    let ap = store
        .change_appointment(ap.id, client, consent(), NOW + 70)
        .await
        .unwrap();
    assert_eq!(ap.state, domain::AppointmentState::Confirmed);
    assert_eq!(ap.consent_signed_at, Some(NOW + 70));
    let ap = store
        .change_appointment(
            ap.id,
            artist_user,
            AppointmentChange::Complete,
            slot.starts_at + 80,
        )
        .await
        .unwrap();
    assert_eq!(ap.state, domain::AppointmentState::Completed);

    let review = store
        .create_review(
            req.id,
            client,
            Rating::parse(4).unwrap(),
            "Lovely work".into(),
            NOW + 90,
        )
        .await
        .unwrap();
    assert_eq!(review.rating, 4);
    let again = store
        .create_review(
            req.id,
            client,
            Rating::parse(5).unwrap(),
            "Twice".into(),
            NOW + 91,
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

    let profile = store.artist_by_slug("lavender-ink").await.unwrap().unwrap();
    assert_eq!((profile.rating_count, profile.rating_centi), (1, Some(400)));

    let detail = store.booking(req.id, client).await.unwrap().unwrap();
    let [signed] = &detail.consents[..] else {
        panic!("one signed form: {:?}", detail.consents)
    };
    assert_eq!(
        (
            signed.appointment_id,
            signed.allergies.as_str(),
            signed.medical_notes.as_str()
        ),
        (ap.id, "Latex", "Asthma, inhaler")
    );
    assert_eq!(
        (signed.signed_at, signed.session_starts_at),
        (NOW + 70, slot.starts_at)
    );
    let actions: Vec<_> = detail.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "submit",
            "request-info",
            "provide-info",
            "quote",
            "accept",
            "deposit-paid"
        ]
    );
    assert_eq!(detail.ledger.len(), 1);
    assert_eq!(detail.ledger[0].amount_cents, 5_000);
    assert!(detail.review.is_some());
    // Every change wrote a notification in the same transaction.
    assert!(store.pending_notifications().await.unwrap() >= 10);
}

async fn strangers_see_nothing_and_each_side_may_only_take_its_own_actions(db: TestDb) {
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let other = user(&store, "ot@example.com", Role::Client).await;
    let (artist_user, a) = artist(&store, "ar@example.com", "needle-one").await;
    let (other_artist, _) = artist(&store, "oa@example.com", "needle-two").await;
    let req = request(&store, client, &a).await;
    for party in [client, artist_user] {
        let seen = store.booking_request(req.id, party).await.unwrap().unwrap();
        assert_eq!(
            (seen.id, seen.artist_id, seen.client_id),
            (req.id, a.id, client)
        );
    }

    for stranger in [other, other_artist] {
        assert!(store.booking(req.id, stranger).await.unwrap().is_none());
        assert!(
            store
                .booking_request(req.id, stranger)
                .await
                .unwrap()
                .is_none()
        );
        let r = store
            .change_booking(req.id, stranger, BookingChange::Withdraw, NOW)
            .await;
        assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
        let r = store.post_message(req.id, stranger, "hi".into(), NOW).await;
        assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    }
    let quote = Quote::new(20_000, 30_000, 1, 5_000, 14).unwrap();
    let r = store
        .change_booking(req.id, client, BookingChange::Quote(quote), NOW)
        .await;
    assert!(matches!(r, Err(StoreError::WrongParty(_))), "{r:?}");
    let r = store
        .change_booking(req.id, client, BookingChange::Accept, NOW)
        .await;
    assert!(matches!(r, Err(StoreError::Refused(_))), "{r:?}");
    store
        .change_booking(req.id, client, BookingChange::Withdraw, NOW)
        .await
        .unwrap();
    let r = store
        .change_booking(req.id, artist_user, BookingChange::Quote(quote), NOW)
        .await;
    assert!(matches!(r, Err(StoreError::Refused(_))), "{r:?}");
}

async fn a_hundred_concurrent_bookings_of_one_slot_give_exactly_one_session(db: TestDb) {
    let store = db.store().await;
    let (artist_user, a) = artist(&store, "ar@example.com", "busy-artist").await;
    let mut bookings = Vec::new();
    for i in 0..100 {
        let client = user(&store, &format!("c{i:03}@example.com"), Role::Client).await;
        bookings.push(booked(&store, client, artist_user, &a, 1).await.id);
    }
    let start = NOW + 10 * 86_400 - NOW % 900;
    let tasks: Vec<_> = bookings
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let store = store.clone();
            // Same slot, or slots that overlap it by a quarter hour either side.
            let offset = [0, 900, -900][i % 3];
            tokio::spawn(async move {
                let slot = Slot::new(start + offset, 120, NOW).unwrap();
                store.schedule(id, artist_user, slot, NOW + 100).await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict(m)) => assert!(m.contains("session at that time"), "{m}"),
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(ok, 1);
    let calendar = store.appointments_for_artist(a.id, 0).await.unwrap();
    assert_eq!(calendar.len(), 1);
}

async fn cancelling_follows_the_notice_rules_and_rescheduling_is_capped(db: TestDb) {
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let (artist_user, a) = artist(&store, "ar@example.com", "notice-rules").await;
    let base = NOW + 30 * 86_400 - NOW % 900;

    // Client cancels an hour before: inside the 48 h notice window, the deposit is forfeited.
    let req = booked(&store, client, artist_user, &a, 1).await;
    let ap = store
        .schedule(req.id, artist_user, Slot::new(base, 60, NOW).unwrap(), NOW)
        .await
        .unwrap();
    let ap = store
        .change_appointment(ap.id, client, AppointmentChange::Cancel, base - HOUR)
        .await
        .unwrap();
    assert_eq!(ap.state, domain::AppointmentState::CancelledByClient);
    let ledger = store.booking(req.id, client).await.unwrap().unwrap().ledger;
    assert_eq!(ledger.last().unwrap().entry, "deposit_forfeited");

    // The artist cancels: the deposit is always credited.
    let req = booked(&store, client, artist_user, &a, 1).await;
    let ap = store
        .schedule(req.id, artist_user, Slot::new(base, 60, NOW).unwrap(), NOW)
        .await
        .unwrap();
    store
        .change_appointment(ap.id, artist_user, AppointmentChange::Cancel, base - HOUR)
        .await
        .unwrap();
    let ledger = store.booking(req.id, client).await.unwrap().unwrap().ledger;
    assert_eq!(ledger.last().unwrap().entry, "deposit_credited");

    // Two reschedules are allowed by the default policy; the third is refused.
    let req = booked(&store, client, artist_user, &a, 1).await;
    let mut ap = store
        .schedule(
            req.id,
            artist_user,
            Slot::new(base + 86_400, 60, NOW).unwrap(),
            NOW,
        )
        .await
        .unwrap();
    for day in 2..4 {
        let slot = Slot::new(base + day * 86_400, 60, NOW).unwrap();
        ap = store
            .change_appointment(ap.id, client, AppointmentChange::Reschedule(slot), NOW)
            .await
            .unwrap();
        assert_eq!(ap.starts_at, slot.starts_at);
    }
    let slot = Slot::new(base + 9 * 86_400, 60, NOW).unwrap();
    let r = store
        .change_appointment(ap.id, client, AppointmentChange::Reschedule(slot), NOW)
        .await;
    assert!(matches!(r, Err(StoreError::Refused(_))), "{r:?}");
    // A booked request with a live session cannot be withdrawn around the deposit rules.
    let r = store
        .change_booking(req.id, client, BookingChange::Withdraw, NOW)
        .await;
    assert!(matches!(r, Err(StoreError::Refused(_))), "{r:?}");
}

async fn deadlines_expire_once_even_when_several_sweepers_run(db: TestDb) {
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let (artist_user, a) = artist(&store, "ar@example.com", "slow-replies").await;
    let unanswered = request(&store, client, &a).await;
    let quoted = request(&store, client, &a).await;
    let quote = Quote::new(20_000, 30_000, 1, 5_000, 2).unwrap();
    store
        .change_booking(quoted.id, artist_user, BookingChange::Quote(quote), NOW)
        .await
        .unwrap();
    // Created at the same time as the first, so just as overdue.
    let fresh = request(&store, client, &a).await;

    assert!(store.expire_due(NOW + HOUR, 100).await.unwrap().is_empty());
    let later = NOW + 80 * HOUR; // past the 72 h response time and the 2-day quote
    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.expire_due(later, 100).await.unwrap() })
        })
        .collect();
    let mut total = 0;
    for s in sweeps {
        total += s.await.unwrap().len();
    }
    assert_eq!(total, 3, "each due request is expired exactly once");
    for (id, expected) in [
        (unanswered.id, BookingState::Expired),
        (quoted.id, BookingState::Expired),
        (fresh.id, BookingState::Expired),
    ] {
        let detail = store.booking(id, client).await.unwrap().unwrap();
        assert_eq!(detail.request.state, expected);
        let expiries = detail
            .events
            .iter()
            .filter(|e| e.action == "expire")
            .count();
        assert_eq!(expiries, 1);
    }
    let r = store
        .change_booking(quoted.id, client, BookingChange::Accept, later)
        .await;
    assert!(matches!(r, Err(StoreError::Refused(_))), "{r:?}");
}

async fn messages_stay_in_their_thread_and_count_unread(db: TestDb) {
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let (artist_user, a) = artist(&store, "ar@example.com", "chatty").await;
    let req = request(&store, client, &a).await;
    store
        .post_message(req.id, client, "Hello!".into(), NOW)
        .await
        .unwrap();
    store
        .post_message(req.id, client, "Any Saturday works".into(), NOW + 1)
        .await
        .unwrap();
    assert_eq!(store.unread_total(artist_user).await.unwrap(), 2);
    assert_eq!(store.unread_total(client).await.unwrap(), 0);
    let thread = store.messages(req.id, artist_user).await.unwrap();
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[0].body, "Hello!");
    assert_eq!(store.unread_total(artist_user).await.unwrap(), 0);
    let summaries = store.bookings_for(artist_user).await.unwrap();
    assert_eq!(summaries[0].unread_messages, 0);
}

async fn the_outbox_hands_each_notification_to_one_worker_and_retries_failures(db: TestDb) {
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let (_, a) = artist(&store, "ar@example.com", "outboxed").await;
    for _ in 0..6 {
        request(&store, client, &a).await;
    }
    let claims: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_notifications(NOW, 60, 4).await.unwrap() })
        })
        .collect();
    let mut ids = Vec::new();
    for c in claims {
        ids.extend(c.await.unwrap().into_iter().map(|n| n.id));
    }
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(
        (ids.len(), unique.len()),
        (6, 6),
        "no notification claimed twice"
    );
    // Nothing is claimable again while the lease holds.
    assert!(
        store
            .claim_notifications(NOW + 1, 60, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.notification_sent(ids[0], NOW + 2).await.unwrap();
    store
        .notification_failed(ids[1], "smtp down", NOW + 30)
        .await
        .unwrap();
    let retry = store.claim_notifications(NOW + 31, 60, 10).await.unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!((retry[0].id, retry[0].attempts), (ids[1], 2));
    assert_eq!(retry[0].recipient_email, "ar@example.com");
    // After the leases lapse the rest come back, but the sent one never does.
    let rest = store.claim_notifications(NOW + 1000, 60, 10).await.unwrap();
    assert!(rest.iter().all(|n| n.id != ids[0]));
    assert_eq!(store.pending_notifications().await.unwrap(), 5);
}

async fn search_filters_sort_and_pages_on_every_field(db: TestDb) {
    use storage::{ArtistQuery, SearchSort};
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let mut ids = Vec::new();
    for (i, (city, style, price, open)) in [
        ("London", Style::FineLine, 10_000, true),
        ("london", Style::Japanese, 50_000, true),
        ("Berlin", Style::FineLine, 20_000, false),
        ("Berlin", Style::Realism, 90_000, true),
        ("Lisbon", Style::FineLine, 30_000, true),
    ]
    .into_iter()
    .enumerate()
    {
        let uid = user(&store, &format!("a{i}@example.com"), Role::Artist).await;
        let p = store
            .save_artist_settings(
                uid,
                ArtistSettings {
                    bio: if i == 4 {
                        "Botanical 100% linework".into()
                    } else {
                        "Bold".into()
                    },
                    city: city.into(),
                    styles: vec![style],
                    price_min_cents: price,
                    price_max_cents: price * 2,
                    books_open: open,
                    ..storage::testing::artist_settings(&format!("artist-{i}"))
                },
            )
            .await
            .unwrap();
        ids.push((uid, p));
    }
    let q = |f: &dyn Fn(&mut ArtistQuery)| {
        let mut q = ArtistQuery {
            page: 1,
            per_page: 10,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let slugs = |r: storage::SearchResults| {
        r.artists
            .into_iter()
            .map(|h| h.card.slug)
            .collect::<Vec<_>>()
    };

    let all = store.search_artists(&q(&|_| {})).await.unwrap();
    assert_eq!(all.total, 5);
    assert!(all.artists[0].card.books_open, "open books first");
    let r = store
        .search_artists(&q(&|q| q.city = Some("LONDON".into())))
        .await
        .unwrap();
    assert_eq!(r.total, 2, "city matches ignore case");
    let r = store
        .search_artists(&q(&|q| q.style = Some(Style::FineLine)))
        .await
        .unwrap();
    assert_eq!(r.total, 3);
    let r = store
        .search_artists(&q(&|q| {
            q.style = Some(Style::FineLine);
            q.books_open = true;
        }))
        .await
        .unwrap();
    assert_eq!(slugs(r), ["artist-0", "artist-4"]);
    let r = store
        .search_artists(&q(&|q| {
            q.max_price_cents = Some(30_000);
            q.sort = SearchSort::PriceLow;
        }))
        .await
        .unwrap();
    assert_eq!(slugs(r), ["artist-0", "artist-2", "artist-4"]);
    let r = store
        .search_artists(&q(&|q| q.text = Some("100%".into())))
        .await
        .unwrap();
    assert_eq!(slugs(r), ["artist-4"], "a typed % is literal");
    let r = store
        .search_artists(&q(&|q| q.text = Some("_".into())))
        .await
        .unwrap();
    assert_eq!(r.total, 0, "a typed _ is literal");
    let r = store
        .search_artists(&q(&|q| {
            q.per_page = 2;
            q.page = 3;
            q.sort = SearchSort::Newest;
        }))
        .await
        .unwrap();
    assert_eq!((r.total, slugs(r)), (5, vec!["artist-0".to_owned()]));

    // Ratings: one review of 4 for artist-3; the healed filter needs a healed piece.
    let (artist_user, a3) = &ids[3];
    let req = booked(&store, client, *artist_user, a3, 1).await;
    let slot = Slot::new(NOW + 5 * 86_400 - NOW % 900, 60, NOW).unwrap();
    let ap = store
        .schedule(req.id, *artist_user, slot, NOW)
        .await
        .unwrap();
    store
        .change_appointment(ap.id, client, consent(), NOW)
        .await
        .unwrap();
    store
        .change_appointment(
            ap.id,
            *artist_user,
            AppointmentChange::Complete,
            slot.starts_at,
        )
        .await
        .unwrap();
    store
        .create_review(
            req.id,
            client,
            Rating::parse(4).unwrap(),
            String::new(),
            NOW,
        )
        .await
        .unwrap();
    let r = store
        .search_artists(&q(&|q| q.min_rating_centi = Some(350)))
        .await
        .unwrap();
    assert_eq!(r.artists[0].rating_centi, Some(400));
    assert_eq!(slugs(r), ["artist-3"]);
    let r = store
        .search_artists(&q(&|q| q.sort = SearchSort::Rating))
        .await
        .unwrap();
    assert_eq!(r.artists[0].card.slug, "artist-3");
    let r = store
        .search_artists(&q(&|q| q.healed_only = true))
        .await
        .unwrap();
    assert_eq!(r.total, 0);
    let cities = store.cities().await.unwrap();
    assert_eq!(cities, ["Berlin", "Lisbon", "London", "london"]);
}

async fn healed_photo_prompts_go_out_once_and_pieces_belong_to_their_artist(db: TestDb) {
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let (artist_user, a) = artist(&store, "ar@example.com", "healer").await;
    let (other_artist, _) = artist(&store, "ot@example.com", "other").await;
    let req = booked(&store, client, artist_user, &a, 1).await;
    let slot = Slot::new(NOW + 86_400 - NOW % 900, 60, NOW).unwrap();
    let ap = store
        .schedule(req.id, artist_user, slot, NOW)
        .await
        .unwrap();
    store
        .change_appointment(ap.id, client, consent(), NOW)
        .await
        .unwrap();
    let upload = |healed| storage::NewUpload {
        draft: domain::PortfolioDraft::parse("Koi", "japanese", "back", healed, &[]).unwrap(),
        image_path: "portfolio/x.jpg".into(),
        thumb_path: "portfolio/x-thumb.webp".into(),
    };
    let r = store.add_healed_photo(req.id, client, upload(false)).await;
    assert!(
        matches!(r, Err(StoreError::Refused(_))),
        "not before completion: {r:?}"
    );
    store
        .change_appointment(
            ap.id,
            artist_user,
            AppointmentChange::Complete,
            slot.starts_at,
        )
        .await
        .unwrap();

    let four_weeks = 28 * 86_400;
    assert_eq!(
        store
            .prompt_healed_photos(slot.ends_at + four_weeks - 1, four_weeks, 10)
            .await
            .unwrap(),
        0
    );
    let later = slot.ends_at + four_weeks;
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .prompt_healed_photos(later, four_weeks, 10)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut asked = 0;
    for r in runs {
        asked += r.await.unwrap();
    }
    assert_eq!(asked, 1, "one prompt however many instances run the job");

    let shared = store
        .add_healed_photo(req.id, client, upload(false))
        .await
        .unwrap();
    assert!(shared.healed, "a client's photo is healed work");
    assert_eq!(shared.booking_id, Some(req.id.get()));
    let r = store
        .add_healed_photo(req.id, other_artist, upload(true))
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");

    let own = store
        .add_portfolio_item(artist_user, upload(false))
        .await
        .unwrap();
    assert!(!own.healed);
    let r = store.delete_portfolio_item(other_artist, own.id).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert!(matches!(
        store.add_portfolio_item(client, upload(false)).await,
        Err(StoreError::NotFound)
    ));
    let keys = store
        .delete_portfolio_item(artist_user, own.id)
        .await
        .unwrap();
    assert_eq!(keys.0, "portfolio/x.jpg");
    let pieces = store.portfolio(a.id, 10).await.unwrap();
    assert_eq!(pieces.len(), 1);
    let r = store
        .search_artists(&storage::ArtistQuery {
            healed_only: true,
            page: 1,
            per_page: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        r.total, 1,
        "the shared photo puts the artist in the healed filter"
    );
}

async fn sessions_end_only_once_they_start_and_worked_bookings_cannot_be_withdrawn(db: TestDb) {
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let (artist_user, a) = artist(&store, "ar@example.com", "early-bird").await;
    let req = booked(&store, client, artist_user, &a, 2).await;
    let slot = Slot::new(NOW + 70 * 86_400 - NOW % 900, 60, NOW).unwrap();
    let ap = store
        .schedule(req.id, artist_user, slot, NOW + 10)
        .await
        .unwrap();
    store
        .change_appointment(ap.id, client, consent(), NOW + 20)
        .await
        .unwrap();
    // 70 days ahead, a no-show would forfeit the deposit and a completion would open a review.
    for change in [AppointmentChange::NoShow, AppointmentChange::Complete] {
        let r = store
            .change_appointment(ap.id, artist_user, change, NOW + 30)
            .await;
        assert!(matches!(r, Err(StoreError::Refused(_))), "{r:?}");
    }
    let r = store
        .create_review(
            req.id,
            client,
            Rating::parse(5).unwrap(),
            "Great".into(),
            NOW + 40,
        )
        .await;
    assert!(
        matches!(r, Err(StoreError::Refused(_))),
        "no review yet: {r:?}"
    );
    let before = store
        .booking_request(req.id, client)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.state, BookingState::Booked);
    // Once it has started, it can be completed; then the booking can no longer be withdrawn.
    store
        .change_appointment(
            ap.id,
            artist_user,
            AppointmentChange::Complete,
            slot.starts_at,
        )
        .await
        .unwrap();
    let r = store
        .change_booking(req.id, client, BookingChange::Withdraw, slot.ends_at + 60)
        .await;
    assert!(matches!(r, Err(StoreError::Refused(_))), "{r:?}");
    let after = store
        .booking_request(req.id, client)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.state,
        BookingState::Booked,
        "one of two sessions done"
    );
    // The second session completes the request: a final state nothing leaves.
    let second = Slot::new(slot.starts_at + 14 * 86_400, 60, NOW).unwrap();
    let ap2 = store
        .schedule(req.id, artist_user, second, slot.ends_at + 120)
        .await
        .unwrap();
    store
        .change_appointment(ap2.id, client, consent(), slot.ends_at + 180)
        .await
        .unwrap();
    store
        .change_appointment(
            ap2.id,
            artist_user,
            AppointmentChange::Complete,
            second.starts_at,
        )
        .await
        .unwrap();
    let done = store
        .booking_request(req.id, client)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state, BookingState::Completed);
    let r = store
        .change_booking(req.id, client, BookingChange::Withdraw, second.ends_at)
        .await;
    assert!(matches!(r, Err(StoreError::Refused(_))), "{r:?}");
    let third = Slot::new(second.starts_at + 14 * 86_400, 60, NOW).unwrap();
    let r = store
        .schedule(req.id, artist_user, third, second.ends_at)
        .await;
    assert!(r.is_err(), "no sessions after completion: {r:?}");
    store
        .create_review(
            req.id,
            client,
            Rating::parse(5).unwrap(),
            "Great".into(),
            second.ends_at,
        )
        .await
        .unwrap();
    let counts = store.booking_counts().await.unwrap();
    assert!(counts.contains(&(BookingState::Completed, 1)), "{counts:?}");
}

async fn failed_sign_ins_lock_with_backoff_notify_the_owner_once_and_clear_on_success(db: TestDb) {
    let store = db.store().await;
    let owner = user(&store, "owner@example.com", Role::Client).await;
    let backlog = store.pending_notifications().await.unwrap();
    let mut locks = Vec::new();
    for n in 0..12 {
        locks.push(
            store
                .record_sign_in_failure("hash-of-owner", Some(owner), NOW + n)
                .await
                .unwrap()
                - (NOW + n),
        );
    }
    assert_eq!(locks, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64]);
    assert_eq!(
        store.sign_in_locked_until("hash-of-owner").await.unwrap(),
        NOW + 11 + 64
    );
    assert_eq!(
        store.pending_notifications().await.unwrap(),
        backlog + 1,
        "one email for the streak"
    );
    // Unknown addresses are throttled alike, and nobody is emailed.
    for n in 0..12 {
        store
            .record_sign_in_failure("hash-of-nobody", None, NOW + n)
            .await
            .unwrap();
    }
    assert!(store.sign_in_locked_until("hash-of-nobody").await.unwrap() > NOW + 11);
    assert_eq!(store.pending_notifications().await.unwrap(), backlog + 1);
    // A success ends the streak; a day without failures does too.
    store.clear_sign_in_failures("hash-of-owner").await.unwrap();
    assert_eq!(
        store.sign_in_locked_until("hash-of-owner").await.unwrap(),
        0
    );
    let later = NOW + 11 + domain::throttle::FORGET_AFTER_SECS + 1;
    assert_eq!(
        store
            .record_sign_in_failure("hash-of-nobody", None, later)
            .await
            .unwrap(),
        later,
        "a new streak starts free"
    );
}

async fn sessions_are_reminded_two_days_and_one_day_ahead_once_each(db: TestDb) {
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let (artist_user, a) = artist(&store, "ar@example.com", "reminder-ink").await;
    let req = booked(&store, client, artist_user, &a, 2).await;
    let slot = Slot::new(NOW + 30 * HOUR - NOW % 900, 60, NOW).unwrap();
    let ap = store
        .schedule(req.id, artist_user, slot, NOW)
        .await
        .unwrap();
    // The invitation names its session, for its time and calendar invite.
    let first = store.claim_notifications(NOW, 60, 50).await.unwrap();
    let scheduled = first
        .iter()
        .find(|n| n.kind == "appointment.scheduled")
        .expect("the client is told");
    let session = scheduled.session.as_ref().expect("a session");
    assert_eq!(
        (session.appointment_id, session.starts_at, session.ends_at),
        (ap.id, slot.starts_at, slot.ends_at)
    );
    assert_eq!(session.time_zone, a.time_zone);
    for n in &first {
        store.notification_sent(n.id, NOW).await.unwrap();
    }

    // 30 h ahead: the two-day reminder, once, to both sides.
    assert_eq!(store.remind_sessions(NOW, 10).await.unwrap(), 1);
    assert_eq!(store.remind_sessions(NOW + 60, 10).await.unwrap(), 0);
    // 20 h ahead: the one-day reminder, once.
    let later = slot.starts_at - 20 * HOUR;
    assert_eq!(store.remind_sessions(later, 10).await.unwrap(), 1);
    assert_eq!(store.remind_sessions(later + 60, 10).await.unwrap(), 0);
    let reminders = store
        .claim_notifications(later + 120, 60, 50)
        .await
        .unwrap();
    let mut kinds: Vec<(&str, domain::UserId)> = Vec::new();
    for n in reminders
        .iter()
        .filter(|n| n.kind.starts_with("appointment.reminder"))
    {
        assert_eq!(n.session.as_ref().map(|s| s.appointment_id), Some(ap.id));
        let to = if n.recipient_email == "cl@example.com" {
            client
        } else {
            artist_user
        };
        kinds.push((n.kind.as_str(), to));
    }
    kinds.sort_by_key(|(k, to)| (*k, to.get()));
    let mut expected = vec![
        ("appointment.reminder_24", client),
        ("appointment.reminder_24", artist_user),
        ("appointment.reminder_48", client),
        ("appointment.reminder_48", artist_user),
    ];
    expected.sort_by_key(|(k, to)| (*k, to.get()));
    assert_eq!(kinds, expected);

    // A session booked at short notice gets only the reminder that fits; a cancelled one none.
    let short = Slot::new(later + 10 * HOUR - later % 900, 60, later).unwrap();
    let second = store
        .schedule(req.id, artist_user, short, later)
        .await
        .unwrap();
    store
        .change_appointment(second.id, client, AppointmentChange::Cancel, later + 1)
        .await
        .unwrap();
    assert_eq!(store.remind_sessions(later + 2, 10).await.unwrap(), 0);
}

async fn clients_propose_up_to_three_times_that_only_the_two_parties_see(db: TestDb) {
    let store = db.store().await;
    let client = user(&store, "cl@example.com", Role::Client).await;
    let stranger = user(&store, "st@example.com", Role::Client).await;
    let (artist_user, a) = artist(&store, "ar@example.com", "proposal-ink").await;
    let req = request(&store, client, &a).await;
    let slot = |h: i64| Slot::new(NOW + h * HOUR - NOW % 900, 120, NOW).unwrap();
    let early = store.propose_slots(req.id, client, &[slot(30)], NOW).await;
    assert!(
        matches!(early, Err(StoreError::Refused(_))),
        "not before the deposit: {early:?}"
    );
    let req = booked(&store, client, artist_user, &a, 1).await;
    let four = [slot(30), slot(40), slot(50), slot(60)];
    assert!(matches!(
        store.propose_slots(req.id, client, &four, NOW).await,
        Err(StoreError::Refused(_))
    ));
    assert!(matches!(
        store
            .propose_slots(req.id, artist_user, &four[..1], NOW)
            .await,
        Err(StoreError::WrongParty(_))
    ));
    assert!(matches!(
        store.propose_slots(req.id, stranger, &four[..1], NOW).await,
        Err(StoreError::NotFound)
    ));
    store
        .propose_slots(req.id, client, &four[..3], NOW)
        .await
        .unwrap();
    // Proposing again replaces the earlier times.
    let kept = store
        .propose_slots(req.id, client, &four[1..3], NOW + 1)
        .await
        .unwrap();
    assert_eq!(store.proposals(req.id, artist_user).await.unwrap(), kept);
    assert_eq!(store.proposals(req.id, client).await.unwrap().len(), 2);
    assert!(store.proposals(req.id, stranger).await.unwrap().is_empty());
    let notified = store.claim_notifications(NOW + 10, 60, 50).await.unwrap();
    assert!(
        notified
            .iter()
            .any(|n| n.kind == "booking.slots_proposed" && n.recipient_email == "ar@example.com")
    );
    // The calendar shows what is already taken.
    store
        .schedule(req.id, artist_user, four[1], NOW + 2)
        .await
        .unwrap();
    store.clear_proposals(req.id).await.unwrap();
    assert!(store.proposals(req.id, client).await.unwrap().is_empty());
    let busy = store.busy_times(a.id, NOW, NOW + 100 * HOUR).await.unwrap();
    assert_eq!(busy, [(four[1].starts_at, four[1].ends_at)]);
    store
        .set_days_off(artist_user, &["2099-12-24".into(), "2099-12-25".into()])
        .await
        .unwrap();
    assert_eq!(
        store.days_off(a.id, "2099-12-25").await.unwrap(),
        ["2099-12-25"]
    );
}

storage::on_both_databases!(
    clients_propose_up_to_three_times_that_only_the_two_parties_see,
    sessions_are_reminded_two_days_and_one_day_ahead_once_each,
    failed_sign_ins_lock_with_backoff_notify_the_owner_once_and_clear_on_success,
    sessions_end_only_once_they_start_and_worked_bookings_cannot_be_withdrawn,
    healed_photo_prompts_go_out_once_and_pieces_belong_to_their_artist,
    search_filters_sort_and_pages_on_every_field,
    the_whole_journey_reaches_a_review_and_the_rating_shows_on_the_profile,
    strangers_see_nothing_and_each_side_may_only_take_its_own_actions,
    a_hundred_concurrent_bookings_of_one_slot_give_exactly_one_session,
    cancelling_follows_the_notice_rules_and_rescheduling_is_capped,
    deadlines_expire_once_even_when_several_sweepers_run,
    messages_stay_in_their_thread_and_count_unread,
    the_outbox_hands_each_notification_to_one_worker_and_retries_failures,
);
