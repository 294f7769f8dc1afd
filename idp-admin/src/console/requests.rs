//! The clerks' list of pending face-to-face requests (`/guichet/demandes`),
//! filtered to the postman's home visits with `?domicile=1`; each links to
//! its counter page.

use actix_web::{HttpResponse, web};
use askama::Template;
use idp_server::verification::{self, FaceToFaceEntry};
use serde::Deserialize;

use super::Console;
use super::page::{Failure, Frame, ok};
use super::session::ClerkSession;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RequestsQuery {
    domicile: String,
}

/// The filter: `?domicile=1` keeps the home visits only.
fn home_visits_only(query: &RequestsQuery) -> bool {
    query.domicile == "1"
}

struct Row {
    reference: String,
    name: String,
    submitted: String,
    /// For a home visit, the number to call ("" otherwise).
    home_visit: Option<String>,
}

impl From<FaceToFaceEntry> for Row {
    fn from(e: FaceToFaceEntry) -> Self {
        let submitted = e
            .submitted_at
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.format("%d/%m/%Y").to_string())
            .unwrap_or_default();
        Row {
            reference: e.reference,
            name: format!("{} {}", e.family_name.to_uppercase(), e.given_name),
            submitted,
            home_visit: e.home_visit.then(|| e.phone.unwrap_or_default()),
        }
    }
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    frame: Frame,
    home_only: bool,
    rows: Vec<Row>,
}

pub async fn requests_get(
    console: web::Data<Console>,
    s: ClerkSession,
    query: web::Query<RequestsQuery>,
) -> Result<HttpResponse, Failure> {
    let home_only = home_visits_only(&query);
    let entries = verification::face_to_face_requests(&console.core, home_only).await?;
    ok(&RequestsPage {
        frame: s.frame("Demandes de vérification en attente"),
        home_only,
        rows: entries.into_iter().map(Row::from).collect(),
    })
}
