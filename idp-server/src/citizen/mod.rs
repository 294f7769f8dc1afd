//! The citizen's own account life after enrolment (issue #16), as services
//! with no HTTP types, shared by `/compte`, the console and the CLI:
//! `password` (forgotten password by email code, change from `/compte`),
//! `block` (blocking the identity, fraud-report pause and resume),
//! `expiry` (documents coming to their expiry, the reminder sent once).
//! Failures share enrolment's `EnrolError` (store, ephemeral store, mailer),
//! refusals are each service's own, shown by `web::citizen`.

pub mod block;
pub mod expiry;
pub mod password;
