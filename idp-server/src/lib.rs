//! Sésame identity provider.
//!
//! Dependency direction (see docs/ARCHITECTURE.md): `config` and `crypto` (pure)
//! ← `store` / `ephemeral` (I/O behind one type each) ← services (`keys`, `oidc`)
//! ← `web` handlers. `app` wires them together at start-up.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod agents;
pub mod app;
pub mod citizen;
pub mod config;
pub mod crypto;
pub mod device;
pub mod domain;
pub mod enrol;
pub mod ephemeral;
pub mod keys;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod outcome;
pub mod push;
pub mod ratelimit;
pub mod store;
pub mod support;
pub mod telemetry;
pub mod verification;
pub mod web;
