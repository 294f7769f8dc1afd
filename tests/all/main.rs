//! The one integration-test binary of the workspace (one link, many modules).
//! Tests that touch storage run on both backends via `both_backends!`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod admin;
mod citizen;
mod citizen_block;
mod citizen_contact;
mod citizen_history;
mod citizen_identity;
mod citizen_pages;
mod citizen_rgpd;
mod console;
mod console_desk;
mod device;
mod device_api_docs;
mod device_faults;
mod enrolment;
mod ephemeral;
mod face_to_face;
mod hardening;
mod keys;
mod metrics;
mod notify;
mod oidc_errors;
mod oidc_flow;
mod oidc_tokens;
mod outage;
mod pg_outage;
mod protocol_hardening;
mod push;
mod redis_failover;
mod replicas;
mod rp_python;
mod startup;
mod verification;
mod wellknown;
