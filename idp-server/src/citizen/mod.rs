//! The citizen's own account life after enrolment (issue #16), as services
//! with no HTTP types, shared by `/compte`, the console and the CLI:
//! `password` (forgotten password by email code, change from `/compte`),
//! `block` (blocking the identity, fraud-report pause and resume),
//! `contact` (change of mobile number and of email address by a code to
//! the new one), `devices` (revoking a device from `/compte`), `rgpd` (the
//! data export and the deletion of the identity), `retention` (the periods
//! of `[retention]`, enforced by `idp-admin purge`), `history` (the
//! connection history), `self_block` (the citizen blocks their own
//! identity: password + email code), `expiry` (documents coming to their
//! expiry, the reminder sent once).
//! Failures share enrolment's `EnrolError` (store, ephemeral store, mailer),
//! refusals are each service's own, shown by `web::citizen`.

pub mod block;
pub mod contact;
pub mod devices;
pub mod expiry;
pub mod history;
pub mod password;
pub mod retention;
pub mod rgpd;
pub mod self_block;
