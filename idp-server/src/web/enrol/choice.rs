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

pub async fn choice_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<ChoiceForm, AccountAt<AtSubmitted>>,
) -> Result<HttpResponse, PageError> {
    let (lang, account_id) = (bound.lang(), bound.account_id());
    let next = match VerificationMethod::parse(&form.method) {
        Some(VerificationMethod::FaceToFace) => {
            enrol::request_face_to_face(&provider, account_id)
                .await
                .or_page(lang)?;
            "/inscription/reference"
        }
        Some(VerificationMethod::Remote) => {
            enrol::request_remote(&provider, account_id)
                .await
                .or_page(lang)?;
            "/inscription/en-ligne"
        }
        None => "/inscription/verification",
    };
    Ok(see_other(next))
}

#[derive(Template)]
#[template(path = "reference.html")]
struct ReferencePage {
    en: bool,
    t: &'static Texts,
    reference: String,
    reference_spelled: String,
    qr: String,
    expires: String,
    document: String,
}

pub async fn reference_get(
    provider: web::Data<Provider>,
    at: AccountAt<AtFaceToFace>,
) -> Result<HttpResponse, PageError> {
    let (lang, t) = (at.lang(), i18n::texts(at.lang()));
    let request = at.overview.request.as_ref();
    let Some(reference) = request.and_then(|r| r.reference.clone()) else {
        return Ok(see_other("/compte"));
    };
    let expires = request
        .and_then(|r| chrono::DateTime::from_timestamp(r.expires_at, 0))
        .map(|t| t.format("%d/%m/%Y").to_string())
        .unwrap_or_default();
    // The document's name is a courtesy: a failed read leaves it out.
    let kind = enrol::document_kind(&provider, at.account_id())
        .await
        .ok()
        .flatten();
    let page = ReferencePage {
        t,
        en: lang == Lang::En,
        reference_spelled: spelled(&reference),
        qr: enrol::reference_qr(&reference),
        reference,
        expires,
        document: kind.map(|k| kind_label(t, k.as_str())).unwrap_or_default(),
    };
    Ok(html(StatusCode::OK, &page))
}
