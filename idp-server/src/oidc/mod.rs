//! OpenID Connect protocol logic (no HTTP types here).

pub mod discovery;
