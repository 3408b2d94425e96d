//! The drill's write load: demo clients sending booking requests and messages, each write recorded with its id and the time it was acknowledged.

use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

/// The demo client the writers sign in as (the marketplace's demo seed; development only).
pub const DEMO_CLIENT: &str = "sam.whitfield@clients.tattoo.example";
pub const DEMO_PASSWORD: &str = "ink-and-needles-demo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    BookingRequest,
    Message,
}

impl Kind {
    pub fn table(self) -> &'static str {
        match self {
            Kind::BookingRequest => "booking_requests",
            Kind::Message => "messages",
        }
    }
}

/// A write the service acknowledged (201): it had committed by `at`.
#[derive(Debug, Clone, Serialize)]
pub struct Write {
    pub kind: Kind,
    pub id: i64,
    /// Unix seconds when the acknowledgement arrived.
    pub at: f64,
}

/// What the writers did.
#[derive(Debug, Default)]
pub struct Load {
    pub writes: Mutex<Vec<Write>>,
    /// Answers other than 201 while the service was meant to be up.
    pub refused: AtomicU64,
    pub stop: AtomicBool,
}

impl Load {
    /// Starts `writers` clients against `base` (`http://127.0.0.1:PORT`); they write until
    /// [`Load::stop`] is set, pacing themselves so the load stays bounded.
    pub async fn start(
        base: &str,
        writers: usize,
        pace: Duration,
    ) -> Result<(Arc<Load>, Vec<tokio::task::JoinHandle<()>>), String> {
        let load = Arc::new(Load::default());
        let mut clients = Vec::new();
        for _ in 0..writers {
            clients.push(signed_in(base).await?);
        }
        let artists = open_artists(&clients[0], base).await?;
        let mut tasks = Vec::new();
        for (w, client) in clients.into_iter().enumerate() {
            let load = load.clone();
            let base = base.to_owned();
            let artists = artists.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = w;
                while !load.stop.load(Ordering::SeqCst) {
                    let artist = artists[n % artists.len()];
                    n += writers;
                    if let Some(id) = write(
                        &client,
                        &format!("{base}/api/v1/booking-requests"),
                        serde_json::json!({
                            "artist_id": artist, "idea": "Drill: a small swallow on the wrist",
                            "placement": "wrist", "size": "S", "budget": "150",
                            "preferred_dates": "any weekday", "date_of_birth": "1990-01-01"
                        }),
                        &load,
                        Kind::BookingRequest,
                    )
                    .await
                    {
                        write(
                            &client,
                            &format!("{base}/api/v1/booking-requests/{id}/messages"),
                            serde_json::json!({"body": "Drill: is a Saturday possible?"}),
                            &load,
                            Kind::Message,
                        )
                        .await;
                    }
                    tokio::time::sleep(pace).await;
                }
            }));
        }
        Ok((load, tasks))
    }

    pub async fn snapshot(&self) -> Vec<Write> {
        self.writes.lock().await.clone()
    }
}

async fn write(
    client: &reqwest::Client,
    url: &str,
    body: serde_json::Value,
    load: &Load,
    kind: Kind,
) -> Option<i64> {
    let answer = client
        .post(url)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let at = crate::state::now();
    let id = match answer {
        Ok(r) if r.status() == reqwest::StatusCode::CREATED => r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["id"].as_i64()),
        _ => None,
    };
    match id {
        // Acknowledged after the loss began means it went to a dying service: not a write
        // anyone was promised.
        Some(id) if !load.stop.load(Ordering::SeqCst) => {
            load.writes.lock().await.push(Write { kind, id, at });
            Some(id)
        }
        Some(_) => None,
        None => {
            if !load.stop.load(Ordering::SeqCst) {
                load.refused.fetch_add(1, Ordering::Relaxed);
            }
            None
        }
    }
}

async fn signed_in(base: &str) -> Result<reqwest::Client, String> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .map_err(|e| e.to_string())?;
    let r = client
        .post(format!("{base}/api/v1/auth/session"))
        .json(&serde_json::json!({"email": DEMO_CLIENT, "password": DEMO_PASSWORD}))
        .send()
        .await
        .map_err(|e| format!("signing in the drill's client: {e}"))?;
    if !r.status().is_success() {
        return Err(format!(
            "signing in the drill's client ({DEMO_CLIENT}) answered {}: the drill needs the demo data",
            r.status()
        ));
    }
    Ok(client)
}

async fn open_artists(client: &reqwest::Client, base: &str) -> Result<Vec<i64>, String> {
    let v: serde_json::Value = client
        .get(format!("{base}/api/v1/artists?open=on"))
        .send()
        .await
        .map_err(|e| format!("listing artists: {e}"))?
        .json()
        .await
        .map_err(|e| format!("listing artists: {e}"))?;
    let ids: Vec<i64> = v["artists"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["id"].as_i64()).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err("no demo artist takes bookings: the drill has nobody to write to".into());
    }
    Ok(ids)
}

/// One write after recovery, through the API: the restored service takes writes again.
pub async fn one_write(base: &str) -> Result<i64, String> {
    let client = signed_in(base).await?;
    let artist = open_artists(&client, base).await?[0];
    let r = client
        .post(format!("{base}/api/v1/booking-requests"))
        .json(&serde_json::json!({
            "artist_id": artist, "idea": "Drill: after recovery", "placement": "ankle",
            "size": "S", "budget": "100", "preferred_dates": "soon", "date_of_birth": "1990-01-01"
        }))
        .send()
        .await
        .map_err(|e| format!("a write after recovery: {e}"))?;
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    v["id"]
        .as_i64()
        .filter(|_| status == reqwest::StatusCode::CREATED)
        .ok_or_else(|| format!("a write after recovery answered {status}: {v}"))
}
