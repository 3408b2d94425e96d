//! Use cases: each thing a person can do is one function here, called by both the page handler
//! and the API handler, which only parse input and render output.

pub mod accounts;
pub mod audit;
pub mod booking;
pub mod calendar;
pub mod catalogue;
pub mod email_change;
pub mod erasure;
pub mod exports;
pub mod identity;
pub mod insights;
pub mod legal;
pub mod payments;
pub mod portfolio;
pub mod profile;
pub mod retention;
