//! Command groups beyond the basics in `lib.rs`.

pub mod accounts;
pub mod agents;
pub mod audit;
pub mod clients;
pub mod dev;
pub mod purge;
pub mod requests;
pub mod verify;
