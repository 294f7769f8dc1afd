//! Command groups beyond the basics in `lib.rs`.

pub mod clients;
pub mod dev;
