//! The change of mobile number (`/compte/mobile/…`) and of email address
//! (`/compte/adresse/…`) over `citizen::contact`: current password and the
//! new value → the code sent to the new one → done. One set of handlers,
//! generic over the [`Kind`] (paths, field, texts); every form is bound to
//! the session cookie (`CsrfForm<_, Session>`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::password::{CodeForm, NoFields, ResentQuery, notice_page};
use crate::citizen::contact::{self, Change, Channel, Stage};
use crate::domain::email::Email;
use crate::domain::phone::FrenchMobile;
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::csrf::CsrfForm;
use crate::web::enrol::extract::{ClientIp, Session};
use crate::web::enrol::page::{Field, OnPage, OnResend, StepPage, refused, see_other};
use crate::web::enrol::refusals::{InvalidEmail, InvalidMobile};
use crate::web::error::{OrPage, PageError};
use crate::web::i18n::{self, Texts};

/// What differs between the two changes.
pub trait Kind: 'static {
    const CHANNEL: Channel;
    const START: &'static str;
    const CODE: &'static str;
    const RESEND: &'static str;
    const DONE: &'static str;
    /// The new value's field: name, input type, autocomplete.
    const FIELD: (&'static str, &'static str, &'static str);
    /// Title, intro, label of the new value.
    fn start_texts(t: &'static Texts) -> (&'static str, &'static str, &'static str);
    /// "Un code … vient d'être envoyé à …".
    fn sent(t: &'static Texts, to: &str) -> String;
    /// Title and line of the done page.
    fn done_texts(t: &'static Texts) -> (&'static str, &'static str);
    /// "Modifier le numéro" / "Modifier l'adresse…" on the code page.
    fn change_label(t: &'static Texts) -> &'static str;
}

pub struct Mobile;
impl Kind for Mobile {
    const CHANNEL: Channel = Channel::Mobile;
    const START: &'static str = "/compte/mobile";
    const CODE: &'static str = "/compte/mobile/code";
    const RESEND: &'static str = "/compte/mobile/renvoyer";
    const DONE: &'static str = "/compte/mobile/modifie";
    const FIELD: (&'static str, &'static str, &'static str) = ("mobile", "tel", "tel");
    fn start_texts(t: &'static Texts) -> (&'static str, &'static str, &'static str) {
        let c = t.contact;
        (c.mobile_title, c.mobile_intro, c.new_mobile)
    }
    fn sent(t: &'static Texts, to: &str) -> String {
        (t.contact.mobile_sent)(to)
    }
    fn done_texts(t: &'static Texts) -> (&'static str, &'static str) {
        (t.contact.mobile_done_title, t.contact.mobile_done)
    }
    fn change_label(t: &'static Texts) -> &'static str {
        t.enrol.change_number
    }
}

pub struct Address;
impl Kind for Address {
    const CHANNEL: Channel = Channel::Email;
    const START: &'static str = "/compte/adresse";
    const CODE: &'static str = "/compte/adresse/code";
    const RESEND: &'static str = "/compte/adresse/renvoyer";
    const DONE: &'static str = "/compte/adresse/modifiee";
    const FIELD: (&'static str, &'static str, &'static str) = ("email", "email", "email");
    fn start_texts(t: &'static Texts) -> (&'static str, &'static str, &'static str) {
        let c = t.contact;
        (c.email_title, c.email_intro, c.new_email)
    }
    fn sent(t: &'static Texts, to: &str) -> String {
        (t.contact.email_sent)(to)
    }
    fn done_texts(t: &'static Texts) -> (&'static str, &'static str) {
        (t.contact.email_done_title, t.contact.email_done)
    }
    fn change_label(t: &'static Texts) -> &'static str {
        t.enrol.change_email
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StartForm {
    current_password: String,
    mobile: String,
    email: String,
}

impl StartForm {
    fn new_value<K: Kind>(&self) -> &str {
        match K::CHANNEL {
            Channel::Mobile => &self.mobile,
            Channel::Email => &self.email,
        }
    }
}

fn start_page<K: Kind>(lang: Lang, csrf: &str, value: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let (title, intro, label) = K::start_texts(t);
    let (name, input, autocomplete) = K::FIELD;
    let current = Field::input(
        "current_password",
        t.citizen.current_password_label,
        "password",
        "",
    )
    .autocomplete("current-password");
    let mut page = StepPage::new(lang, title, K::START, csrf)
        .intro(intro)
        .field(current)
        .field(
            Field::input(name, label, input, value)
                .autocomplete(autocomplete)
                .error(error),
        )
        .submit(t.enrol.send_code);
    page.links
        .push(("/compte".to_owned(), t.citizen.back_to_account.to_owned()));
    page
}

fn code_page<K: Kind>(lang: Lang, csrf: &str, shown: &str, error: Option<String>) -> StepPage {
    let t = i18n::texts(lang);
    let mut page = StepPage::new(lang, t.contact.code_title, K::CODE, csrf)
        .intro(&K::sent(t, shown))
        .field(
            Field::input("code", t.enrol.code_label, "text", "")
                .autocomplete("one-time-code")
                .numeric()
                .error(error),
        )
        .submit(t.enrol.confirm);
    page.secondary
        .push((K::RESEND.to_owned(), t.enrol.resend_code.to_owned()));
    page.links
        .push((K::START.to_owned(), K::change_label(t).to_owned()));
    page.links
        .push(("/compte".to_owned(), t.citizen.back_to_account.to_owned()));
    page
}

/// The change open on the account, or 303 to its first page.
async fn open_change<K: Kind>(provider: &Provider, session: &Session) -> Result<Change, PageError> {
    let lang = session.lang;
    let open = contact::progress(provider, K::CHANNEL, &session.account_id).await;
    open.or_page(lang)?
        .ok_or_else(|| PageError::see_other(lang, K::START))
}

pub async fn start_get<K: Kind>(session: Session) -> HttpResponse {
    start_page::<K>(session.lang, &session.csrf, "", None).render(StatusCode::OK)
}

/// The password and the new value; the new value parsed first.
async fn start<K: Kind>(
    provider: &Provider,
    bound: &Session,
    form: &StartForm,
    ip: &str,
) -> Result<(), PageError> {
    let lang = bound.lang;
    let value = form.new_value::<K>();
    let page = |error| start_page::<K>(lang, &bound.csrf, value, Some(error));
    let (id, current) = (&bound.account_id, &form.current_password);
    let started = match K::CHANNEL {
        Channel::Mobile => {
            let phone =
                FrenchMobile::parse(value).map_err(|e| refused(lang, &InvalidMobile(e), page))?;
            contact::start_mobile(provider, id, current, &phone, ip).await
        }
        Channel::Email => {
            let email = Email::parse(value).map_err(|_| refused(lang, &InvalidEmail, page))?;
            contact::start_email(provider, id, current, &email, ip).await
        }
    };
    started.on_page(lang, page)
}

pub async fn start_post<K: Kind>(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { form, bound }: CsrfForm<StartForm, Session>,
) -> Result<HttpResponse, PageError> {
    start::<K>(&provider, &bound, &form, &ip).await?;
    Ok(see_other(K::CODE))
}

pub async fn code_get<K: Kind>(
    provider: web::Data<Provider>,
    session: Session,
    query: web::Query<ResentQuery>,
) -> Result<HttpResponse, PageError> {
    let change = open_change::<K>(&provider, &session).await?;
    if change.stage == Stage::Done {
        return Ok(see_other(K::DONE));
    }
    let shown = change.shown(K::CHANNEL);
    let mut page = code_page::<K>(session.lang, &session.csrf, &shown, None);
    if query.renvoye.is_some() {
        page.intro.push(page.t.enrol.code_resent.to_owned());
    }
    page.ok()
}

pub async fn code_post<K: Kind>(
    provider: web::Data<Provider>,
    CsrfForm { form, bound }: CsrfForm<CodeForm, Session>,
) -> Result<HttpResponse, PageError> {
    let (lang, id) = (bound.lang, &bound.account_id);
    let confirmed = contact::confirm(&provider, K::CHANNEL, id, &form.code).await;
    if confirmed.is_err() {
        let open = contact::progress(&provider, K::CHANNEL, id).await;
        let shown = open.ok().flatten().map(|c| c.shown(K::CHANNEL));
        let shown = shown.unwrap_or_default();
        confirmed.on_page(lang, |error| {
            code_page::<K>(lang, &bound.csrf, &shown, Some(error))
        })?;
    }
    Ok(see_other(K::DONE))
}

pub async fn resend_post<K: Kind>(
    provider: web::Data<Provider>,
    ClientIp(ip): ClientIp,
    CsrfForm { bound, .. }: CsrfForm<NoFields, Session>,
) -> Result<HttpResponse, PageError> {
    let change = open_change::<K>(&provider, &bound).await?;
    let (lang, shown) = (bound.lang, change.shown(K::CHANNEL));
    let page = |error| code_page::<K>(lang, &bound.csrf, &shown, error);
    let sent = contact::resend(&provider, K::CHANNEL, &bound.account_id, &ip).await;
    sent.on_resend(lang, page, &format!("{}?renvoye=1", K::CODE))
}

pub async fn done_get<K: Kind>(session: Session) -> HttpResponse {
    let t = i18n::texts(session.lang);
    let (title, line) = K::done_texts(t);
    let link = ("/compte", t.citizen.back_to_account);
    notice_page(session.lang, title, &[line], link)
}
