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
use super::decision::{
    Asked, DecisionForm, DocumentView, Entered, IdentityView, UNTICKED, refusal_text,
};
use super::page::{Failure, Frame, ok, see_other, with_status};
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
    document: DocumentView,
    reference: String,
    /// The clerk's office; an admin names one in the form.
    office: Option<String>,
    /// What was entered, when the form is shown again with an error.
    entered: Entered,
}

impl CounterPage {
    fn new(s: &ClerkSession, view: &CounterView, entered: Entered) -> Self {
        let reference = view.request.reference.clone().unwrap_or_default();
        CounterPage {
            frame: s.frame(format!("Référence {reference}")),
            csrf: s.csrf().to_owned(),
            identity: IdentityView::from(&view.identity),
            document: DocumentView::new(
                &view.document_kind,
                &view.document_number,
                &view.document_issued_on,
                &view.document_expires_on,
            ),
            reference,
            office: s.agent.office.clone(),
            entered,
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
        Ok(view) => ok(&CounterPage::new(&s, &view, Entered::default())),
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
    let (who, reference) = (&outcome.citizen, outcome.reference.as_deref().unwrap_or(""));
    if outcome.state.as_str() == "verified" {
        format!(
            "Identité vérifiée : {who}, référence {reference}. Le code d'activation de l'application est envoyé par SMS et par courriel."
        )
    } else {
        format!(
            "Demande refusée : {who}, référence {reference}. La personne en est informée par courriel et SMS, avec le motif choisi."
        )
    }
}

/// The request again with what the clerk entered and why it was not
/// recorded (400); the lookup page if the request cannot be shown.
async fn again(
    console: &Console,
    s: &ClerkSession,
    form: &DecisionForm,
    error: &str,
) -> Result<HttpResponse, Failure> {
    let reference = form.reference.as_str();
    match verification::counter_view(&console.core, &s.acting()?, reference)
        .await
        .split()?
    {
        Ok(view) => {
            let mut page = CounterPage::new(s, &view, Entered::from(form));
            page.frame = page.frame.error(error);
            with_status(StatusCode::BAD_REQUEST, &page)
        }
        Err(refusal) => refused(s, reference, refusal_text(&refusal)),
    }
}

pub async fn counter_post(
    console: web::Data<Console>,
    CsrfForm { form, bound: s }: CsrfForm<DecisionForm, ClerkSession>,
) -> Result<HttpResponse, Failure> {
    let decision = match form.asked() {
        Asked::Nothing => return Ok(see_other("/guichet")),
        Asked::Unticked => return again(&console, &s, &form, UNTICKED).await,
        Asked::Decision(d) => d,
    };
    let (acting, reference) = (s.acting()?, form.reference.as_str());
    let Some(place) = place_of(&s, &form) else {
        return again(&console, &s, &form, NO_OFFICE).await;
    };
    let decided =
        verification::decide_face_to_face(&console.core, &acting, reference, place, decision);
    match decided.await.split()? {
        Err(Refusal::ReasonRequired) => again(&console, &s, &form, UNSAID).await,
        result => decided_page(&s, reference, result),
    }
}

const UNSAID: &str = "Indiquez le motif du refus.";

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
