//! Login: password (`/connexion`), then the TOTP code or its enrolment
//! (`/totp`), and logout. The work is `idp_server::agents`; these handlers
//! only read the form and pick the page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use idp_server::agents::totp::{self, SecondFactor};
use idp_server::agents::{LoginFailure, sessions};
use idp_server::web::csrf::{self, CsrfForm};
use serde::Deserialize;

use super::Console;
use super::page::{Failure, Frame, ok, render, see_other, with_status};
use super::session::{PRE_COOKIE, PendingSession, PreLogin, SESSION_COOKIE, cookie, with_cookie};

const EXPIRED: &str = "Formulaire expiré : rechargez la page.";
const LOCKED: &str = "Trop d'échecs : ce compte est bloqué 15 minutes.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    frame: Frame,
    csrf: String,
    username: String,
}

fn login_page(csrf: &str, username: &str, error: Option<&str>) -> LoginPage {
    LoginPage {
        frame: Frame::anonymous("Connexion").maybe_error(error.map(str::to_owned)),
        csrf: csrf.to_owned(),
        username: username.to_owned(),
    }
}

/// A TOTP enrolment in progress: the secret and its QR code.
struct Enrolment {
    secret: String,
    qr: Qr,
}

/// A QR code drawn as one SVG path (one square per dark module, 4-module quiet zone).
struct Qr {
    modules: usize,
    pixels: usize,
    path: String,
}

impl Qr {
    fn of(text: &str) -> Qr {
        let Ok(code) = qrcode::QrCode::new(text.as_bytes()) else {
            return Qr {
                modules: 0,
                pixels: 0,
                path: String::new(),
            };
        };
        let width = code.width();
        let mut path = String::new();
        for (i, color) in code.to_colors().iter().enumerate() {
            if *color == qrcode::Color::Dark {
                path.push_str(&format!("M{} {}h1v1h-1z", i % width + 4, i / width + 4));
            }
        }
        let modules = width + 8;
        Qr {
            modules,
            pixels: modules * 200_usize.div_ceil(modules),
            path,
        }
    }
}

#[derive(Template)]
#[template(path = "totp.html")]
struct CodePage {
    frame: Frame,
    csrf: String,
    enrolment: Option<Enrolment>,
}

fn code_page(p: &PendingSession, error: Option<&str>) -> CodePage {
    let enrolment = match (&p.agent.totp_sealed, &p.session.enrolling) {
        (None, Some(secret)) => Some(Enrolment {
            secret: secret.clone(),
            qr: Qr::of(&totp::otpauth_url(secret, &p.agent.username)),
        }),
        _ => None,
    };
    let title = if enrolment.is_some() && error.is_none() {
        "Activer la double authentification"
    } else {
        "Code de vérification"
    };
    CodePage {
        frame: Frame::anonymous(title).maybe_error(error.map(str::to_owned)),
        csrf: p.session.csrf.clone(),
        enrolment,
    }
}

/// A code form posted without this session's token.
pub fn forged_code(p: &PendingSession) -> HttpResponse {
    let page = CodePage {
        enrolment: None,
        ..code_page(p, Some(EXPIRED))
    };
    render(StatusCode::BAD_REQUEST, &page)
}

/// A login form posted without the token of this browser's pre-login cookie.
pub fn forged_login(pre: &PreLogin) -> HttpResponse {
    render(
        StatusCode::BAD_REQUEST,
        &login_page(&pre.csrf, "", Some(EXPIRED)),
    )
}

pub async fn login_get(
    console: web::Data<Console>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    let existing = req
        .cookie(PRE_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 32);
    let pre = match &existing {
        Some(p) => p.clone(),
        None => sessions::fresh_token()?,
    };
    let page = login_page(&sessions::login_csrf(&console.core, &pre), "", None);
    let response = render(StatusCode::OK, &page);
    Ok(match existing {
        Some(_) => response,
        None => with_cookie(response, cookie(PRE_COOKIE, pre)),
    })
}

#[derive(Deserialize)]
#[serde(default)]
#[derive(Default)]
pub struct LoginForm {
    username: String,
    password: String,
}

pub async fn login_post(
    console: web::Data<Console>,
    CsrfForm { form, bound }: CsrfForm<LoginForm, PreLogin>,
) -> Result<HttpResponse, Failure> {
    let username = form.username.trim();
    let core = &console.core;
    match totp::password(core, &console.dummy_hash, username, &form.password).await? {
        Ok((value, _)) => Ok(with_cookie(
            see_other("/totp"),
            cookie(SESSION_COOKIE, value),
        )),
        Err(LoginFailure::Invalid) => with_status(
            StatusCode::BAD_REQUEST,
            &login_page(
                &bound.csrf,
                username,
                Some("Identifiant ou mot de passe incorrect."),
            ),
        ),
        Err(LoginFailure::Locked) => with_status(
            StatusCode::TOO_MANY_REQUESTS,
            &login_page(&bound.csrf, username, Some(LOCKED)),
        ),
    }
}

pub async fn code_get(
    console: web::Data<Console>,
    mut p: PendingSession,
) -> Result<HttpResponse, Failure> {
    if p.session.totp_ok {
        return Ok(see_other("/"));
    }
    if p.agent.totp_sealed.is_none() {
        totp::enrolment_secret(&console.core, &p.cookie, &mut p.session).await?;
    }
    ok(&code_page(&p, None))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

pub async fn code_post(
    console: web::Data<Console>,
    CsrfForm { form, bound }: CsrfForm<CodeForm, PendingSession>,
) -> Result<HttpResponse, Failure> {
    let core = &console.core;
    match totp::second_factor(
        core,
        &bound.agent,
        &bound.session,
        &bound.cookie,
        &form.code,
    )
    .await?
    {
        SecondFactor::Passed { cookie: fresh } => {
            Ok(with_cookie(see_other("/"), cookie(SESSION_COOKIE, fresh)))
        }
        SecondFactor::NotEnrolling => Ok(see_other("/totp")),
        SecondFactor::Failed(LoginFailure::Locked) => with_status(
            StatusCode::TOO_MANY_REQUESTS,
            &code_page(&bound, Some(LOCKED)),
        ),
        SecondFactor::Failed(LoginFailure::Invalid) => with_status(
            StatusCode::BAD_REQUEST,
            &code_page(&bound, Some("Code incorrect ou déjà utilisé.")),
        ),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LogoutForm {
    csrf: String,
}

/// Ends the session (when the form is this session's) and forgets the cookie.
pub async fn logout(
    console: web::Data<Console>,
    pending: Option<PendingSession>,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, Failure> {
    if let Some(p) = pending
        && csrf::matches(&p.session.csrf, &form.csrf)
    {
        sessions::end(&console.core, &p.cookie).await?;
    }
    let mut gone = cookie(SESSION_COOKIE, String::new());
    gone.make_removal();
    Ok(with_cookie(see_other("/connexion"), gone))
}
