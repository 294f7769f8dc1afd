//! Step 7: which identity document the person will show.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{AccountAt, AtIdentity};
use super::page::{Field, FieldKind, StepPage, kinds, refused, see_other};
use super::refusals::NoDocumentKind;
use crate::domain::document::DocumentKind;
use crate::enrol;
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::csrf::CsrfForm;
use crate::web::error::{OrPage, PageError};
use crate::web::i18n;

#[derive(Deserialize)]
pub struct KindForm {
    #[serde(default)]
    document_kind: String,
}

fn kind_page(lang: Lang, csrf: &str, value: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let field = Field::input("document_kind", t.enrol.kind_label, "radio", value)
        .of(FieldKind::Radio(kinds(t)))
        .error(error);
    StepPage::new(lang, t.enrol.kind_title, "/inscription/piece", csrf)
        .step(7)
        .field(field)
        .submit(t.continue_label)
}

pub async fn kind_get(
    provider: web::Data<Provider>,
    at: AccountAt<AtIdentity>,
) -> Result<HttpResponse, PageError> {
    let draft = enrol::load_draft(&provider, at.account_id()).await;
    kind_page(
        at.lang(),
        at.csrf(),
        &draft.or_page(at.lang())?.document_kind,
        None,
    )
    .ok()
}

pub async fn kind_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<KindForm, AccountAt<AtIdentity>>,
) -> Result<HttpResponse, PageError> {
    let lang = bound.lang();
    let kind = DocumentKind::parse(&form.document_kind).ok_or_else(|| {
        refused(lang, &NoDocumentKind, |e| {
            kind_page(lang, bound.csrf(), "", Some(e))
        })
    })?;
    enrol::edit_draft(&provider, bound.account_id(), |draft| {
        draft.document_kind = kind.as_str().to_owned();
    })
    .await
    .or_page(lang)?;
    Ok(see_other("/inscription/identite"))
}
