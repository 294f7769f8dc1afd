//! Login: password (`/connexion`), then the TOTP code or its enrolment
//! (`/totp`), and logout. The work is `idp_server::agents`; these handlers
//! only read the form and pick the page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use idp_server::agents::totp::{self, SecondFactor};
use idp_server::agents::{AgentError, LoginFailure, sessions};
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

/// The status and sentence of a failed factor (`invalid` names what was wrong).
fn failed(failure: LoginFailure, invalid: &'static str) -> (StatusCode, &'static str) {
    match failure {
        LoginFailure::Invalid => (StatusCode::BAD_REQUEST, invalid),
        LoginFailure::Locked => (StatusCode::TOO_MANY_REQUESTS, LOCKED),
    }
}

/// The response that logs the browser in with `value` and sends it on to `location`.
fn logged_in(location: &str, value: String) -> Result<HttpResponse, Failure> {
    Ok(with_cookie(
        see_other(location),
        cookie(SESSION_COOKIE, value),
    ))
}

pub async fn login_post(
    console: web::Data<Console>,
    CsrfForm { form, bound }: CsrfForm<LoginForm, PreLogin>,
) -> Result<HttpResponse, Failure> {
    let (core, username) = (&console.core, form.username.trim());
    let checked = totp::password(core, &console.dummy_hash, username, &form.password).await;
    let (status, error) = match checked {
        Ok((value, _)) => return logged_in("/totp", value),
        Err(AgentError::Login(failure)) => {
            failed(failure, "Identifiant ou mot de passe incorrect.")
        }
        Err(e) => return Err(e.into()),
    };
    with_status(status, &login_page(&bound.csrf, username, Some(error)))
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
    CsrfForm { form, bound: p }: CsrfForm<CodeForm, PendingSession>,
) -> Result<HttpResponse, Failure> {
    let core = &console.core;
    let checked = totp::second_factor(core, &p.agent, &p.session, &p.cookie, &form.code).await?;
    let (status, error) = match checked {
        SecondFactor::Passed { cookie } => return logged_in("/", cookie),
        SecondFactor::NotEnrolling => return Ok(see_other("/totp")),
        SecondFactor::Failed(failure) => failed(failure, "Code incorrect ou déjà utilisé."),
    };
    with_status(status, &code_page(&p, Some(error)))
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

#[cfg(test)]
mod tests {
    use super::Qr;

    #[test]
    fn qr_codes_draw_every_dark_module_inside_a_quiet_zone() {
        let text = "otpauth://totp/Sesame%3Am.durand?secret=ABC&issuer=Sesame";
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let dark = code
            .to_colors()
            .iter()
            .filter(|c| **c == qrcode::Color::Dark)
            .count();
        let qr = Qr::of(text);
        assert_eq!(qr.modules, code.width() + 8);
        assert_eq!(qr.path.matches('M').count(), dark);
        assert!(qr.pixels >= 200, "at least 200 px wide");
        // The top-left finder pattern starts after the 4-module quiet zone.
        assert!(qr.path.starts_with("M4 4h1v1h-1z"), "{}", &qr.path[..20]);
    }
}
