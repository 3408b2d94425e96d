//! The Tattoo Marketplace web service: server-rendered pages, a JSON API, health and metrics.

pub mod assets;
pub mod auth;
pub mod canonical;
pub mod card_payments;
pub mod cli;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db_auth;
pub mod error;
pub mod jobs;
#[cfg(test)]
mod layering;
pub mod listing;
pub mod media;
pub mod metrics;
pub mod rate_limit;
pub mod routes;
pub mod search;
pub mod seed;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod templates;
