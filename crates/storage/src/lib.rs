//! Persistence for the marketplace: one trait per concern (each in its own file with its SQL),
//! the `Store` that gathers them, and the backend chosen by URL scheme.

mod accounts;
mod audit;
mod booking;
mod catalogue;
mod conversation;
mod erasure;
mod error;
mod exports;
mod insights;
mod keys;
mod legal;
mod model;
mod ops;
mod outbox;
mod payments;
mod portfolio;
mod postgres;
mod retention;
mod rows;
mod scheduling;
mod search;
mod sessions;
mod sql;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use accounts::AccountStore;
pub use audit::{
    AuditEntry, AuditFilter, AuditStore, ChainBreak, GENESIS_HASH, NewAuditEntry, verify_run,
};
pub use booking::BookingStore;
pub use catalogue::CatalogueStore;
pub use conversation::ConversationStore;
pub use erasure::{EraseOutcome, ErasureRequest, ErasureStore, KeptConsent};
pub use error::{Result, StoreError};
pub use exports::{DataExport, ExportStore};
pub use insights::{DailyFigures, DayCount, DayDeposits, InsightsStore};
pub use keys::{DataKey, DataKeyStore};
pub use legal::{LegalStore, PrivacyChoice};
pub use model::*;
pub use ops::{
    Backend, ConnectPassword, PoolOptions, Store, connect, embedded_schema_version, redact_url,
};
pub use outbox::OutboxStore;
pub use payments::{EventOutcome, Payment, PaymentEventKind, PaymentStatus, PaymentStore};
pub use portfolio::PortfolioStore;
pub use retention::RetentionStore;
pub use scheduling::{MAX_PROPOSALS, Proposal, SchedulingStore};
pub use search::{Bind, SearchStatements, postgres_search_statements};
pub use sessions::SessionBackend;
