//! Face-to-face verification (`/guichet`): a clerk looks a reference up,
//! checks the document and the person, and records the decision through
//! `idp_server::verification`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use idp_server::domain::agent::parse_office;
use idp_server::outcome::Split;
use idp_server::verification::{self, CounterView, Outcome, Place, Refusal};
use idp_server::web::csrf::CsrfForm;
use serde::Deserialize;

use super::Console;
use super::decision::{Asked, DecisionForm, IdentityView, UNTICKED, french_date, refusal_text};
use super::page::{Failure, Frame, Message, ok, see_other, with_status};
use super::session::{AgentSession, ClerkSession};

const TITLE: &str = "Vérification au guichet";

#[derive(Template)]
#[template(path = "lookup.html")]
pub struct LookupPage {
    frame: Frame,
    reference: String,
}

/// The lookup form, `reference` typed in, the frame adjusted by `frame`.
pub fn lookup_page<S>(
    s: &AgentSession<S>,
    reference: &str,
    frame: impl FnOnce(Frame) -> Frame,
) -> LookupPage {
    LookupPage {
        frame: frame(s.frame(TITLE)),
        reference: reference.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "counter.html")]
struct CounterPage {
    frame: Frame,
    csrf: String,
    identity: IdentityView,
    document_kind: &'static str,
    document_number: String,
    issued_on: String,
    expires_on: String,
    reference: String,
    /// The clerk's office; an admin names one in the form.
    office: Option<String>,
}

impl CounterPage {
    fn new(s: &ClerkSession, view: &CounterView) -> Self {
        let reference = view.request.reference.clone().unwrap_or_default();
        CounterPage {
            frame: s.frame(format!("Référence {reference}")),
            csrf: s.csrf().to_owned(),
            identity: IdentityView::from(&view.identity),
            document_kind: match view.document_kind.as_str() {
                "identity_card" => "Carte nationale d'identité",
                "passport" => "Passeport",
                _ => "Titre de séjour",
            },
            document_number: view.document_number.clone(),
            issued_on: french_date(&view.document_issued_on),
            expires_on: french_date(&view.document_expires_on),
            reference,
            office: s.agent.office.clone(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LookupQuery {
    reference: String,
}

/// The lookup form again, `reference` kept, saying why not (400).
fn refused(s: &ClerkSession, reference: &str, error: &str) -> Result<HttpResponse, Failure> {
    let page = lookup_page(s, reference, |f| f.error(error));
    with_status(StatusCode::BAD_REQUEST, &page)
}

pub async fn counter_get(
    console: web::Data<Console>,
    s: ClerkSession,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, Failure> {
    let reference = query.reference.as_str();
    if reference.trim().is_empty() {
        return ok(&lookup_page(&s, "", |f| f));
    }
    match verification::counter_view(&console.core, &s.acting()?, reference)
        .await
        .split()?
    {
        Ok(view) => ok(&CounterPage::new(&s, &view)),
        Err(refusal) => refused(&s, reference, refusal_text(&refusal)),
    }
}

/// Where the decision is recorded: the clerk's office, or the one an admin typed.
fn place_of(s: &ClerkSession, form: &DecisionForm) -> Option<Place> {
    let office = s
        .agent
        .office
        .clone()
        .or_else(|| parse_office(&form.office))?;
    Some(match form.place.as_str() {
        "home" => Place::Home(office),
        _ => Place::Office(office),
    })
}

fn decided(outcome: &Outcome) -> String {
    if outcome.state.as_str() == "verified" {
        "Identité vérifiée. Le code d'activation de l'application est envoyé par SMS et par courriel."
    } else {
        "Demande refusée. La personne en est informée par courriel et SMS, avec le motif choisi."
    }
    .to_owned()
}

fn unticked(s: &ClerkSession, reference: &str) -> Result<HttpResponse, Failure> {
    let page = Message::linked(
        s.frame(TITLE).error(UNTICKED),
        format!("/guichet?reference={reference}"),
        "Revenir à la demande",
    );
    with_status(StatusCode::BAD_REQUEST, &page)
}

pub async fn counter_post(
    console: web::Data<Console>,
    CsrfForm { form, bound: s }: CsrfForm<DecisionForm, ClerkSession>,
) -> Result<HttpResponse, Failure> {
    let decision = match form.asked() {
        Asked::Nothing => return Ok(see_other("/guichet")),
        Asked::Unticked => return unticked(&s, &form.reference),
        Asked::Decision(d) => d,
    };
    let (acting, reference) = (s.acting()?, form.reference.as_str());
    let Some(place) = place_of(&s, &form) else {
        return refused(&s, reference, NO_OFFICE);
    };
    let decided =
        verification::decide_face_to_face(&console.core, &acting, reference, place, decision);
    decided_page(&s, reference, decided.await.split()?)
}

const NO_OFFICE: &str = "Indiquez le code du bureau (5 à 10 lettres ou chiffres).";

/// The lookup page saying what was recorded, or the request with the refusal.
fn decided_page(
    s: &ClerkSession,
    reference: &str,
    result: Result<Outcome, Refusal>,
) -> Result<HttpResponse, Failure> {
    match result {
        Ok(outcome) => ok(&lookup_page(s, "", |f| f.notice(Some(decided(&outcome))))),
        Err(refusal) => refused(s, reference, refusal_text(&refusal)),
    }
}
