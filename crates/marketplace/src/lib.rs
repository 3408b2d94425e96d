//! The Tattoo Marketplace web service: server-rendered pages, a JSON API, health and metrics.

pub mod accounts;
pub mod assets;
pub mod auth;
pub mod booking;
pub mod canonical;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod jobs;
pub mod listing;
pub mod media;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod search;
pub mod seed;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod templates;
