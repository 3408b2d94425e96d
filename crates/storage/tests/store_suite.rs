//! One storage suite, run against SQLite and PostgreSQL alike.

use domain::{BookingState, DisplayName, Email, Role, Slug, Style};
use storage::testing::TestDb;
use storage::{
    CatalogueBatch, NewArtist, NewBooking, NewPortfolioItem, NewStudio, NewUser, StoreError,
};

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: Email::parse(email).unwrap(),
        display_name: DisplayName::parse("Ink Person").unwrap(),
        role,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
    }
}

fn small_catalogue() -> CatalogueBatch {
    let artist = |user, studio, slug: &str, open| NewArtist {
        user,
        studio,
        slug: Slug::parse(slug).unwrap(),
        bio: "Bold lines".into(),
        city: "Berlin".into(),
        country: "DE".into(),
        jurisdiction: "DE".into(),
        styles: vec![Style::Blackwork, Style::FineLine],
        price_min_cents: 10_000,
        price_max_cents: 90_000,
        hourly_rate_cents: 15_000,
        books_open: open,
        min_age: 18,
        time_zone: "Europe/Berlin".into(),
    };
    CatalogueBatch {
        users: vec![
            new_user("a1@example.com", Role::Artist),
            new_user("a2@example.com", Role::Artist),
            new_user("c1@example.com", Role::Client),
        ],
        studios: vec![NewStudio {
            slug: Slug::parse("black-lodge").unwrap(),
            name: "Black Lodge".into(),
            city: "Berlin".into(),
            country: "DE".into(),
            jurisdiction: "DE".into(),
        }],
        artists: vec![
            artist(0, Some(0), "artist-one", false),
            artist(1, None, "artist-two", true),
        ],
        portfolio: vec![NewPortfolioItem {
            artist: 0,
            title: "Moth".into(),
            style: Style::Blackwork,
            placement: "forearm".into(),
            healed: true,
            image_path: "demo/1.png".into(),
            thumb_path: "demo/1-thumb.png".into(),
        }],
        bookings: [
            BookingState::Submitted,
            BookingState::Quoted,
            BookingState::Quoted,
        ]
        .into_iter()
        .map(|state| NewBooking {
            client: 2,
            artist: 1,
            state,
            idea: "A moth".into(),
            placement: "forearm".into(),
            size: "10cm".into(),
            created_at: time::OffsetDateTime::now_utc(),
        })
        .collect(),
        flash: vec![storage::NewFlashItem {
            artist: 1,
            flash: storage::NewFlash {
                title: "Dagger".into(),
                style: Style::Traditional,
                image_path: "demo/f.png".into(),
                thumb_path: "demo/f-thumb.webp".into(),
                variants: vec![
                    domain::FlashVariant {
                        size: domain::Size::S,
                        price_cents: 9_000,
                        minutes: 60,
                    },
                    domain::FlashVariant {
                        size: domain::Size::M,
                        price_cents: 15_000,
                        minutes: 120,
                    },
                ],
            },
        }],
    }
}

async fn migrations_leave_a_compatible_schema_and_rerun_as_a_no_op(db: TestDb) {
    let store = storage::connect(&db.url, &Default::default())
        .await
        .unwrap();
    let before = store.schema_status().await.unwrap();
    assert!(
        !before.is_compatible(),
        "a fresh database has pending migrations"
    );
    assert_eq!(before.current, None);
    let applied = store.migrate().await.unwrap();
    assert_eq!(applied, before.pending);
    let after = store.schema_status().await.unwrap();
    assert!(after.is_compatible());
    assert_eq!(after.current, Some(after.expected));
    assert!(store.migrate().await.unwrap().is_empty());
    store.ping().await.unwrap();
    assert_eq!(store.backend(), db.backend);
}

async fn a_user_round_trips_and_a_second_account_with_the_same_email_conflicts(db: TestDb) {
    let store = db.store().await;
    let created = store
        .create_user(new_user("Mara@Example.com", Role::Artist))
        .await
        .unwrap();
    assert_eq!(created.email.as_str(), "mara@example.com");
    assert_eq!(store.user(created.id).await.unwrap(), Some(created.clone()));
    let err = store
        .create_user(new_user("mara@example.com", Role::Client))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.count_users().await.unwrap(), 1);
}

async fn credentials_are_found_by_email_only_for_existing_accounts(db: TestDb) {
    let store = db.store().await;
    let created = store
        .create_user(new_user("ink@example.com", Role::Client))
        .await
        .unwrap();
    let creds = store
        .credentials_by_email(&Email::parse("ink@example.com").unwrap())
        .await
        .unwrap()
        .expect("credentials");
    assert_eq!(creds.user, created);
    assert!(creds.password_hash.starts_with("$argon2id$"));
    assert!(!format!("{creds:?}").contains("argon2id"));
    let none = store
        .credentials_by_email(&Email::parse("nobody@example.com").unwrap())
        .await
        .unwrap();
    assert!(none.is_none());
}

async fn a_catalogue_import_writes_everything_and_lists_open_artists_first(db: TestDb) {
    let store = db.store().await;
    let summary = store.import_catalogue(small_catalogue()).await.unwrap();
    assert_eq!(
        (summary.users, summary.artists, summary.bookings),
        (3, 2, 3)
    );
    let cards = store.featured_artists(10).await.unwrap();
    assert_eq!(cards.len(), 2);
    assert_eq!(cards[0].slug, "artist-two", "books-open artists come first");
    assert_eq!(cards[1].studio_name.as_deref(), Some("Black Lodge"));
    assert_eq!(cards[1].thumb_path.as_deref(), Some("demo/1-thumb.png"));
    assert_eq!(cards[0].styles, vec![Style::Blackwork, Style::FineLine]);
    let counts = store.catalogue_counts().await.unwrap();
    assert_eq!(
        (
            counts.users,
            counts.artists,
            counts.studios,
            counts.portfolio_items,
            counts.cities
        ),
        (3, 2, 1, 1, 1)
    );
    let by_state = store.booking_counts().await.unwrap();
    assert_eq!(
        by_state,
        vec![(BookingState::Quoted, 2), (BookingState::Submitted, 1)]
    );
}

async fn a_failing_import_leaves_nothing_behind(db: TestDb) {
    let store = db.store().await;
    let mut batch = small_catalogue();
    batch.bookings[2].artist = 99;
    let err = store.import_catalogue(batch).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert_eq!(store.count_users().await.unwrap(), 0);

    let mut duplicate = small_catalogue();
    duplicate.users[1] = new_user("a1@example.com", Role::Artist);
    let err = store.import_catalogue(duplicate).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.catalogue_counts().await.unwrap().artists, 0);
}

/// Instances starting together on one empty database: each has its own pool, as separate
/// processes would, and all seed at once. Exactly one import lands; the others see accounts.
async fn concurrent_seeders_on_an_empty_database_seed_exactly_once(db: TestDb) {
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(db.store().await);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(stores.len()));
    let seeders: Vec<_> = stores
        .iter()
        .cloned()
        .map(|store| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.seed_catalogue(small_catalogue()).await
            })
        })
        .collect();
    let mut seeded = 0;
    for seeder in seeders {
        match seeder.await.unwrap() {
            Ok(Some(summary)) => {
                assert_eq!((summary.users, summary.flash_designs), (3, 1));
                seeded += 1;
            }
            Ok(None) => {}
            Err(e) => panic!("a concurrent seeder failed instead of skipping: {e}"),
        }
    }
    assert_eq!(seeded, 1, "exactly one instance seeds");
    assert_eq!(stores[0].count_users().await.unwrap(), 3);
    let two = stores[0]
        .artist_by_slug("artist-two")
        .await
        .unwrap()
        .expect("seeded");
    let flash = stores[0].flash_for_artist(two.id, 10).await.unwrap();
    assert_eq!(
        flash.len(),
        1,
        "the seed's flash is written with its artist"
    );
    assert_eq!(flash[0].variants.len(), 2);
    assert!(
        stores[1]
            .seed_catalogue(small_catalogue())
            .await
            .unwrap()
            .is_none(),
        "a database with accounts is never seeded again"
    );
}

async fn pool_statistics_reflect_the_configured_limit(db: TestDb) {
    let store = db.store().await;
    let stats = store.pool_stats();
    assert_eq!(stats.max, 10);
    assert!(stats.size >= 1 && stats.size <= stats.max);
    assert!(stats.idle <= stats.size);
    store.close().await;
    assert!(store.ping().await.is_err(), "a closed pool refuses work");
}

async fn provider_identities_link_once_and_devices_end_one_by_one_or_all_at_once(db: TestDb) {
    let store = db.store().await;
    let email = Email::parse("oidc@example.com").unwrap();
    let user = store
        .create_identity_user(
            new_user("oidc@example.com", Role::Client),
            "google",
            "sub-1",
            100,
        )
        .await
        .unwrap();
    assert!(
        user.email_verified,
        "a provider's verified address needs no link"
    );
    assert_eq!(
        store.identity_owner("google", "sub-1").await.unwrap(),
        Some(user.id)
    );
    assert_eq!(store.identity_owner("google", "sub-2").await.unwrap(), None);
    assert_eq!(store.identity_owner("apple", "sub-1").await.unwrap(), None);
    // One subject, one account.
    let other = store
        .create_user(new_user("other@example.com", Role::Client))
        .await
        .unwrap();
    assert!(matches!(
        store
            .link_identity(other.id, "google", "sub-1", &email, 101)
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .link_identity(user.id, "apple", "apple-9", &email, 102)
        .await
        .unwrap();
    assert_eq!(
        store.identities(user.id).await.unwrap(),
        [
            ("apple".to_owned(), "oidc@example.com".to_owned()),
            ("google".to_owned(), "oidc@example.com".to_owned())
        ]
    );
    // An address that has an account cannot get a second one through a provider.
    assert!(matches!(
        store
            .create_identity_user(
                new_user("oidc@example.com", Role::Client),
                "gitlab",
                "x",
                103
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.identity_owner("gitlab", "x").await.unwrap(),
        None,
        "nothing half-made"
    );

    store
        .add_device("d1", user.id, "Firefox on Linux", 200)
        .await
        .unwrap();
    store
        .add_device("d2", user.id, "Safari on iOS", 210)
        .await
        .unwrap();
    assert!(store.device_seen("d1", user.id, 400).await.unwrap());
    assert!(
        !store.device_seen("d1", other.id, 400).await.unwrap(),
        "not another account's"
    );
    let devices = store.devices(user.id).await.unwrap();
    assert_eq!(devices[0].id, "d1", "most recently seen first");
    assert_eq!(devices[0].last_seen_at, 400);
    assert!(!store.remove_device(other.id, "d2").await.unwrap());
    assert!(store.remove_device(user.id, "d2").await.unwrap());
    assert!(!store.device_seen("d2", user.id, 500).await.unwrap());
    store.end_all_sessions(user.id).await.unwrap();
    assert!(store.devices(user.id).await.unwrap().is_empty());
}

storage::on_both_databases!(
    provider_identities_link_once_and_devices_end_one_by_one_or_all_at_once,
    migrations_leave_a_compatible_schema_and_rerun_as_a_no_op,
    a_user_round_trips_and_a_second_account_with_the_same_email_conflicts,
    credentials_are_found_by_email_only_for_existing_accounts,
    a_catalogue_import_writes_everything_and_lists_open_artists_first,
    a_failing_import_leaves_nothing_behind,
    concurrent_seeders_on_an_empty_database_seed_exactly_once,
    pool_statistics_reflect_the_configured_limit,
);

#[tokio::test]
async fn an_unknown_url_scheme_is_refused_with_a_clear_message() {
    let err = match storage::connect(
        &"mysql://root@localhost/tm".to_owned().into(),
        &Default::default(),
    )
    .await
    {
        Ok(_) => panic!("mysql URL was accepted"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(
        msg.contains("\"mysql\"") && msg.contains("sqlite://") && msg.contains("postgres://"),
        "{msg}"
    );
}
