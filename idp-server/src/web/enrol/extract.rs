//! What every enrolment handler needs before it starts, as extractors: the
//! browser's enrolment cookie (and its progress before the account exists),
//! the signed-in account at the step a page belongs to, the client address.
//! A page reached at the wrong step answers 303 to the right one; each
//! binding carries the CSRF token its forms must post (`csrf::CsrfForm`).

use std::future::{Future, Ready, ready};
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};

use super::ENROL_COOKIE;
use crate::domain::account::{AccountState, VerificationMethod};
use crate::enrol::{self, Overview};
use crate::oidc::types::Lang;
use crate::oidc::{Provider, session};
use crate::views::Request;
use crate::web::csrf::{self, Binding, Purpose};
use crate::web::error::{OrPage, PageError, WebError};
use crate::web::extract::lang_of;
use crate::web::{cookies, pages};

type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, PageError>>>>;

fn provider(req: &HttpRequest, lang: Lang) -> Result<web::Data<Provider>, PageError> {
    req.app_data::<web::Data<Provider>>()
        .cloned()
        .ok_or_else(|| {
            PageError::failure(lang, WebError::Internal("no provider in app data".into()))
        })
}

/// `csrf::Binding` for a type: its language (for the forged-form page) and
/// its token.
macro_rules! binding {
    ($(@<$g:ident: $bound:path>)? $ty:ty => |$s:ident| $lang:expr, $csrf:expr) => {
        impl$(<$g: $bound>)? Binding for $ty {
            fn csrf_token(&self) -> &str {
                let $s = self;
                $csrf
            }
            fn forged(&self, _: &HttpRequest) -> HttpResponse {
                let $s = self;
                forged($lang)
            }
        }
    };
}

pub(super) fn forged(lang: Lang) -> HttpResponse {
    pages::page_error(lang, &crate::oidc::authorize::Refusal::Forged)
}

/// The enrolment cookie's value, as sent.
fn enrol_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(ENROL_COOKIE).map(|c| c.value().to_owned())
}

/// The client address (behind the configured trusted proxies).
pub struct ClientIp(pub String);

impl FromRequest for ClientIp {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(ClientIp(crate::web::client_ip(req))))
    }
}

// ------------------------------------------------------------------ the enrolment cookie

/// The pages that open a form family (eligibility, account login): the
/// enrolment cookie, created when the browser has none.
pub struct NewBrowser {
    pub lang: Lang,
    pub csrf: String,
    new_cookie: Option<Cookie<'static>>,
}

impl NewBrowser {
    /// `response` with the new cookie, when one was created.
    pub fn respond(&self, mut response: HttpResponse) -> HttpResponse {
        if let Some(cookie) = &self.new_cookie {
            let _ = response.add_cookie(cookie);
        }
        response
    }
}

impl FromRequest for NewBrowser {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lang = lang_of(req);
        ready(provider(req, lang).and_then(|provider| {
            let (value, new_cookie) = match enrol_cookie(req).filter(|v| v.len() >= 32) {
                Some(value) => (value, None),
                None => {
                    let value = crate::crypto::random_token().or_page(lang)?;
                    let cookie = Cookie::build(ENROL_COOKIE, value.clone())
                        .path("/")
                        .http_only(true)
                        .same_site(SameSite::Lax)
                        .secure(provider.issuer().starts_with("https://"))
                        .finish();
                    (value, Some(cookie))
                }
            };
            Ok(NewBrowser {
                lang,
                csrf: csrf::derive(&provider, Purpose::Enrolment, &value),
                new_cookie,
            })
        }))
    }
}

/// A form posted by a browser with an enrolment cookie; without one, 303
/// back to the form's page (which sets it).
pub struct Browser {
    pub lang: Lang,
    pub cookie: String,
    pub csrf: String,
}

impl FromRequest for Browser {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lang = lang_of(req);
        ready(provider(req, lang).and_then(|provider| {
            let cookie = enrol_cookie(req).ok_or_else(|| PageError::see_other(lang, req.path()))?;
            Ok(Browser {
                lang,
                csrf: csrf::derive(&provider, Purpose::Enrolment, &cookie),
                cookie,
            })
        }))
    }
}

binding!(Browser => |b| b.lang, &b.csrf);

/// An enrolment that passed the eligibility step (before the account
/// exists): the cookie and the progress kept under it; else 303 to the start.
pub struct Enrolling {
    pub lang: Lang,
    pub cookie: String,
    pub csrf: String,
    pub pending: enrol::Pending,
}

async fn enrolling(req: &HttpRequest) -> Result<Enrolling, PageError> {
    let lang = lang_of(req);
    let provider = provider(req, lang)?;
    let start = || PageError::see_other(lang, "/inscription");
    let cookie = enrol_cookie(req).ok_or_else(start)?;
    let pending = enrol::load_pending(&provider, &cookie)
        .await
        .or_page(lang)?;
    if !pending.eligible {
        return Err(start());
    }
    Ok(Enrolling {
        lang,
        csrf: csrf::derive(&provider, Purpose::Enrolment, &cookie),
        cookie,
        pending,
    })
}

impl Enrolling {
    /// The address being verified.
    pub fn email(&self) -> Option<crate::domain::email::Email> {
        let email = self.pending.email.as_deref()?;
        crate::domain::email::Email::parse(email).ok()
    }
}

impl FromRequest for Enrolling {
    type Error = PageError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { enrolling(&req).await })
    }
}

binding!(Enrolling => |e| e.lang, &e.csrf);

/// The password form: an [`Enrolling`] browser, or, for a double submission
/// after the account was created, 303 to the next step.
pub struct PasswordStep(pub Enrolling);

impl FromRequest for PasswordStep {
    type Error = PageError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match enrolling(&req).await {
                Ok(found) => Ok(PasswordStep(found)),
                Err(_) if signed_in(&req).await => {
                    Err(PageError::see_other(lang_of(&req), "/inscription/mobile"))
                }
                Err(e) => Err(e),
            }
        })
    }
}

binding!(PasswordStep => |p| p.0.lang, &p.0.csrf);

/// Whether the browser has a live session (a lookup failure counts as no).
pub async fn signed_in(req: &HttpRequest) -> bool {
    matches!(session_of(req).await, Ok(Some(_)))
}

// ------------------------------------------------------------------ the signed-in account

/// The signed-in account, from the SSO session cookie; else 303 to the
/// account login. Its forms are bound to the session cookie.
pub struct Session {
    pub lang: Lang,
    pub account_id: String,
    /// The session cookie's value.
    pub cookie: String,
    pub csrf: String,
}

async fn session_of(req: &HttpRequest) -> Result<Option<Session>, PageError> {
    let lang = lang_of(req);
    let provider = provider(req, lang)?;
    let Some(cookie) = cookies::session_value(req) else {
        return Ok(None);
    };
    let Some(auth) = session::load(&provider, &cookie).await.or_page(lang)? else {
        return Ok(None);
    };
    Ok(Some(Session {
        lang,
        account_id: auth.account_id,
        csrf: csrf::derive(&provider, Purpose::Enrolment, &cookie),
        cookie,
    }))
}

impl FromRequest for Session {
    type Error = PageError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            session_of(&req)
                .await?
                .ok_or_else(|| PageError::see_other(lang_of(&req), "/compte/connexion"))
        })
    }
}

binding!(Session => |s| s.lang, &s.csrf);

/// The account states a page belongs to.
pub trait Step: 'static {
    /// Empty: any state.
    const STATES: &'static [AccountState];
}

/// The mobile number and its code.
pub struct AtMobile;
impl Step for AtMobile {
    const STATES: &'static [AccountState] = &[AccountState::EmailVerified];
}

/// The document and identity pages (again after a refusal, or for a new
/// document of a verified identity: `enrol::submit_identity` then asks for a
/// new verification).
pub struct AtIdentity;
impl Step for AtIdentity {
    const STATES: &'static [AccountState] = &[
        AccountState::PhoneVerified,
        AccountState::Rejected,
        AccountState::Verified,
        AccountState::Active,
        AccountState::DeviceLocked,
    ];
}

/// The choice of verification and the online media.
pub struct AtSubmitted;
impl Step for AtSubmitted {
    const STATES: &'static [AccountState] = &[AccountState::IdentitySubmitted];
}

/// The face-to-face reference.
pub struct AtFaceToFace;
impl Step for AtFaceToFace {
    const STATES: &'static [AccountState] = &[AccountState::AwaitingVerification(
        VerificationMethod::FaceToFace,
    )];
}

/// The online request's confirmation: sent to the review queue.
pub struct AtRemote;
impl Step for AtRemote {
    const STATES: &'static [AccountState] = &[AccountState::AwaitingVerification(
        VerificationMethod::Remote,
    )];
}

/// The account page: every state.
pub struct Anywhere;
impl Step for Anywhere {
    const STATES: &'static [AccountState] = &[];
}

/// The signed-in account in one of `S::STATES`, with its overview; else 303
/// to the login or to the step the account is at.
pub struct AccountAt<S> {
    pub session: Session,
    pub overview: Overview,
    step: PhantomData<S>,
}

impl<S> AccountAt<S> {
    pub fn lang(&self) -> Lang {
        self.session.lang
    }
    pub fn account_id(&self) -> &str {
        &self.session.account_id
    }
    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }
}

impl<S: Step> FromRequest for AccountAt<S> {
    type Error = PageError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = Session::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let session = session.await?;
            let lang = session.lang;
            let provider = provider(&req, lang)?;
            let overview = enrol::overview(&provider, &session.account_id)
                .await
                .or_page(lang)?
                .ok_or_else(|| PageError::see_other(lang, "/compte/connexion"))?;
            if !S::STATES.is_empty() && !S::STATES.contains(&overview.state) {
                let step = step_for(overview.state, overview.request.as_ref());
                return Err(PageError::see_other(lang, step));
            }
            Ok(AccountAt {
                session,
                overview,
                step: PhantomData,
            })
        })
    }
}

binding!(@<S: Step> AccountAt<S> => |a| a.session.lang, &a.session.csrf);

/// Where a person in `state` continues.
pub fn step_for(state: AccountState, request: Option<&Request>) -> &'static str {
    match state {
        AccountState::EmailVerified => "/inscription/mobile",
        AccountState::PhoneVerified => "/inscription/piece",
        AccountState::IdentitySubmitted | AccountState::Rejected => match request {
            Some(r) if r.status == crate::domain::account::RequestStatus::Collecting => {
                "/inscription/en-ligne"
            }
            _ if state == AccountState::Rejected => "/compte",
            _ => "/inscription/verification",
        },
        _ => "/compte",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(status: &str) -> Request {
        Request {
            id: "r".into(),
            method: VerificationMethod::Remote,
            reference: None,
            status: crate::domain::account::RequestStatus::parse(status).expect("a known status"),
            created_at: 0,
            expires_at: 0,
            submitted_at: None,
            decided_at: None,
            decided_by: None,
            office: None,
            reason: None,
            reason_category: None,
            home_visit: false,
        }
    }

    #[test]
    fn each_state_continues_at_its_step() {
        assert_eq!(
            step_for(AccountState::EmailVerified, None),
            "/inscription/mobile"
        );
        assert_eq!(
            step_for(AccountState::PhoneVerified, None),
            "/inscription/piece"
        );
        assert_eq!(
            step_for(AccountState::IdentitySubmitted, None),
            "/inscription/verification"
        );
        let collecting = request("collecting");
        assert_eq!(
            step_for(AccountState::IdentitySubmitted, Some(&collecting)),
            "/inscription/en-ligne"
        );
        assert_eq!(
            step_for(AccountState::Rejected, Some(&collecting)),
            "/inscription/en-ligne"
        );
        assert_eq!(
            step_for(AccountState::Rejected, Some(&request("rejected"))),
            "/compte"
        );
        for state in [
            AccountState::AwaitingVerification(VerificationMethod::FaceToFace),
            AccountState::AwaitingVerification(VerificationMethod::Remote),
            AccountState::Verified,
            AccountState::Active,
            AccountState::Suspended,
            AccountState::DeviceLocked,
        ] {
            assert_eq!(step_for(state, None), "/compte", "{state:?}");
        }
    }

    #[test]
    fn every_step_page_belongs_to_states_that_lead_to_it() {
        // A page's own states must not redirect to another page, or a person
        // at that step would loop.
        for (states, page) in [
            (AtMobile::STATES, "/inscription/mobile"),
            (AtIdentity::STATES, "/inscription/piece"),
            (AtSubmitted::STATES, "/inscription/verification"),
        ] {
            assert!(states.iter().any(|s| step_for(*s, None) == page), "{page}");
        }
    }
}
