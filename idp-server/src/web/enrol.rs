//! Enrolment pages (`/inscription/…`) and the account page (`/compte`).
//!
//! Before the account exists, progress hangs off the `sesame_enrol` cookie;
//! from the password step on, the person has an SSO session and every page
//! derives the step from the account's state, so back/forward or a reload
//! lands on the right page. Every form carries a CSRF token bound to the
//! cookie it acts on.

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;

use super::cookies;
use super::error::WebError;
use super::pages::{self, html};
use crate::domain::account::{AccountState, RequestStatus, VerificationMethod};
use crate::domain::document::DateProblem;
use crate::domain::identity::IdentityProblem;
use crate::domain::insee;
use crate::domain::password::PasswordProblem;
use crate::domain::phone::PhoneError;
use crate::enrol::otp::{CheckFailure, SendRefusal};
use crate::enrol::{
    self, AccountProblem, Draft, DraftProblem, EmailProblem, EnrolError, MediaKind, MediaProblem,
    PhoneProblem,
};
use crate::oidc::types::Lang;
use crate::oidc::{Provider, session};
use crate::store::enrolment::RequestRow;

type Params = HashMap<String, String>;

/// Cookie carrying enrolment progress before the account exists.
pub const ENROL_COOKIE: &str = "sesame_enrol";

// ------------------------------------------------------------------ rendering

pub enum FieldKind {
    Input(&'static str),
    Checkbox,
    Radio(Vec<(String, String)>),
    Select(Vec<(String, String)>),
}

pub struct Field {
    pub name: &'static str,
    pub label: String,
    pub kind: FieldKind,
    pub value: String,
    pub error: Option<String>,
    pub hint: Option<String>,
    pub autocomplete: &'static str,
    pub numeric: bool,
    pub accept: Option<&'static str>,
}

impl Field {
    fn input(name: &'static str, label: &str, input_type: &'static str, value: &str) -> Self {
        Field {
            name,
            label: label.to_owned(),
            kind: FieldKind::Input(input_type),
            value: value.to_owned(),
            error: None,
            hint: None,
            autocomplete: "",
            numeric: false,
            accept: None,
        }
    }
    /// Passwords and files are never sent back to the browser.
    pub fn keeps_value(&self) -> bool {
        !matches!(self.kind, FieldKind::Input("password" | "file"))
    }
    fn hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_owned());
        self
    }
    fn autocomplete(mut self, value: &'static str) -> Self {
        self.autocomplete = value;
        self
    }
    fn numeric(mut self) -> Self {
        self.numeric = true;
        self
    }
    fn error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }
}

#[derive(Template)]
#[template(path = "step.html")]
pub struct StepPage {
    pub t: &'static super::i18n::Texts,
    pub title: String,
    pub progress: Option<String>,
    pub intro: Vec<String>,
    pub error: Option<String>,
    pub summary: Vec<(String, String)>,
    pub action: String,
    pub csrf: String,
    pub multipart: bool,
    pub fields: Vec<Field>,
    /// (name, value, label) of submit buttons; the first is the main action.
    pub buttons: Vec<(String, String, String)>,
    /// Other POST actions on the page: (action, label).
    pub secondary: Vec<(String, String)>,
    pub links: Vec<(String, String)>,
}

impl StepPage {
    fn new(lang: Lang, title: &str, action: &str, csrf: &str) -> Self {
        StepPage {
            t: super::i18n::texts(lang),
            title: title.to_owned(),
            progress: None,
            intro: Vec::new(),
            error: None,
            summary: Vec::new(),
            action: action.to_owned(),
            csrf: csrf.to_owned(),
            multipart: false,
            fields: Vec::new(),
            buttons: Vec::new(),
            secondary: Vec::new(),
            links: Vec::new(),
        }
    }
    fn step(mut self, lang: Lang, n: u8) -> Self {
        self.progress = Some(tr(
            lang,
            &format!("Étape {n} sur 9"),
            &format!("Step {n} of 9"),
        ));
        self
    }
    fn intro(mut self, line: String) -> Self {
        self.intro.push(line);
        self
    }
    fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }
    fn submit(mut self, label: String) -> Self {
        self.buttons.push((String::new(), String::new(), label));
        self
    }
    fn render(self, status: StatusCode) -> HttpResponse {
        html(status, &self)
    }
}

fn tr(lang: Lang, fr: &str, en: &str) -> String {
    match lang {
        Lang::Fr => fr.to_owned(),
        Lang::En => en.to_owned(),
    }
}

fn lang(req: &HttpRequest) -> Lang {
    Lang::negotiate(
        None,
        req.headers()
            .get(actix_web::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

fn failure(lang: Lang, error: EnrolError) -> HttpResponse {
    pages::failure_page(lang, WebError::from(error))
}

fn csrf_for(provider: &Provider, cookie_value: &str) -> String {
    provider.lookup_hash(&format!("csrf:{cookie_value}"))
}

fn csrf_ok(provider: &Provider, cookie_value: &str, params: &Params) -> bool {
    let presented = params.get("csrf").map(String::as_str).unwrap_or("");
    crate::crypto::constant_time_eq(
        csrf_for(provider, cookie_value).as_bytes(),
        presented.as_bytes(),
    )
}

fn forged(lang: Lang) -> HttpResponse {
    pages::page_error(lang, &crate::oidc::authorize::PageError::Forged)
}

use super::client_ip;

fn refusal_text(lang: Lang, refusal: SendRefusal) -> (String, u64) {
    match refusal {
        SendRefusal::Cooldown { retry_after } => (
            tr(
                lang,
                &format!(
                    "Un code vient d'être envoyé. Vous pourrez en demander un autre dans {retry_after} secondes."
                ),
                &format!(
                    "A code was just sent. You can ask for another one in {retry_after} seconds."
                ),
            ),
            retry_after,
        ),
        SendRefusal::HourlyCap { retry_after } => (
            tr(
                lang,
                "Trop de codes envoyés en une heure. Réessayez plus tard.",
                "Too many codes sent within an hour. Try again later.",
            ),
            retry_after,
        ),
    }
}

fn check_failure_text(lang: Lang, failure: CheckFailure) -> String {
    match failure {
        CheckFailure::Wrong { remaining } => tr(
            lang,
            &format!("Code incorrect. Il vous reste {remaining} essai(s)."),
            &format!("Wrong code. {remaining} attempt(s) left."),
        ),
        CheckFailure::Expired => tr(
            lang,
            "Ce code a expiré ou n'est plus valable. Demandez un nouveau code.",
            "This code has expired or is no longer valid. Ask for a new code.",
        ),
        CheckFailure::TooManyAttempts => tr(
            lang,
            "Trop d'essais : ce code est annulé. Demandez un nouveau code.",
            "Too many attempts: this code is cancelled. Ask for a new code.",
        ),
    }
}

// ------------------------------------------------------------------ cookies and sessions

/// The enrolment cookie value, creating one when absent.
fn enrol_cookie(
    provider: &Provider,
    req: &HttpRequest,
) -> (String, Option<actix_web::cookie::Cookie<'static>>) {
    if let Some(value) = req.cookie(ENROL_COOKIE).map(|c| c.value().to_owned())
        && value.len() >= 32
    {
        return (value, None);
    }
    let value = crate::crypto::random_token().unwrap_or_default();
    let cookie = actix_web::cookie::Cookie::build(ENROL_COOKIE, value.clone())
        .path("/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Lax)
        .secure(provider.issuer().starts_with("https://"))
        .finish();
    (value, Some(cookie))
}

/// The logged-in account (and its session cookie value), if any.
async fn account(
    provider: &Provider,
    req: &HttpRequest,
) -> Result<Option<(String, String)>, EnrolError> {
    let Some(value) = cookies::session_value(req) else {
        return Ok(None);
    };
    Ok(session::load(provider, &value)
        .await?
        .map(|auth| (auth.account_id, value)))
}

/// Where a person in `state` continues.
fn step_for(state: AccountState, request: Option<&RequestRow>) -> &'static str {
    match state {
        AccountState::EmailVerified => "/inscription/mobile",
        AccountState::PhoneVerified => "/inscription/piece",
        AccountState::IdentitySubmitted | AccountState::Rejected => match request {
            Some(r) if r.status == RequestStatus::Collecting => "/inscription/en-ligne",
            _ if state == AccountState::Rejected => "/compte",
            _ => "/inscription/verification",
        },
        _ => "/compte",
    }
}

/// For pages that need the account in one of `states`: the account id and
/// session cookie, or the response sending the person where they belong.
async fn require(
    provider: &Provider,
    req: &HttpRequest,
    states: &[AccountState],
) -> Result<(String, String, AccountState), HttpResponse> {
    let lang = lang(req);
    let (account_id, cookie) = match account(provider, req).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(see_other("/compte/connexion")),
        Err(e) => return Err(failure(lang, e)),
    };
    let overview = match enrol::overview(provider, &account_id).await {
        Ok(Some(overview)) => overview,
        Ok(None) => return Err(see_other("/compte/connexion")),
        Err(e) => return Err(failure(lang, e)),
    };
    if !states.contains(&overview.state) {
        return Err(see_other(step_for(
            overview.state,
            overview.request.as_ref(),
        )));
    }
    Ok((account_id, cookie, overview.state))
}

// ------------------------------------------------------------------ home and eligibility

pub async fn home(req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    let mut page = StepPage::new(lang, "Sésame", "/inscription", "").intro(tr(
        lang,
        "Votre identité numérique pour vous connecter aux services publics et à leurs partenaires.",
        "Your digital identity to log in to public services and their partners.",
    ));
    page.links = vec![
        (
            "/inscription".into(),
            tr(
                lang,
                "Créer mon identité numérique",
                "Create my digital identity",
            ),
        ),
        ("/compte".into(), tr(lang, "Mon compte", "My account")),
    ];
    page.action = String::new();
    html(StatusCode::OK, &HomePage { page })
}

/// The home page: the step layout without a form.
#[derive(Template)]
#[template(
    source = r#"{% extends "base.html" %}{% block title %}Sésame{% endblock %}{% block content %}<h1>{{ page.title }}</h1>{% for line in page.intro %}<p>{{ line }}</p>{% endfor %}<ul>{% for (href, label) in page.links %}<li><a href="{{ href }}">{{ label }}</a></li>{% endfor %}</ul>{% endblock %}"#,
    ext = "html"
)]
pub struct HomePage {
    page: StepPage,
}

impl std::ops::Deref for HomePage {
    type Target = StepPage;
    fn deref(&self) -> &StepPage {
        &self.page
    }
}

fn eligibility_page(lang: Lang, csrf: &str, params: &Params, error: Option<String>) -> StepPage {
    let checked = |k: &str| {
        if params.get(k).map(String::as_str) == Some("yes") {
            "yes"
        } else {
            ""
        }
    };
    let mut page = StepPage::new(
        lang,
        &tr(
            lang,
            "Créer mon identité numérique",
            "Create my digital identity",
        ),
        "/inscription",
        csrf,
    )
    .step(lang, 1)
    .intro(tr(
        lang,
        "Vérifiez d'abord que vous pouvez créer une identité numérique :",
        "First check that you can create a digital identity:",
    ));
    page.error = error;
    for (name, fr, en) in [
        ("adult", "J'ai 18 ans ou plus.", "I am 18 or older."),
        (
            "smartphone",
            "J'ai un téléphone portable (smartphone) avec un numéro français.",
            "I have a smartphone with a French number.",
        ),
        (
            "document",
            "J'ai une carte d'identité française, un passeport français ou un titre de séjour valable au moins 5 ans, en cours de validité.",
            "I have a valid French identity card, French passport, or a residence permit valid for at least 5 years.",
        ),
    ] {
        let mut field = Field::input(name, &tr(lang, fr, en), "checkbox", checked(name));
        field.kind = FieldKind::Checkbox;
        page = page.field(field);
    }
    page.submit(tr(lang, "Commencer", "Start"))
}

pub async fn eligibility_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    let (cookie, new_cookie) = enrol_cookie(&provider, &req);
    let mut response = eligibility_page(lang, &csrf_for(&provider, &cookie), &Params::new(), None)
        .render(StatusCode::OK);
    if let Some(c) = new_cookie {
        let _ = response.add_cookie(&c);
    }
    response
}

pub async fn eligibility_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let Some(cookie) = req.cookie(ENROL_COOKIE).map(|c| c.value().to_owned()) else {
        return see_other("/inscription");
    };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let all = ["adult", "smartphone", "document"]
        .iter()
        .all(|k| form.get(*k).map(String::as_str) == Some("yes"));
    if !all {
        let error = tr(
            lang,
            "Vous devez remplir ces trois conditions pour créer une identité numérique. Sinon, rendez-vous dans un bureau de poste pour être accompagné.",
            "You must meet these three conditions to create a digital identity. Otherwise, visit a post office for help.",
        );
        return eligibility_page(lang, &csrf_for(&provider, &cookie), &form, Some(error))
            .render(StatusCode::BAD_REQUEST);
    }
    match enrol::start(&provider, &cookie, &client_ip(&req)).await {
        Ok(Ok(())) => see_other("/inscription/courriel"),
        Ok(Err(retry_after)) => {
            let error = tr(
                lang,
                "Trop d'inscriptions ont été commencées depuis votre connexion internet. Patientez quelques minutes, puis recommencez.",
                "Too many enrolments were started from your internet connection. Wait a few minutes, then start again.",
            );
            let page = eligibility_page(lang, &csrf_for(&provider, &cookie), &form, Some(error))
                .render(StatusCode::TOO_MANY_REQUESTS);
            super::oidc::with_retry_after(page, retry_after)
        }
        Err(e) => failure(lang, e),
    }
}

// ------------------------------------------------------------------ email

fn email_page(lang: Lang, csrf: &str, value: &str, error: Option<String>) -> StepPage {
    StepPage::new(
        lang,
        &tr(lang, "Votre adresse électronique", "Your email address"),
        "/inscription/courriel",
        csrf,
    )
    .step(lang, 2)
    .intro(tr(
        lang,
        "Nous allons vous envoyer un code de vérification.",
        "We will send you a verification code.",
    ))
    .field(
        Field::input(
            "email",
            &tr(lang, "Adresse électronique", "Email address"),
            "email",
            value,
        )
        .autocomplete("email")
        .error(error),
    )
    .submit(tr(lang, "Recevoir le code", "Send me the code"))
}

/// The enrolment cookie and its progress, or a redirect to the start.
async fn pending(
    provider: &Provider,
    req: &HttpRequest,
) -> Result<(String, enrol::Pending), HttpResponse> {
    let lang = lang(req);
    let Some(cookie) = req.cookie(ENROL_COOKIE).map(|c| c.value().to_owned()) else {
        return Err(see_other("/inscription"));
    };
    match enrol::load_pending(provider, &cookie).await {
        Ok(p) if p.eligible => Ok((cookie, p)),
        Ok(_) => Err(see_other("/inscription")),
        Err(e) => Err(failure(lang, e)),
    }
}

pub async fn email_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    match pending(&provider, &req).await {
        Ok((cookie, p)) => email_page(
            lang,
            &csrf_for(&provider, &cookie),
            p.email.as_deref().unwrap_or(""),
            None,
        )
        .render(StatusCode::OK),
        Err(r) => r,
    }
}

pub async fn email_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (cookie, _) = match pending(&provider, &req).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let raw = form.get("email").map(String::as_str).unwrap_or("");
    let csrf = csrf_for(&provider, &cookie);
    match enrol::start_email(&provider, &cookie, raw, &client_ip(&req)).await {
        Ok(Ok(_)) => see_other("/inscription/courriel/code"),
        Ok(Err(EmailProblem::Invalid)) => email_page(
            lang,
            &csrf,
            raw,
            Some(tr(
                lang,
                "Saisissez une adresse électronique valide, par exemple nom@exemple.fr.",
                "Enter a valid email address, for example name@example.fr.",
            )),
        )
        .render(StatusCode::BAD_REQUEST),
        Ok(Err(EmailProblem::Refused(refusal))) => {
            let (text, retry) = refusal_text(lang, refusal);
            let mut r =
                email_page(lang, &csrf, raw, Some(text)).render(StatusCode::TOO_MANY_REQUESTS);
            if let Ok(v) = retry.to_string().parse() {
                r.headers_mut().insert(RETRY_AFTER, v);
            }
            r
        }
        Err(e) => failure(lang, e),
    }
}

fn code_page(
    lang: Lang,
    csrf: &str,
    action: &str,
    resend: &str,
    sent_to: &str,
    n: u8,
    error: Option<String>,
) -> StepPage {
    let mut page = StepPage::new(
        lang,
        &tr(
            lang,
            "Saisissez le code reçu",
            "Enter the code you received",
        ),
        action,
        csrf,
    )
    .step(lang, n)
    .intro(tr(
        lang,
        &format!("Un code à 6 chiffres a été envoyé à {sent_to}."),
        &format!("A 6-digit code was sent to {sent_to}."),
    ))
    .field(
        Field::input(
            "code",
            &tr(lang, "Code à 6 chiffres", "6-digit code"),
            "text",
            "",
        )
        .autocomplete("one-time-code")
        .numeric()
        .error(error),
    )
    .submit(tr(lang, "Valider", "Confirm"));
    page.secondary.push((
        resend.to_owned(),
        tr(lang, "Renvoyer un code", "Send a new code"),
    ));
    page
}

/// "A new code was sent", shown after a resend redirected here.
fn resent_notice(lang: Lang, query: &Params, mut page: StepPage) -> StepPage {
    if query.contains_key("renvoye") {
        page.intro.push(tr(
            lang,
            "Un nouveau code vous a été envoyé.",
            "A new code was sent to you.",
        ));
    }
    page
}

pub async fn email_code_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    match pending(&provider, &req).await {
        Ok((_, p)) if p.email_verified => see_other("/inscription/mot-de-passe"),
        Ok((cookie, p)) => match p.email {
            Some(email) => resent_notice(
                lang,
                &query,
                code_page(
                    lang,
                    &csrf_for(&provider, &cookie),
                    "/inscription/courriel/code",
                    "/inscription/courriel/renvoyer",
                    &email,
                    3,
                    None,
                ),
            )
            .render(StatusCode::OK),
            None => see_other("/inscription/courriel"),
        },
        Err(r) => r,
    }
}

pub async fn email_code_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (cookie, p) = match pending(&provider, &req).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let code = form.get("code").map(String::as_str).unwrap_or("");
    match enrol::verify_email(&provider, &cookie, code).await {
        Ok(Ok(())) => see_other("/inscription/mot-de-passe"),
        Ok(Err(f)) => code_page(
            lang,
            &csrf_for(&provider, &cookie),
            "/inscription/courriel/code",
            "/inscription/courriel/renvoyer",
            p.email.as_deref().unwrap_or(""),
            3,
            Some(check_failure_text(lang, f)),
        )
        .render(StatusCode::BAD_REQUEST),
        Err(e) => failure(lang, e),
    }
}

pub async fn email_resend(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (cookie, p) = match pending(&provider, &req).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let csrf = csrf_for(&provider, &cookie);
    let email = p.email.clone().unwrap_or_default();
    let page = |error: Option<String>, status| {
        code_page(
            lang,
            &csrf,
            "/inscription/courriel/code",
            "/inscription/courriel/renvoyer",
            &email,
            3,
            error,
        )
        .render(status)
    };
    match enrol::resend_email(&provider, &cookie, &client_ip(&req)).await {
        Ok(Ok(())) => see_other("/inscription/courriel/code?renvoye=1"),
        Ok(Err(EmailProblem::Refused(refusal))) => {
            let (text, retry) = refusal_text(lang, refusal);
            let mut r = page(Some(text), StatusCode::TOO_MANY_REQUESTS);
            if let Ok(v) = retry.to_string().parse() {
                r.headers_mut().insert(RETRY_AFTER, v);
            }
            r
        }
        Ok(Err(_)) => see_other("/inscription/courriel"),
        Err(e) => failure(lang, e),
    }
}

// ------------------------------------------------------------------ password

fn password_page(lang: Lang, csrf: &str, error: Option<String>) -> StepPage {
    StepPage::new(
        lang,
        &tr(lang, "Choisissez un mot de passe", "Choose a password"),
        "/inscription/mot-de-passe",
        csrf,
    )
    .step(lang, 4)
    .field(
        Field::input(
            "password",
            &tr(lang, "Mot de passe", "Password"),
            "password",
            "",
        )
        .hint(&tr(
            lang,
            "Au moins 12 caractères, difficile à deviner.",
            "At least 12 characters, hard to guess.",
        ))
        .autocomplete("new-password")
        .error(error),
    )
    .field(
        Field::input(
            "confirmation",
            &tr(lang, "Confirmez le mot de passe", "Confirm the password"),
            "password",
            "",
        )
        .autocomplete("new-password"),
    )
    .submit(tr(lang, "Créer mon compte", "Create my account"))
}

pub async fn password_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    if let Ok(Some(_)) = account(&provider, &req).await {
        return see_other("/inscription/mobile");
    }
    match pending(&provider, &req).await {
        Ok((cookie, p)) if p.email_verified => {
            password_page(lang, &csrf_for(&provider, &cookie), None).render(StatusCode::OK)
        }
        Ok(_) => see_other("/inscription/courriel"),
        Err(r) => r,
    }
}

pub async fn password_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (cookie, _) = match pending(&provider, &req).await {
        Ok(found) => found,
        // A double submission after the account was created: carry on.
        Err(r) => {
            return if matches!(account(&provider, &req).await, Ok(Some(_))) {
                see_other("/inscription/mobile")
            } else {
                r
            };
        }
    };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let password = form.get("password").map(String::as_str).unwrap_or("");
    let confirmation = form.get("confirmation").map(String::as_str).unwrap_or("");
    let csrf = csrf_for(&provider, &cookie);
    let problem = |text: &str, en: &str| {
        password_page(lang, &csrf, Some(tr(lang, text, en))).render(StatusCode::BAD_REQUEST)
    };
    match enrol::create_account(&provider, &cookie, password, confirmation).await {
        Ok(Ok(auth)) => match session::create(&provider, &auth).await {
            Ok(value) => {
                let mut response = see_other("/inscription/mobile");
                let _ = response.add_cookie(&cookies::session(&provider, value));
                response
            }
            Err(e) => failure(lang, e.into()),
        },
        Ok(Err(AccountProblem::EmailNotVerified)) => see_other("/inscription/courriel"),
        Ok(Err(AccountProblem::Mismatch)) => problem(
            "Les deux mots de passe ne sont pas identiques.",
            "The two passwords differ.",
        ),
        Ok(Err(AccountProblem::Password(PasswordProblem::TooShort))) => problem(
            "Le mot de passe doit contenir au moins 12 caractères.",
            "The password must have at least 12 characters.",
        ),
        Ok(Err(AccountProblem::Password(PasswordProblem::TooLong))) => problem(
            "Le mot de passe ne peut pas dépasser 128 caractères.",
            "The password cannot exceed 128 characters.",
        ),
        Ok(Err(AccountProblem::Password(PasswordProblem::TooSimple))) => problem(
            "Ce mot de passe est trop facile à deviner. Mélangez des mots, des chiffres et des symboles.",
            "This password is too easy to guess. Mix words, digits and symbols.",
        ),
        Ok(Err(AccountProblem::Password(PasswordProblem::ContainsEmail))) => problem(
            "Le mot de passe ne doit pas contenir votre adresse électronique.",
            "The password must not contain your email address.",
        ),
        Ok(Err(AccountProblem::InUse)) => see_other("/inscription/courriel"),
        Err(e) => failure(lang, e),
    }
}

// ------------------------------------------------------------------ mobile

fn mobile_page(lang: Lang, csrf: &str, value: &str, error: Option<String>) -> StepPage {
    StepPage::new(
        lang,
        &tr(lang, "Votre téléphone portable", "Your mobile phone"),
        "/inscription/mobile",
        csrf,
    )
    .step(lang, 5)
    .intro(tr(
        lang,
        "Nous allons vous envoyer un code par SMS.",
        "We will text you a code.",
    ))
    .field(
        Field::input(
            "mobile",
            &tr(lang, "Numéro de téléphone portable", "Mobile number"),
            "tel",
            value,
        )
        .hint(&tr(
            lang,
            "Par exemple 06 12 34 56 78",
            "For example 06 12 34 56 78",
        ))
        .autocomplete("tel")
        .error(error),
    )
    .submit(tr(lang, "Recevoir le code", "Send me the code"))
}

pub async fn mobile_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    match require(&provider, &req, &[AccountState::EmailVerified]).await {
        Ok((_, cookie, _)) => {
            mobile_page(lang, &csrf_for(&provider, &cookie), "", None).render(StatusCode::OK)
        }
        Err(r) => r,
    }
}

pub async fn mobile_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) =
        match require(&provider, &req, &[AccountState::EmailVerified]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let raw = form.get("mobile").map(String::as_str).unwrap_or("");
    let csrf = csrf_for(&provider, &cookie);
    let problem = |fr: &str, en: &str, status| {
        mobile_page(lang, &csrf, raw, Some(tr(lang, fr, en))).render(status)
    };
    match enrol::start_phone(&provider, &account_id, raw, &client_ip(&req)).await {
        Ok(Ok(_)) => see_other("/inscription/mobile/code"),
        Ok(Err(PhoneProblem::Invalid(PhoneError::NotMobile))) => problem(
            "Ce numéro n'est pas un numéro de téléphone portable.",
            "This is not a mobile phone number.",
            StatusCode::BAD_REQUEST,
        ),
        Ok(Err(PhoneProblem::Invalid(PhoneError::NotFrench))) => problem(
            "Saisissez un numéro de portable français (métropole ou outre-mer).",
            "Enter a French mobile number (mainland or overseas).",
            StatusCode::BAD_REQUEST,
        ),
        Ok(Err(PhoneProblem::Invalid(PhoneError::Unparseable))) => problem(
            "Saisissez un numéro valide, par exemple 06 12 34 56 78.",
            "Enter a valid number, for example 06 12 34 56 78.",
            StatusCode::BAD_REQUEST,
        ),
        Ok(Err(PhoneProblem::Refused(refusal))) => {
            let (text, retry) = refusal_text(lang, refusal);
            let mut r =
                mobile_page(lang, &csrf, raw, Some(text)).render(StatusCode::TOO_MANY_REQUESTS);
            if let Ok(v) = retry.to_string().parse() {
                r.headers_mut().insert(RETRY_AFTER, v);
            }
            r
        }
        Err(e) => failure(lang, e),
    }
}

async fn masked_pending_phone(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<String>, EnrolError> {
    Ok(enrol::pending_phone(provider, account_id)
        .await?
        .and_then(|p| crate::domain::phone::FrenchMobile::parse(&p).ok())
        .map(|p| p.masked()))
}

pub async fn mobile_code_get(
    provider: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) =
        match require(&provider, &req, &[AccountState::EmailVerified]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    match masked_pending_phone(&provider, &account_id).await {
        Ok(Some(masked)) => resent_notice(
            lang,
            &query,
            code_page(
                lang,
                &csrf_for(&provider, &cookie),
                "/inscription/mobile/code",
                "/inscription/mobile/renvoyer",
                &masked,
                6,
                None,
            ),
        )
        .render(StatusCode::OK),
        Ok(None) => see_other("/inscription/mobile"),
        Err(e) => failure(lang, e),
    }
}

/// "Renvoyer un code" on the SMS-code page: a new code to the same number.
pub async fn mobile_resend(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) =
        match require(&provider, &req, &[AccountState::EmailVerified]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let number = match enrol::pending_phone(&provider, &account_id).await {
        Ok(Some(number)) => number,
        Ok(None) => return see_other("/inscription/mobile"),
        Err(e) => return failure(lang, e),
    };
    match enrol::start_phone(&provider, &account_id, &number, &client_ip(&req)).await {
        Ok(Ok(_)) => see_other("/inscription/mobile/code?renvoye=1"),
        Ok(Err(PhoneProblem::Refused(refusal))) => {
            let (text, retry) = refusal_text(lang, refusal);
            let masked = masked_pending_phone(&provider, &account_id)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            let mut r = code_page(
                lang,
                &csrf_for(&provider, &cookie),
                "/inscription/mobile/code",
                "/inscription/mobile/renvoyer",
                &masked,
                6,
                Some(text),
            )
            .render(StatusCode::TOO_MANY_REQUESTS);
            if let Ok(v) = retry.to_string().parse() {
                r.headers_mut().insert(RETRY_AFTER, v);
            }
            r
        }
        Ok(Err(_)) => see_other("/inscription/mobile"),
        Err(e) => failure(lang, e),
    }
}

pub async fn mobile_code_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) =
        match require(&provider, &req, &[AccountState::EmailVerified]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let code = form.get("code").map(String::as_str).unwrap_or("");
    match enrol::verify_phone(&provider, &account_id, code).await {
        Ok(Ok(())) => see_other("/inscription/piece"),
        Ok(Err(f)) => {
            let masked = masked_pending_phone(&provider, &account_id)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            code_page(
                lang,
                &csrf_for(&provider, &cookie),
                "/inscription/mobile/code",
                "/inscription/mobile/renvoyer",
                &masked,
                6,
                Some(check_failure_text(lang, f)),
            )
            .render(StatusCode::BAD_REQUEST)
        }
        Err(e) => failure(lang, e),
    }
}

// ------------------------------------------------------------------ document and identity

fn kinds(lang: Lang) -> Vec<(String, String)> {
    vec![
        (
            "identity_card".into(),
            tr(
                lang,
                "Carte nationale d'identité française",
                "French national identity card",
            ),
        ),
        (
            "passport".into(),
            tr(lang, "Passeport français", "French passport"),
        ),
        (
            "residence_permit".into(),
            tr(
                lang,
                "Titre de séjour (valable au moins 5 ans)",
                "Residence permit (valid for at least 5 years)",
            ),
        ),
    ]
}

fn kind_page(lang: Lang, csrf: &str, value: &str, error: Option<String>) -> StepPage {
    let mut field = Field::input(
        "document_kind",
        &tr(
            lang,
            "Pièce d'identité que vous présenterez",
            "Identity document you will show",
        ),
        "radio",
        value,
    );
    field.kind = FieldKind::Radio(kinds(lang));
    StepPage::new(
        lang,
        &tr(lang, "Votre pièce d'identité", "Your identity document"),
        "/inscription/piece",
        csrf,
    )
    .step(lang, 7)
    .field(field.error(error))
    .submit(tr(lang, "Continuer", "Continue"))
}

const IDENTITY_STATES: [AccountState; 2] = [AccountState::PhoneVerified, AccountState::Rejected];

pub async fn kind_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) = match require(&provider, &req, &IDENTITY_STATES).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match enrol::load_draft(&provider, &account_id).await {
        Ok(draft) => kind_page(
            lang,
            &csrf_for(&provider, &cookie),
            &draft.document_kind,
            None,
        )
        .render(StatusCode::OK),
        Err(e) => failure(lang, e),
    }
}

pub async fn kind_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) = match require(&provider, &req, &IDENTITY_STATES).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let kind = form.get("document_kind").cloned().unwrap_or_default();
    if crate::domain::document::DocumentKind::parse(&kind).is_none() {
        return kind_page(
            lang,
            &csrf_for(&provider, &cookie),
            "",
            Some(tr(
                lang,
                "Choisissez votre pièce d'identité.",
                "Choose your identity document.",
            )),
        )
        .render(StatusCode::BAD_REQUEST);
    }
    let result = async {
        let mut draft = enrol::load_draft(&provider, &account_id).await?;
        draft.document_kind = kind;
        enrol::save_draft(&provider, &account_id, &draft).await
    }
    .await;
    match result {
        Ok(()) => see_other("/inscription/identite"),
        Err(e) => failure(lang, e),
    }
}

fn problem_text(lang: Lang, problem: DraftProblem) -> (&'static str, String) {
    use IdentityProblem as I;
    let t = |fr: &str, en: &str| tr(lang, fr, en);
    match problem {
        DraftProblem::Identity(I::FamilyName) => (
            "family_name",
            t(
                "Saisissez votre nom de naissance (lettres, espaces, tirets, apostrophes).",
                "Enter your birth name (letters, spaces, hyphens, apostrophes).",
            ),
        ),
        DraftProblem::Identity(I::UsageName) => (
            "usage_name",
            t(
                "Le nom d'usage ne peut contenir que des lettres, espaces, tirets et apostrophes.",
                "The usage name may only contain letters, spaces, hyphens and apostrophes.",
            ),
        ),
        DraftProblem::Identity(I::GivenNames) => (
            "given_names",
            t(
                "Saisissez tous vos prénoms, dans l'ordre de votre pièce d'identité.",
                "Enter all your given names, in the order of your document.",
            ),
        ),
        DraftProblem::Identity(I::Gender) => (
            "gender",
            t(
                "Indiquez votre sexe tel qu'il figure sur la pièce.",
                "State your sex as it appears on the document.",
            ),
        ),
        DraftProblem::Identity(I::Birthdate) => (
            "birthdate",
            t(
                "Saisissez une date de naissance valide.",
                "Enter a valid date of birth.",
            ),
        ),
        DraftProblem::Identity(I::Underage) => (
            "birthdate",
            t(
                "Il faut avoir 18 ans ou plus pour créer une identité numérique.",
                "You must be 18 or older to create a digital identity.",
            ),
        ),
        DraftProblem::Identity(I::BirthCountry) => (
            "birth_country",
            t(
                "Choisissez votre pays de naissance dans la liste.",
                "Choose your country of birth from the list.",
            ),
        ),
        DraftProblem::Identity(I::BirthCommuneMissing) => (
            "birth_commune",
            t(
                "Né(e) en France : saisissez le code INSEE de votre commune de naissance.",
                "Born in France: enter the INSEE code of your birth commune.",
            ),
        ),
        DraftProblem::Identity(I::BirthCommuneUnknown) => (
            "birth_commune",
            t(
                "Ce code de commune INSEE n'existe pas (exemple : 75056 pour Paris).",
                "This INSEE commune code does not exist (example: 75056 for Paris).",
            ),
        ),
        DraftProblem::Identity(I::BirthCommuneAbroad) => (
            "birth_commune",
            t(
                "Né(e) à l'étranger : laissez la commune de naissance vide.",
                "Born abroad: leave the birth commune empty.",
            ),
        ),
        DraftProblem::DocumentKind => (
            "document_number",
            t(
                "Choisissez d'abord votre pièce d'identité.",
                "First choose your identity document.",
            ),
        ),
        DraftProblem::DocumentNumber => (
            "document_number",
            t(
                "Ce numéro ne correspond pas au format de la pièce choisie.",
                "This number does not match the format of the chosen document.",
            ),
        ),
        DraftProblem::IssuedOn => (
            "issued_on",
            t(
                "Saisissez la date de délivrance.",
                "Enter the date of issue.",
            ),
        ),
        DraftProblem::ExpiresOn => (
            "expires_on",
            t("Saisissez la date d'expiration.", "Enter the expiry date."),
        ),
        DraftProblem::Dates(DateProblem::IssuedInFuture) => (
            "issued_on",
            t(
                "La date de délivrance ne peut pas être dans le futur.",
                "The date of issue cannot be in the future.",
            ),
        ),
        DraftProblem::Dates(DateProblem::ExpiresBeforeIssue) => (
            "expires_on",
            t(
                "La date d'expiration doit suivre la date de délivrance.",
                "The expiry date must come after the date of issue.",
            ),
        ),
        DraftProblem::Dates(DateProblem::Expired) => (
            "expires_on",
            t(
                "Cette pièce est expirée : elle ne peut pas être utilisée.",
                "This document has expired: it cannot be used.",
            ),
        ),
        DraftProblem::Dates(DateProblem::PermitTooShort) => (
            "expires_on",
            t(
                "Le titre de séjour doit être valable au moins 5 ans.",
                "The residence permit must be valid for at least 5 years.",
            ),
        ),
        DraftProblem::DocumentInUse => (
            "document_number",
            t(
                "Cette pièce d'identité ne peut pas être utilisée pour une nouvelle identité numérique.",
                "This identity document cannot be used for a new digital identity.",
            ),
        ),
    }
}

fn identity_page(lang: Lang, csrf: &str, draft: &Draft, problems: &[DraftProblem]) -> StepPage {
    let errors: Vec<(&'static str, String)> =
        problems.iter().map(|p| problem_text(lang, *p)).collect();
    let error_of = |name: &str| {
        errors
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.clone())
    };
    let mut gender = Field::input("gender", &tr(lang, "Sexe", "Sex"), "radio", &draft.gender);
    gender.kind = FieldKind::Radio(vec![
        ("female".into(), tr(lang, "Féminin", "Female")),
        ("male".into(), tr(lang, "Masculin", "Male")),
    ]);
    let mut countries: Vec<(String, String)> = insee::countries()
        .map(|(c, n)| (c.to_owned(), n.to_owned()))
        .collect();
    countries.sort_by(|a, b| {
        (a.0 != insee::FRANCE)
            .cmp(&(b.0 != insee::FRANCE))
            .then(a.1.cmp(&b.1))
    });
    let mut country = Field::input(
        "birth_country",
        &tr(lang, "Pays de naissance", "Country of birth"),
        "select",
        &draft.birth_country,
    );
    country.kind = FieldKind::Select(countries);
    let mut page = StepPage::new(
        lang,
        &tr(lang, "Votre identité", "Your identity"),
        "/inscription/identite",
        csrf,
    )
    .step(lang, 8)
    .intro(tr(
        lang,
        "Saisissez les informations exactement comme sur votre pièce d'identité.",
        "Enter the information exactly as on your identity document.",
    ))
    .field(
        Field::input(
            "family_name",
            &tr(lang, "Nom de naissance", "Birth name"),
            "text",
            &draft.family_name,
        )
        .autocomplete("family-name")
        .error(error_of("family_name")),
    )
    .field(
        Field::input(
            "usage_name",
            &tr(lang, "Nom d'usage (facultatif)", "Usage name (optional)"),
            "text",
            &draft.usage_name,
        )
        .error(error_of("usage_name")),
    )
    .field(
        Field::input(
            "given_names",
            &tr(lang, "Prénoms", "Given names"),
            "text",
            &draft.given_names,
        )
        .hint(&tr(
            lang,
            "Tous vos prénoms, séparés par des espaces.",
            "All your given names, separated by spaces.",
        ))
        .autocomplete("given-name")
        .error(error_of("given_names")),
    )
    .field(gender.error(error_of("gender")))
    .field(
        Field::input(
            "birthdate",
            &tr(lang, "Date de naissance", "Date of birth"),
            "date",
            &draft.birthdate,
        )
        .autocomplete("bday")
        .error(error_of("birthdate")),
    )
    .field(country.error(error_of("birth_country")))
    .field(
        Field::input(
            "birth_commune",
            &tr(
                lang,
                "Commune de naissance (code INSEE, si né(e) en France)",
                "Birth commune (INSEE code, if born in France)",
            ),
            "text",
            &draft.birth_commune,
        )
        .hint(&tr(
            lang,
            "Par exemple 75056 pour Paris, 69123 pour Lyon.",
            "For example 75056 for Paris, 69123 for Lyon.",
        ))
        .error(error_of("birth_commune")),
    )
    .field(
        Field::input(
            "document_number",
            &tr(lang, "Numéro de la pièce", "Document number"),
            "text",
            &draft.document_number,
        )
        .error(error_of("document_number")),
    )
    .field(
        Field::input(
            "issued_on",
            &tr(lang, "Date de délivrance", "Date of issue"),
            "date",
            &draft.issued_on,
        )
        .error(error_of("issued_on")),
    )
    .field(
        Field::input(
            "expires_on",
            &tr(lang, "Date d'expiration", "Expiry date"),
            "date",
            &draft.expires_on,
        )
        .error(error_of("expires_on")),
    )
    .submit(tr(
        lang,
        "Vérifier mes informations",
        "Review my information",
    ));
    if !problems.is_empty() {
        page.error = Some(tr(
            lang,
            "Certaines informations sont à corriger.",
            "Some information needs correcting.",
        ));
    }
    page
}

pub async fn identity_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) = match require(&provider, &req, &IDENTITY_STATES).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match enrol::load_draft(&provider, &account_id).await {
        Ok(draft) if draft.document_kind.is_empty() => see_other("/inscription/piece"),
        Ok(draft) => {
            identity_page(lang, &csrf_for(&provider, &cookie), &draft, &[]).render(StatusCode::OK)
        }
        Err(e) => failure(lang, e),
    }
}

pub async fn identity_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) = match require(&provider, &req, &IDENTITY_STATES).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let result = async {
        let mut draft = enrol::load_draft(&provider, &account_id).await?;
        let get = |k: &str| form.get(k).cloned().unwrap_or_default();
        draft.family_name = get("family_name");
        draft.usage_name = get("usage_name");
        draft.given_names = get("given_names");
        draft.gender = get("gender");
        draft.birthdate = get("birthdate");
        draft.birth_country = get("birth_country");
        draft.birth_commune = get("birth_commune");
        draft.document_number = get("document_number");
        draft.issued_on = get("issued_on");
        draft.expires_on = get("expires_on");
        enrol::save_draft(&provider, &account_id, &draft).await?;
        Ok::<_, EnrolError>(draft)
    }
    .await;
    match result {
        Ok(draft) => match draft.check(enrol::today()) {
            Ok(_) => see_other("/inscription/recapitulatif"),
            Err(problems) => identity_page(lang, &csrf_for(&provider, &cookie), &draft, &problems)
                .render(StatusCode::BAD_REQUEST),
        },
        Err(e) => failure(lang, e),
    }
}

pub async fn review_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) = match require(&provider, &req, &IDENTITY_STATES).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let draft = match enrol::load_draft(&provider, &account_id).await {
        Ok(d) => d,
        Err(e) => return failure(lang, e),
    };
    let Ok(checked) = draft.check(enrol::today()) else {
        return see_other("/inscription/identite");
    };
    let id = &checked.identity;
    let kind_label = kinds(lang)
        .into_iter()
        .find(|(k, _)| k == checked.kind.as_str())
        .map(|(_, l)| l)
        .unwrap_or_default();
    let birthplace = match &id.birth_commune {
        Some(code) => format!("{} ({code})", insee::commune_name(code).unwrap_or("")),
        None => "—".to_owned(),
    };
    let mut page = StepPage::new(
        lang,
        &tr(lang, "Vérifiez vos informations", "Check your information"),
        "/inscription/recapitulatif",
        &csrf_for(&provider, &cookie),
    )
    .step(lang, 9)
    .intro(tr(
        lang,
        "Une fois confirmées, elles seront vérifiées avec votre pièce d'identité.",
        "Once confirmed, they will be checked against your identity document.",
    ));
    page.summary = vec![
        (
            tr(lang, "Nom de naissance", "Birth name"),
            id.family_name.clone(),
        ),
        (
            tr(lang, "Nom d'usage", "Usage name"),
            id.usage_name.clone().unwrap_or_else(|| "—".into()),
        ),
        (tr(lang, "Prénoms", "Given names"), id.given_names.clone()),
        (
            tr(lang, "Sexe", "Sex"),
            match id.gender {
                crate::domain::identity::Gender::Female => tr(lang, "Féminin", "Female"),
                crate::domain::identity::Gender::Male => tr(lang, "Masculin", "Male"),
            },
        ),
        (
            tr(lang, "Date de naissance", "Date of birth"),
            id.birthdate.format("%d/%m/%Y").to_string(),
        ),
        (
            tr(lang, "Pays de naissance", "Country of birth"),
            insee::country_name(&id.birth_country)
                .unwrap_or("")
                .to_owned(),
        ),
        (
            tr(lang, "Commune de naissance", "Birth commune"),
            birthplace,
        ),
        (tr(lang, "Pièce", "Document"), kind_label),
        (
            tr(lang, "Numéro", "Number"),
            checked.number.as_str().to_owned(),
        ),
        (
            tr(lang, "Valable du", "Valid from"),
            format!(
                "{} – {}",
                checked.issued_on.format("%d/%m/%Y"),
                checked.expires_on.format("%d/%m/%Y")
            ),
        ),
    ];
    page.links.push((
        "/inscription/identite".into(),
        tr(lang, "Modifier mes informations", "Change my information"),
    ));
    page.submit(tr(lang, "Je confirme", "I confirm"))
        .render(StatusCode::OK)
}

pub async fn review_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) = match require(&provider, &req, &IDENTITY_STATES).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    match enrol::submit_identity(&provider, &account_id).await {
        Ok(Ok(())) => see_other("/inscription/verification"),
        Ok(Err(problems)) => match enrol::load_draft(&provider, &account_id).await {
            Ok(draft) => identity_page(lang, &csrf_for(&provider, &cookie), &draft, &problems)
                .render(StatusCode::BAD_REQUEST),
            Err(e) => failure(lang, e),
        },
        Err(e) => failure(lang, e),
    }
}

// ------------------------------------------------------------------ verification choice

pub async fn choice_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    let (_, cookie, _) = match require(&provider, &req, &[AccountState::IdentitySubmitted]).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let mut page = StepPage::new(lang, &tr(lang, "Faites vérifier votre identité", "Have your identity verified"), "/inscription/verification", &csrf_for(&provider, &cookie))
        .intro(tr(lang, "En bureau de poste ou par le facteur à domicile : vous présentez votre pièce et une référence. Niveau de garantie le plus élevé.", "At a post office or by the postman at home: you show your document and a reference. Highest assurance level."))
        .intro(tr(lang, "En ligne : vous envoyez des photos de votre pièce et une courte vidéo, vérifiées par un agent sous 24 h.", "Online: you send photos of your document and a short video, checked by an agent within 24 hours."));
    page.buttons = vec![
        (
            "method".into(),
            "face_to_face".into(),
            tr(
                lang,
                "En bureau de poste ou à domicile",
                "At a post office or at home",
            ),
        ),
        (
            "method".into(),
            "remote".into(),
            tr(lang, "En ligne", "Online"),
        ),
    ];
    page.render(StatusCode::OK)
}

pub async fn choice_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) =
        match require(&provider, &req, &[AccountState::IdentitySubmitted]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    match form
        .get("method")
        .and_then(|m| VerificationMethod::parse(m))
    {
        Some(VerificationMethod::FaceToFace) => {
            match enrol::request_face_to_face(&provider, &account_id).await {
                Ok(_) => see_other("/inscription/reference"),
                Err(e) => failure(lang, e),
            }
        }
        Some(VerificationMethod::Remote) => {
            match enrol::request_remote(&provider, &account_id).await {
                Ok(_) => see_other("/inscription/en-ligne"),
                Err(e) => failure(lang, e),
            }
        }
        None => see_other("/inscription/verification"),
    }
}

#[derive(Template)]
#[template(path = "reference.html")]
struct ReferencePage {
    en: bool,
    t: &'static super::i18n::Texts,
    reference: String,
    reference_spelled: String,
    qr: String,
    expires: String,
    document: String,
}

fn spelled(value: &str) -> String {
    value
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn reference_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, _, _) = match require(
        &provider,
        &req,
        &[AccountState::AwaitingVerification(
            VerificationMethod::FaceToFace,
        )],
    )
    .await
    {
        Ok(found) => found,
        Err(r) => return r,
    };
    let overview = match enrol::overview(&provider, &account_id).await {
        Ok(Some(o)) => o,
        Ok(None) => return see_other("/compte"),
        Err(e) => return failure(lang, e),
    };
    let Some(reference) = overview.request.as_ref().and_then(|r| r.reference.clone()) else {
        return see_other("/compte");
    };
    let expires = overview
        .request
        .as_ref()
        .and_then(|r| chrono::DateTime::from_timestamp(r.expires_at, 0))
        .map(|t| t.format("%d/%m/%Y").to_string())
        .unwrap_or_default();
    let id = account_id.clone();
    let document = provider
        .core
        .db
        .read(move |conn| crate::store::enrolment::document(conn, &id))
        .await
        .ok()
        .flatten()
        .and_then(|d| {
            kinds(lang)
                .into_iter()
                .find(|(k, _)| *k == d.kind)
                .map(|(_, l)| l)
        })
        .unwrap_or_default();
    html(
        StatusCode::OK,
        &ReferencePage {
            t: super::i18n::texts(lang),
            en: lang == Lang::En,
            reference_spelled: spelled(&reference),
            qr: enrol::reference_qr(&reference),
            reference,
            expires,
            document,
        },
    )
}

// ------------------------------------------------------------------ online verification

async fn read_upload(
    mut payload: Multipart,
    limit: usize,
) -> Result<(Params, Vec<(String, Vec<u8>)>), &'static str> {
    let mut fields = Params::new();
    let mut files = Vec::new();
    while let Some(item) = payload.next().await {
        let mut field = item.map_err(|_| "malformed")?;
        let name = field.name().unwrap_or("").to_owned();
        let is_file = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .is_some();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| "malformed")?;
            if bytes.len() + chunk.len() > limit {
                return Err("too large");
            }
            bytes.extend_from_slice(&chunk);
        }
        if is_file {
            files.push((name, bytes));
        } else if bytes.len() <= 4096 {
            fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok((fields, files))
}

fn photos_page(lang: Lang, csrf: &str, present: &[String], error: Option<String>) -> StepPage {
    let mut page = StepPage::new(lang, &tr(lang, "Photos de votre pièce d'identité", "Photos of your identity document"), "/inscription/en-ligne/photos", csrf)
        .intro(tr(lang, "Photographiez le recto et le verso, lisibles et sans reflet (JPEG, PNG ou PDF, 5 Mo au plus).", "Photograph the front and back, readable and without glare (JPEG, PNG or PDF, 5 MB at most)."));
    page.progress = Some(tr(
        lang,
        "Étape 1 sur 2 de la vérification en ligne",
        "Step 1 of 2 of the online verification",
    ));
    page.error = error;
    page.multipart = true;
    for (name, fr, en) in [("front", "Recto", "Front"), ("back", "Verso", "Back")] {
        let done = present.iter().any(|p| p == name);
        let mut field = Field::input(name, &tr(lang, fr, en), "file", "");
        field.accept = Some("image/jpeg,image/png,application/pdf");
        if done {
            field.hint = Some(tr(
                lang,
                "Reçu. Vous pouvez le remplacer.",
                "Received. You may replace it.",
            ));
        }
        page = page.field(field);
    }
    page.submit(tr(lang, "Envoyer les photos", "Send the photos"))
}

async fn collecting_request(
    provider: &Provider,
    account_id: &str,
) -> Result<Option<RequestRow>, EnrolError> {
    Ok(enrol::request_remote(provider, account_id)
        .await?
        .filter(|r| r.status == RequestStatus::Collecting))
}

pub async fn remote_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) =
        match require(&provider, &req, &[AccountState::IdentitySubmitted]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    match collecting_request(&provider, &account_id).await {
        Ok(Some(request)) => match enrol::media_present(&provider, &request.id).await {
            Ok(present)
                if present.iter().any(|p| p == "front") && present.iter().any(|p| p == "back") =>
            {
                see_other("/inscription/en-ligne/video")
            }
            Ok(present) => photos_page(lang, &csrf_for(&provider, &cookie), &present, None)
                .render(StatusCode::OK),
            Err(e) => failure(lang, e),
        },
        Ok(None) => see_other("/inscription/verification"),
        Err(e) => failure(lang, e),
    }
}

fn media_error(lang: Lang, problem: MediaProblem) -> String {
    match problem {
        MediaProblem::Empty => tr(lang, "Choisissez un fichier.", "Choose a file."),
        MediaProblem::TooLarge => tr(
            lang,
            "Ce fichier est trop volumineux.",
            "This file is too large.",
        ),
        MediaProblem::WrongType => tr(
            lang,
            "Ce fichier n'est pas une image JPEG ou PNG, ni un PDF (ou une vidéo WebM pour la vidéo).",
            "This file is not a JPEG or PNG image, nor a PDF (or a WebM video for the video).",
        ),
        MediaProblem::NoOpenRequest => tr(
            lang,
            "Aucune vérification en ligne n'est en cours.",
            "No online verification is in progress.",
        ),
    }
}

pub async fn photos_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    payload: Multipart,
) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) =
        match require(&provider, &req, &[AccountState::IdentitySubmitted]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    let csrf = csrf_for(&provider, &cookie);
    let (fields, files) = match read_upload(payload, enrol::MAX_PHOTO_BYTES + 1).await {
        Ok(parsed) => parsed,
        Err(_) => {
            return photos_page(
                lang,
                &csrf,
                &[],
                Some(media_error(lang, MediaProblem::TooLarge)),
            )
            .render(StatusCode::PAYLOAD_TOO_LARGE);
        }
    };
    if !csrf_ok(&provider, &cookie, &fields) {
        return forged(lang);
    }
    for (name, bytes) in files {
        let kind = match name.as_str() {
            "front" => MediaKind::Front,
            "back" => MediaKind::Back,
            _ => continue,
        };
        if bytes.is_empty() {
            continue;
        }
        match enrol::upload(&provider, &account_id, kind, bytes).await {
            Ok(Ok(())) => {}
            Ok(Err(problem)) => {
                let present = match collecting_request(&provider, &account_id).await {
                    Ok(Some(r)) => enrol::media_present(&provider, &r.id)
                        .await
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                let status = if problem == MediaProblem::TooLarge {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::BAD_REQUEST
                };
                return photos_page(lang, &csrf, &present, Some(media_error(lang, problem)))
                    .render(status);
            }
            Err(e) => return failure(lang, e),
        }
    }
    see_other("/inscription/en-ligne")
}

#[derive(Template)]
#[template(path = "video.html")]
struct VideoPage {
    en: bool,
    t: &'static super::i18n::Texts,
    challenge: String,
    spelled: String,
    csrf: String,
    error: Option<String>,
}

pub async fn video_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) =
        match require(&provider, &req, &[AccountState::IdentitySubmitted]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    match collecting_request(&provider, &account_id).await {
        Ok(Some(request)) => {
            let challenge = request.challenge.unwrap_or_default();
            html(
                StatusCode::OK,
                &VideoPage {
                    t: super::i18n::texts(lang),
                    en: lang == Lang::En,
                    spelled: spelled(&challenge),
                    challenge,
                    csrf: csrf_for(&provider, &cookie),
                    error: None,
                },
            )
        }
        Ok(None) => see_other("/inscription/verification"),
        Err(e) => failure(lang, e),
    }
}

pub async fn video_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    payload: Multipart,
) -> HttpResponse {
    let lang = lang(&req);
    let (account_id, cookie, _) =
        match require(&provider, &req, &[AccountState::IdentitySubmitted]).await {
            Ok(found) => found,
            Err(r) => return r,
        };
    let csrf = csrf_for(&provider, &cookie);
    let page = |error: String, status: StatusCode, challenge: String| {
        html(
            status,
            &VideoPage {
                t: super::i18n::texts(lang),
                en: lang == Lang::En,
                spelled: spelled(&challenge),
                challenge,
                csrf: csrf.clone(),
                error: Some(error),
            },
        )
    };
    let challenge = collecting_request(&provider, &account_id)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.challenge)
        .unwrap_or_default();
    let (fields, files) = match read_upload(payload, enrol::MAX_VIDEO_BYTES + 1).await {
        Ok(parsed) => parsed,
        Err(_) => {
            return page(
                media_error(lang, MediaProblem::TooLarge),
                StatusCode::PAYLOAD_TOO_LARGE,
                challenge,
            );
        }
    };
    if !csrf_ok(&provider, &cookie, &fields) {
        return forged(lang);
    }
    let Some((_, bytes)) = files.into_iter().find(|(n, _)| n == "video") else {
        return page(
            media_error(lang, MediaProblem::Empty),
            StatusCode::BAD_REQUEST,
            challenge,
        );
    };
    match enrol::upload(&provider, &account_id, MediaKind::Video, bytes).await {
        Ok(Ok(())) => match enrol::submit_remote(&provider, &account_id).await {
            Ok(Ok(())) => see_other("/compte"),
            Ok(Err(problem)) => page(
                media_error(lang, problem),
                StatusCode::BAD_REQUEST,
                challenge,
            ),
            Err(e) => failure(lang, e),
        },
        Ok(Err(problem)) => {
            let status = if problem == MediaProblem::TooLarge {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            page(media_error(lang, problem), status, challenge)
        }
        Err(e) => failure(lang, e),
    }
}

// ------------------------------------------------------------------ account page

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    en: bool,
    t: &'static super::i18n::Texts,
    email: String,
    phone: Option<String>,
    name: Option<String>,
    status: String,
    next: String,
    reference: Option<String>,
    qr: String,
    continue_link: Option<(String, String)>,
    can_cancel: bool,
    notice: Option<String>,
    csrf: String,
}

async fn account_page(
    provider: &Provider,
    req: &HttpRequest,
    notice: Option<String>,
) -> HttpResponse {
    let lang = lang(req);
    let (account_id, cookie) = match account(provider, req).await {
        Ok(Some(found)) => found,
        Ok(None) => return see_other("/compte/connexion"),
        Err(e) => return failure(lang, e),
    };
    let overview = match enrol::overview(provider, &account_id).await {
        Ok(Some(o)) => o,
        Ok(None) => return see_other("/compte/connexion"),
        Err(e) => return failure(lang, e),
    };
    let open = overview.request.as_ref().filter(|r| r.status.is_open());
    let reference = open.and_then(|r| r.reference.clone());
    let t = |fr: &str, en: &str| tr(lang, fr, en);
    let (status, next) = match overview.state {
        AccountState::EmailVerified | AccountState::PhoneVerified => (
            t("Inscription en cours", "Enrolment in progress"),
            t(
                "Terminez votre inscription : téléphone portable, puis pièce d'identité.",
                "Finish your enrolment: mobile phone, then identity document.",
            ),
        ),
        AccountState::IdentitySubmitted => (
            t("Identité déclarée", "Identity declared"),
            if open.is_some() {
                t(
                    "Terminez la vérification en ligne : photos de votre pièce, puis la vidéo.",
                    "Finish the online verification: photos of your document, then the video.",
                )
            } else {
                t(
                    "Choisissez comment faire vérifier votre identité.",
                    "Choose how to have your identity verified.",
                )
            },
        ),
        AccountState::AwaitingVerification(VerificationMethod::FaceToFace) => (
            t(
                "En attente de vérification en bureau de poste",
                "Awaiting verification at a post office",
            ),
            t(
                "Présentez-vous en bureau de poste (ou au facteur) avec votre pièce d'identité et cette référence. Le code d'activation de l'application vous sera ensuite envoyé par SMS.",
                "Go to a post office (or see the postman) with your identity document and this reference. The app's activation code will then be texted to you.",
            ),
        ),
        AccountState::AwaitingVerification(VerificationMethod::Remote) => (
            t(
                "En attente de vérification en ligne",
                "Awaiting online verification",
            ),
            t(
                "Un agent examine vos photos et votre vidéo, en général sous 24 heures. Vous recevrez ensuite par SMS le code d'activation de l'application.",
                "An agent reviews your photos and video, usually within 24 hours. You will then receive the app's activation code by text message.",
            ),
        ),
        AccountState::Verified => (
            t("Identité vérifiée", "Identity verified"),
            t(
                "Activez l'application Sésame avec le code reçu par SMS.",
                "Activate the Sésame app with the code you received by text message.",
            ),
        ),
        AccountState::Active => (
            t("Identité numérique active", "Digital identity active"),
            t(
                "Vous pouvez vous connecter aux services partenaires.",
                "You can log in to partner services.",
            ),
        ),
        AccountState::Rejected => {
            let reason = overview
                .request
                .as_ref()
                .and_then(|r| r.reason.as_ref())
                .map(|r| format!(" : {r}"))
                .unwrap_or_default();
            (
                t("Vérification refusée", "Verification refused"),
                tr(
                    lang,
                    &format!(
                        "Votre demande n'a pas pu être validée{reason}. Vous pouvez corriger vos informations et recommencer."
                    ),
                    &format!(
                        "Your request could not be accepted{reason}. You can correct your information and start again."
                    ),
                ),
            )
        }
        AccountState::Suspended => (
            t("Compte suspendu", "Account suspended"),
            t("Contactez le support.", "Contact support."),
        ),
        AccountState::DeviceLocked => (
            t("Application bloquée", "App locked"),
            t(
                "Votre application a été bloquée après trois codes secrets erronés. Réactivez-la avec un nouveau code d'activation.",
                "Your app was locked after three wrong secret codes. Reactivate it with a new activation code.",
            ),
        ),
    };
    let step = step_for(overview.state, overview.request.as_ref());
    let continue_link =
        (step != "/compte").then(|| (step.to_owned(), tr(lang, "Continuer", "Continue")));
    let name = overview
        .identity
        .as_ref()
        .map(|i| format!("{} {}", i.given_name, i.family_name));
    html(
        StatusCode::OK,
        &AccountPage {
            t: super::i18n::texts(lang),
            en: lang == Lang::En,
            email: overview.email,
            phone: overview
                .phone
                .and_then(|p| crate::domain::phone::FrenchMobile::parse(&p).ok())
                .map(|p| p.masked()),
            name,
            status,
            next,
            qr: reference
                .as_deref()
                .map(enrol::reference_qr)
                .unwrap_or_default(),
            reference,
            continue_link,
            can_cancel: open.is_some(),
            notice,
            csrf: csrf_for(provider, &cookie),
        },
    )
}

pub async fn account_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    account_page(&provider, &req, None).await
}

async fn account_action(
    provider: &Provider,
    req: &HttpRequest,
    form: &Params,
) -> Result<String, HttpResponse> {
    let lang = lang(req);
    let (account_id, cookie) = match account(provider, req).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(see_other("/compte/connexion")),
        Err(e) => return Err(failure(lang, e)),
    };
    if !csrf_ok(provider, &cookie, form) {
        return Err(forged(lang));
    }
    Ok(account_id)
}

pub async fn account_resend(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let account_id = match account_action(&provider, &req, &form).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    // At most one resend a minute, like codes.
    let key = crate::ephemeral::keys::reference_resend(&account_id);
    match crate::ephemeral::EphemeralStore::set_if_absent(
        &provider.core.ephemeral,
        &key,
        b"1",
        enrol::otp::COOLDOWN,
    )
    .await
    {
        Ok(false) => {
            return account_page(
                &provider,
                &req,
                Some(tr(
                    lang(&req),
                    "La référence vient d'être envoyée. Réessayez dans une minute.",
                    "The reference was just sent. Try again in a minute.",
                )),
            )
            .await;
        }
        Ok(true) => {}
        Err(e) => return failure(lang(&req), e.into()),
    }
    match enrol::send_reference(&provider, &account_id).await {
        Ok(true) => {
            account_page(
                &provider,
                &req,
                Some(tr(
                    lang(&req),
                    "La référence vous a été renvoyée par courriel.",
                    "The reference was emailed to you again.",
                )),
            )
            .await
        }
        Ok(false) => see_other("/compte"),
        Err(e) => failure(lang(&req), e),
    }
}

pub async fn account_cancel(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let account_id = match account_action(&provider, &req, &form).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    match enrol::cancel_request(&provider, &account_id).await {
        Ok(_) => {
            account_page(
                &provider,
                &req,
                Some(tr(
                    lang(&req),
                    "Votre demande de vérification est annulée.",
                    "Your verification request is cancelled.",
                )),
            )
            .await
        }
        Err(e) => failure(lang(&req), e),
    }
}

pub async fn account_logout(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    if let Err(r) = account_action(&provider, &req, &form).await {
        return r;
    }
    if let Some(value) = cookies::session_value(&req)
        && let Err(e) = session::destroy(&provider, &value).await
    {
        return failure(lang, e.into());
    }
    let mut response = see_other("/");
    let _ = response.add_cookie(&cookies::clear_session(&provider));
    response
}

fn login_page(lang: Lang, csrf: &str, email: &str, error: Option<String>) -> StepPage {
    StepPage::new(
        lang,
        &tr(lang, "Connexion à mon compte", "Log in to my account"),
        "/compte/connexion",
        csrf,
    )
    .field(
        Field::input(
            "email",
            &tr(lang, "Adresse électronique", "Email address"),
            "email",
            email,
        )
        .autocomplete("username")
        .error(error),
    )
    .field(
        Field::input(
            "password",
            &tr(lang, "Mot de passe", "Password"),
            "password",
            "",
        )
        .autocomplete("current-password"),
    )
    .submit(tr(lang, "Se connecter", "Log in"))
}

pub async fn account_login_get(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    let (cookie, new_cookie) = enrol_cookie(&provider, &req);
    let mut response =
        login_page(lang, &csrf_for(&provider, &cookie), "", None).render(StatusCode::OK);
    if let Some(c) = new_cookie {
        let _ = response.add_cookie(&c);
    }
    response
}

pub async fn account_login_post(
    provider: web::Data<Provider>,
    req: HttpRequest,
    form: web::Form<Params>,
) -> HttpResponse {
    let lang = lang(&req);
    let Some(cookie) = req.cookie(ENROL_COOKIE).map(|c| c.value().to_owned()) else {
        return see_other("/compte/connexion");
    };
    if !csrf_ok(&provider, &cookie, &form) {
        return forged(lang);
    }
    let email = form.get("email").map(String::as_str).unwrap_or("");
    let password = form.get("password").map(String::as_str).unwrap_or("");
    let csrf = csrf_for(&provider, &cookie);
    let t = super::i18n::texts(lang);
    match crate::oidc::login::password(&provider, email, password, &client_ip(&req)).await {
        Ok(Ok(auth)) => match session::create(&provider, &auth).await {
            Ok(value) => {
                let mut response = see_other("/compte");
                let _ = response.add_cookie(&cookies::session(&provider, value));
                response
            }
            Err(e) => failure(lang, e.into()),
        },
        Ok(Err(crate::oidc::login::LoginFailure::Throttled { .. })) => {
            login_page(lang, &csrf, email, Some(t.throttled.to_owned()))
                .render(StatusCode::TOO_MANY_REQUESTS)
        }
        Ok(Err(crate::oidc::login::LoginFailure::Suspended)) => {
            login_page(lang, &csrf, email, Some(t.suspended.to_owned()))
                .render(StatusCode::FORBIDDEN)
        }
        Ok(Err(crate::oidc::login::LoginFailure::Invalid)) => {
            login_page(lang, &csrf, email, Some(t.bad_credentials.to_owned()))
                .render(StatusCode::BAD_REQUEST)
        }
        Err(e) => failure(lang, e.into()),
    }
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    t: &'static super::i18n::Texts,
    dir: String,
    /// (sent at, kind/subject, to, text)
    entries: Vec<(String, String, String, String)>,
}

/// Development only: the messages the file outbox holds (codes, references).
pub async fn outbox(provider: web::Data<Provider>, req: HttpRequest) -> HttpResponse {
    let lang = lang(&req);
    if !provider.core.config.dev.enabled {
        return super::error::json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint");
    }
    let dir = provider
        .core
        .notifier
        .outbox_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    match provider.core.notifier.recent_outbox(50).await {
        Ok(entries) => html(
            StatusCode::OK,
            &OutboxPage {
                t: super::i18n::texts(lang),
                dir,
                entries: entries
                    .into_iter()
                    .map(|e| {
                        (
                            e.sent_at,
                            e.subject.unwrap_or_else(|| "SMS".into()),
                            e.to,
                            e.text,
                        )
                    })
                    .collect(),
            },
        ),
        Err(e) => failure(lang, e.into()),
    }
}
