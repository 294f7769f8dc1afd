//! The citizen's own account life after enrolment (issue #16), as services
//! with no HTTP types, shared by `/compte`, the console and the CLI.

pub mod block;
