//! The one integration-test binary of the workspace (one link, many modules).
//! Tests that touch storage run on both backends via `both_backends!`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod ephemeral;
mod keys;
mod outage;
mod startup;
mod wellknown;
