//! How the identity is verified: face to face (with a reference) or online.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::extract::{AccountAt, AtFaceToFace, AtSubmitted};
use super::page::{StepPage, kind_label, see_other, spelled};
use crate::domain::account::VerificationMethod;
use crate::domain::phone::FrenchMobile;
use crate::domain::places::{self, Place, PostalQuery};
use crate::enrol;
use crate::oidc::Provider;
use crate::web::csrf::CsrfForm;
use crate::web::error::{OrPage, PageError};
use crate::web::i18n::{self, Texts};
use crate::web::pages::html;

#[derive(Deserialize)]
pub struct ChoiceForm {
    #[serde(default)]
    method: String,
}

pub async fn choice_get(at: AccountAt<AtSubmitted>) -> Result<HttpResponse, PageError> {
    let (lang, t) = (at.lang(), i18n::texts(at.lang()));
    let (e, at_home) = (t.enrol, t.face);
    let mut page = StepPage::new(lang, e.choice_title, "/inscription/verification", at.csrf())
        .step(10)
        .intro(e.choice_face_to_face_intro)
        .intro(at_home.choice_home_visit_intro)
        .intro(e.choice_remote_intro);
    page.buttons = [
        ("face_to_face", e.choice_face_to_face),
        ("home_visit", at_home.choice_home_visit),
        ("remote", e.choice_remote),
    ]
    .map(|(value, label)| ("method".into(), value.into(), label.into()))
    .into();
    page.ok()
}

/// Opens the chosen request; the page that follows. `home_visit` is a
/// face-to-face request at home.
async fn request(
    provider: &Provider,
    account_id: &str,
    method: &str,
) -> Result<&'static str, enrol::EnrolError> {
    let home_visit = method == "home_visit";
    let method = match home_visit {
        true => Some(VerificationMethod::FaceToFace),
        false => VerificationMethod::parse(method),
    };
    Ok(match method {
        Some(VerificationMethod::FaceToFace) => {
            enrol::request_face_to_face(provider, account_id, home_visit).await?;
            "/inscription/reference"
        }
        Some(VerificationMethod::Remote) => {
            enrol::request_remote(provider, account_id).await?;
            "/inscription/en-ligne"
        }
        None => "/inscription/verification",
    })
}

pub async fn choice_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<ChoiceForm, AccountAt<AtSubmitted>>,
) -> Result<HttpResponse, PageError> {
    let next = request(&provider, bound.account_id(), &form.method).await;
    Ok(see_other(next.or_page(bound.lang())?))
}

#[derive(Template)]
#[template(path = "reference.html")]
struct ReferencePage {
    t: &'static Texts,
    reference: String,
    reference_spelled: String,
    qr: String,
    valid_until: String,
    bring_document: String,
    /// "Also sent by SMS to 06 ** ** ** 40" (the number, masked).
    sms_sent: Option<String>,
    /// The postman's visit, with the number they call (masked).
    home_visit: Option<String>,
    places: PlacesView,
}

/// The places of the reference page and the search that chose them.
struct PlacesView {
    /// The postal code typed (`?cp=`), as typed.
    typed: String,
    /// The search's outcome line: found, none, or a malformed code.
    outcome: Option<String>,
    invalid: bool,
    shown: Vec<Place>,
    /// Whether the operator lists any place at all.
    configured: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PlacesQuery {
    cp: String,
}

impl PlacesView {
    fn new(t: &'static Texts, all: &[Place], typed: &str) -> Self {
        let query = PostalQuery::parse(typed);
        let searched = !typed.trim().is_empty();
        let shown: Vec<Place> = match (&query, searched) {
            (None, true) => Vec::new(),
            _ => places::search(all, query.as_ref())
                .into_iter()
                .cloned()
                .collect(),
        };
        let outcome = match &query {
            _ if !searched => None,
            None => Some(t.face.search_invalid.to_owned()),
            Some(q) if shown.is_empty() => Some((t.face.search_none)(q.as_str())),
            Some(q) => Some((t.face.search_found)(q.as_str())),
        };
        PlacesView {
            typed: typed.to_owned(),
            invalid: searched && query.is_none(),
            outcome,
            shown,
            configured: !all.is_empty(),
        }
    }
}

/// The reference page, for an open face-to-face request.
fn reference_page(
    at: &AccountAt<AtFaceToFace>,
    document: String,
    places: PlacesView,
) -> Option<ReferencePage> {
    let request = at.overview.request.as_ref()?;
    let reference = request.reference.clone()?;
    let expires = chrono::DateTime::from_timestamp(request.expires_at, 0)
        .map(|t| t.format("%d/%m/%Y").to_string())
        .unwrap_or_default();
    let t = i18n::texts(at.lang());
    let masked = at
        .overview
        .phone
        .as_deref()
        .and_then(|p| FrenchMobile::parse(p).ok())
        .map(|p| p.masked());
    Some(ReferencePage {
        t,
        reference_spelled: spelled(&reference),
        qr: enrol::reference_qr(&reference),
        reference,
        valid_until: (t.enrol.reference_valid_until)(&expires),
        bring_document: (t.enrol.reference_bring_document)(&document),
        sms_sent: masked.as_deref().map(t.face.sms_sent),
        home_visit: masked
            .filter(|_| request.home_visit)
            .map(|m| (t.face.home_visit_text)(&m)),
        places,
    })
}

pub async fn reference_get(
    provider: web::Data<Provider>,
    at: AccountAt<AtFaceToFace>,
    query: web::Query<PlacesQuery>,
) -> Result<HttpResponse, PageError> {
    let t = i18n::texts(at.lang());
    // The document's name is a courtesy: a failed read leaves it out.
    let kind = enrol::document_kind(&provider, at.account_id()).await;
    let kind = kind.ok().flatten();
    let document = kind.map(|k| kind_label(t, k.as_str())).unwrap_or_default();
    let places = PlacesView::new(t, &provider.core.config.verification.places, &query.cp);
    match reference_page(&at, document, places) {
        Some(page) => Ok(html(StatusCode::OK, &page)),
        None => Ok(see_other("/compte")),
    }
}
