//! The citizen's account after enrolment (issue #16), without HTTP types:
//! `password` (forgotten password by email code, change from `/compte`).
//! Failures share enrolment's `EnrolError` (store, ephemeral store, mailer),
//! refusals are each service's own, shown by `web::citizen`.

pub mod password;
