//! Pure domain types and rules: no I/O. Values are parsed once at the edge
//! and are valid by construction everywhere after.

pub mod account;
pub mod acr;
pub mod agent;
pub mod client;
pub mod device;
pub mod document;
pub mod email;
pub mod history;
pub mod identity;
pub mod insee;
pub mod key_state;
pub mod paris;
pub mod password;
pub mod phone;
pub mod pin;
pub mod places;
pub mod scope;
