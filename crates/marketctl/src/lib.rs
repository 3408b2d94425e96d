//! marketctl: the Tattoo Marketplace operations tool (host proxy and agent; deploy engine to come).

pub mod cli;
pub mod proxy;
