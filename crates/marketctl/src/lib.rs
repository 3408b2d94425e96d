//! marketctl: the Tattoo Marketplace operations tool: host proxy and agent, deploys, rollbacks, history.

pub mod backup;
pub mod cli;
pub mod config;
pub mod dr;
pub mod ecs;
pub mod engine;
pub mod notify;
pub mod platform;
pub mod proxy;
pub mod state;
pub mod wire;
