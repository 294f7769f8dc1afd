//! Pure domain types and rules: no I/O. Values are parsed once at the edge
//! and are valid by construction everywhere after.

pub mod acr;
pub mod client;
pub mod email;
pub mod insee;
pub mod scope;
