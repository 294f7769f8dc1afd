//! How the identity is verified: face to face (with a reference) or online.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::extract::{AccountAt, AtFaceToFace, AtSubmitted};
use super::page::{StepPage, kind_label, see_other, spelled};
use crate::domain::account::VerificationMethod;
use crate::enrol;
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::views::Request;
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
    let (lang, e) = (at.lang(), i18n::texts(at.lang()).enrol);
    let mut page = StepPage::new(lang, e.choice_title, "/inscription/verification", at.csrf())
        .step(10)
        .intro(e.choice_face_to_face_intro)
        .intro(e.choice_remote_intro);
    page.buttons = vec![
        (
            "method".into(),
            "face_to_face".into(),
            e.choice_face_to_face.into(),
        ),
        ("method".into(), "remote".into(), e.choice_remote.into()),
    ];
    page.ok()
}

/// Opens the chosen request; the page that follows.
async fn request(
    provider: &Provider,
    account_id: &str,
    method: Option<VerificationMethod>,
) -> Result<&'static str, enrol::EnrolError> {
    Ok(match method {
        Some(VerificationMethod::FaceToFace) => {
            enrol::request_face_to_face(provider, account_id).await?;
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
    let method = VerificationMethod::parse(&form.method);
    let next = request(&provider, bound.account_id(), method).await;
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
}

/// The reference page, for an open face-to-face request.
fn reference_page(lang: Lang, request: &Request, document: String) -> Option<ReferencePage> {
    let reference = request.reference.clone()?;
    let expires = chrono::DateTime::from_timestamp(request.expires_at, 0)
        .map(|t| t.format("%d/%m/%Y").to_string())
        .unwrap_or_default();
    let t = i18n::texts(lang);
    Some(ReferencePage {
        t,
        reference_spelled: spelled(&reference),
        qr: enrol::reference_qr(&reference),
        reference,
        valid_until: (t.enrol.reference_valid_until)(&expires),
        bring_document: (t.enrol.reference_bring_document)(&document),
    })
}

pub async fn reference_get(
    provider: web::Data<Provider>,
    at: AccountAt<AtFaceToFace>,
) -> Result<HttpResponse, PageError> {
    let t = i18n::texts(at.lang());
    // The document's name is a courtesy: a failed read leaves it out.
    let kind = enrol::document_kind(&provider, at.account_id())
        .await
        .ok()
        .flatten();
    let document = kind.map(|k| kind_label(t, k.as_str())).unwrap_or_default();
    let request = at.overview.request.as_ref();
    match request.and_then(|r| reference_page(at.lang(), r, document)) {
        Some(page) => Ok(html(StatusCode::OK, &page)),
        None => Ok(see_other("/compte")),
    }
}
