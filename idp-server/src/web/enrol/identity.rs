//! Steps 8 and 9: the declared identity and document, then their review.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::NoFields;
use super::extract::{AccountAt, AtIdentity};
use super::page::{Field, FieldKind, StepPage, kind_label, see_other};
use super::refusals::draft_field;
use crate::domain::identity::{Gender, IdentityProblem};
use crate::domain::insee::{self, Commune, CommuneQuery};
use crate::enrol::{self, CheckedDraft, Draft, DraftProblem, StepError};
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::csrf::CsrfForm;
use crate::web::error::{OrPage, PageError, UserFacing};
use crate::web::i18n::{self, Texts};

/// The identity form, as typed (checked by `Draft::check`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct IdentityForm {
    family_name: String,
    usage_name: String,
    given_names: String,
    gender: String,
    birthdate: String,
    birth_country: String,
    birth_commune: String,
    /// The commune picked when the typed name designates several.
    birth_commune_choice: String,
    document_number: String,
    issued_on: String,
    expires_on: String,
}

impl IdentityForm {
    /// What the birthplace designates: the commune picked among several,
    /// else the typed code or name (searched only for a birth in France).
    fn birthplace(&self) -> CommuneQuery {
        let choice = self.birth_commune_choice.trim();
        if insee::is_commune(choice) {
            return CommuneQuery::Code(choice.to_owned());
        }
        let country = self.birth_country.trim();
        if country.is_empty() || country == insee::FRANCE {
            insee::find_commune(&self.birth_commune)
        } else {
            CommuneQuery::Code(self.birth_commune.clone())
        }
    }

    /// Everything but the document kind, chosen on the step before; the
    /// birthplace as its code when the name designates one commune.
    fn fill(mut self, draft: &mut Draft, birthplace: &CommuneQuery) {
        if let CommuneQuery::Code(code) = birthplace {
            self.birth_commune.clone_from(code);
        }
        draft.family_name = self.family_name;
        draft.usage_name = self.usage_name;
        draft.given_names = self.given_names;
        draft.gender = self.gender;
        draft.birthdate = self.birthdate;
        draft.birth_country = self.birth_country;
        draft.birth_commune = self.birth_commune;
        draft.document_number = self.document_number;
        draft.issued_on = self.issued_on;
        draft.expires_on = self.expires_on;
    }
}

/// Countries, France first, then by name.
fn countries() -> Vec<(String, String)> {
    let mut countries: Vec<(String, String)> = insee::countries()
        .map(|(c, n)| (c.to_owned(), n.to_owned()))
        .collect();
    countries.sort_by(|a, b| {
        (a.0 != insee::FRANCE)
            .cmp(&(b.0 != insee::FRANCE))
            .then(a.1.cmp(&b.1))
    });
    countries
}

/// What was typed in the field `name` (of [`draft_field`]).
fn draft_value<'a>(draft: &'a Draft, name: &str) -> &'a str {
    match name {
        "family_name" => &draft.family_name,
        "usage_name" => &draft.usage_name,
        "given_names" => &draft.given_names,
        "gender" => &draft.gender,
        "birthdate" => &draft.birthdate,
        "birth_country" => &draft.birth_country,
        "birth_commune" => &draft.birth_commune,
        "document_number" => &draft.document_number,
        "issued_on" => &draft.issued_on,
        "expires_on" => &draft.expires_on,
        _ => "",
    }
}

/// The birthplace as the form shows it back: `Lyon (69123)` for a code.
fn birthplace_value(draft: &Draft) -> String {
    insee::shown(draft.birth_commune.trim()).unwrap_or_else(|| draft.birth_commune.clone())
}

/// The communes offered when a name designates several: (code, "Name (dep)").
fn commune_options(choices: &[Commune]) -> FieldKind {
    let label = |c: &Commune| format!("{} ({})", c.name, c.department());
    FieldKind::Radio(choices.iter().map(|c| (c.code.into(), label(c))).collect())
}

fn identity_page(
    lang: Lang,
    csrf: &str,
    draft: &Draft,
    problems: &[DraftProblem],
    choices: &[Commune],
) -> StepPage {
    let t = i18n::texts(lang);
    let e = t.enrol;
    let error_of = |name: &str| {
        if name == "birth_commune" && !choices.is_empty() {
            return Some(e.birth_commune_several.to_owned());
        }
        let problem = problems.iter().find(|p| draft_field(**p) == name)?;
        let missing = draft_value(draft, name).trim().is_empty()
            && !matches!(
                problem,
                DraftProblem::DocumentKind
                    | DraftProblem::Identity(IdentityProblem::BirthCommuneMissing)
            );
        Some(if missing {
            e.required.to_owned()
        } else {
            problem.message(t)
        })
    };
    let input = |name: &'static str, label: &str, input_type: &'static str, value: &str| {
        Field::input(name, label, input_type, value).error(error_of(name))
    };
    let gender = FieldKind::Radio(vec![
        ("female".into(), e.female.into()),
        ("male".into(), e.male.into()),
    ]);
    let mut page = StepPage::new(lang, e.identity_title, "/inscription/identite", csrf)
        .step(8)
        .intro(e.identity_intro)
        .field(
            input("family_name", e.family_name, "text", &draft.family_name)
                .autocomplete("family-name"),
        )
        .field(input(
            "usage_name",
            e.usage_name_optional,
            "text",
            &draft.usage_name,
        ))
        .field(
            input("given_names", e.given_names, "text", &draft.given_names)
                .hint(e.given_names_hint)
                .autocomplete("given-name"),
        )
        .field(input("gender", e.sex, "radio", &draft.gender).of(gender))
        .field(input("birthdate", e.birthdate, "date", &draft.birthdate).autocomplete("bday"))
        .field(
            input(
                "birth_country",
                e.birth_country,
                "select",
                &draft.birth_country,
            )
            .of(FieldKind::Select(countries())),
        )
        .field(
            input(
                "birth_commune",
                e.birth_commune_code,
                "text",
                &birthplace_value(draft),
            )
            .hint(e.birth_commune_hint)
            .suggest(COMMUNE_SUGGESTIONS),
        );
    if !choices.is_empty() {
        page = page.field(
            Field::input("birth_commune_choice", e.birth_commune_choose, "radio", "")
                .of(commune_options(choices)),
        );
    }
    page = page
        .field(input(
            "document_number",
            e.document_number,
            "text",
            &draft.document_number,
        ))
        .field(input("issued_on", e.issued_on, "date", &draft.issued_on))
        .field(input("expires_on", e.expires_on, "date", &draft.expires_on))
        .submit(e.review_information);
    if !problems.is_empty() || !choices.is_empty() {
        page.error = Some(e.needs_correcting.to_owned());
    }
    page
}

/// The identity page again, flagging `problems` (or offering the communes
/// the typed birthplace designates).
fn corrections(
    lang: Lang,
    csrf: &str,
    draft: &Draft,
    problems: &[DraftProblem],
    choices: &[Commune],
) -> PageError {
    let page = identity_page(lang, csrf, draft, problems, choices);
    PageError::page(lang, StatusCode::BAD_REQUEST, &page, None)
}

pub async fn identity_get(
    provider: web::Data<Provider>,
    at: AccountAt<AtIdentity>,
) -> Result<HttpResponse, PageError> {
    let draft = enrol::draft_or_submitted(&provider, at.account_id())
        .await
        .or_page(at.lang())?;
    if draft.document_kind.is_empty() {
        return Ok(see_other("/inscription/piece"));
    }
    identity_page(at.lang(), at.csrf(), &draft, &[], &[]).ok()
}

pub async fn identity_post(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<IdentityForm, AccountAt<AtIdentity>>,
) -> Result<HttpResponse, PageError> {
    let (lang, birthplace) = (bound.lang(), form.birthplace());
    let edited = enrol::edit_draft(&provider, bound.account_id(), |d| form.fill(d, &birthplace));
    let draft = edited.await.or_page(lang)?;
    if let CommuneQuery::Choices(choices) = &birthplace {
        return Err(corrections(lang, bound.csrf(), &draft, &[], choices));
    }
    draft
        .check(enrol::today())
        .map_err(|problems| corrections(lang, bound.csrf(), &draft, &problems, &[]))?;
    Ok(see_other("/inscription/recapitulatif"))
}

/// The review's lines: (label, value).
fn summary(t: &Texts, checked: &CheckedDraft) -> Vec<(String, String)> {
    let (e, id) = (t.enrol, &checked.identity);
    let birthplace = match &id.birth_commune {
        Some(code) => format!("{} ({code})", insee::commune_name(code).unwrap_or("")),
        None => "—".to_owned(),
    };
    let gender = match id.gender {
        Gender::Female => e.female,
        Gender::Male => e.male,
    };
    let valid = format!(
        "{} – {}",
        checked.issued_on.format("%d/%m/%Y"),
        checked.expires_on.format("%d/%m/%Y")
    );
    [
        (e.family_name, id.family_name.clone()),
        (
            e.usage_name,
            id.usage_name.clone().unwrap_or_else(|| "—".into()),
        ),
        (e.given_names, id.given_names.clone()),
        (e.sex, gender.to_owned()),
        (e.birthdate, id.birthdate.format("%d/%m/%Y").to_string()),
        (
            e.birth_country,
            insee::country_name(&id.birth_country)
                .unwrap_or("")
                .to_owned(),
        ),
        (e.birth_commune, birthplace),
        (e.document, kind_label(t, checked.kind.as_str())),
        (e.number, checked.number.as_str().to_owned()),
        (e.valid_from, valid),
    ]
    .into_iter()
    .map(|(label, value)| (label.to_owned(), value))
    .collect()
}

fn review_page(lang: Lang, csrf: &str, checked: &CheckedDraft) -> StepPage {
    let t = i18n::texts(lang);
    let mut page = StepPage::new(
        lang,
        t.enrol.review_title,
        "/inscription/recapitulatif",
        csrf,
    )
    .step(9)
    .intro(t.enrol.review_intro);
    page.summary = summary(t, checked);
    let change = t.enrol.change_information.to_owned();
    page.links.push(("/inscription/identite".into(), change));
    page.submit(t.enrol.i_confirm)
}

pub async fn review_get(
    provider: web::Data<Provider>,
    at: AccountAt<AtIdentity>,
) -> Result<HttpResponse, PageError> {
    let draft = enrol::load_draft(&provider, at.account_id()).await;
    let Ok(checked) = draft.or_page(at.lang())?.check(enrol::today()) else {
        return Ok(see_other("/inscription/identite"));
    };
    review_page(at.lang(), at.csrf(), &checked).ok()
}

pub async fn review_post(
    provider: web::Data<Provider>,
    CsrfForm { bound, .. }: CsrfForm<NoFields, AccountAt<AtIdentity>>,
) -> Result<HttpResponse, PageError> {
    let (lang, account_id) = (bound.lang(), bound.account_id());
    match enrol::submit_identity(&provider, account_id).await {
        Ok(()) => Ok(see_other("/inscription/verification")),
        Err(StepError::Refused(problems)) => {
            let draft = enrol::load_draft(&provider, account_id)
                .await
                .or_page(lang)?;
            Err(corrections(lang, bound.csrf(), &draft, &problems, &[]))
        }
        Err(StepError::Failed(e)) => Err(PageError::failure(lang, e)),
    }
}

/// Where the identity form's birthplace field asks for suggestions.
pub const COMMUNE_SUGGESTIONS: &str = "/inscription/communes";

#[derive(Deserialize)]
pub struct SuggestQuery {
    #[serde(default)]
    q: String,
}

/// Suggestions for the birthplace as it is typed (`static/suggest.js`): a
/// JSON list of [`suggestions`]. Public data, no session.
pub async fn communes_get(query: web::Query<SuggestQuery>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=86400",
        ))
        .json(suggestions(query.q.trim()))
}

/// Up to [`insee::MAX_CHOICES`] communes for what was typed, written the way
/// the form reads them back (`Lyon (69123)`); none for fewer than 2 or more
/// than 80 characters.
fn suggestions(typed: &str) -> Vec<String> {
    if !(2..=80).contains(&typed.chars().count()) {
        return Vec::new();
    }
    match insee::find_commune(typed) {
        CommuneQuery::Choices(found) => found.iter().filter_map(|c| insee::shown(c.code)).collect(),
        CommuneQuery::Code(code) => insee::shown(&code).into_iter().collect(),
        CommuneQuery::Empty | CommuneQuery::Unknown => Vec::new(),
    }
}
