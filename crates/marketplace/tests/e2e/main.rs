//! End-to-end tests: the real server on a random port over SQLite and PostgreSQL.

mod abuse;
mod accounts;
mod audit;
mod bad_input;
mod binary;
mod bookings;
mod browser;
mod encryption;
mod erasure;
mod exports;
mod health;
mod helpers;
mod insights;
mod journey;
mod kpi;
mod legal;
mod oidc;
mod payments;
mod profile;
mod retention;
mod rights_browser;
mod security;
mod shutdown;
mod traces;
mod uploads;
