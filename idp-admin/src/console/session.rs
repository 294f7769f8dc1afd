//! Who is asking: the extractors every console handler starts from.
//!
//! [`AgentSession<S>`] is a fully logged-in agent (password and second
//! factor done) whose role is in the scope `S`: [`ClerkSession`] (counter),
//! [`ReviewerSession`] (online review), [`AdminSession`], [`AnySession`].
//! Without a session it answers 303 to the login page, half logged in 303 to
//! `/totp`, with another role the 403 page. [`PendingSession`] is the step
//! between password and code; [`PreLogin`] the browser on the login page.
//! Each implements [`Binding`], so a post is a `CsrfForm<T, ClerkSession>`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use idp_server::agents::{self, sessions};
use idp_server::domain::agent::Role;
use idp_server::store::agents::AgentRow;
use idp_server::verification::Agent;
use idp_server::web::csrf::Binding;

use super::Console;
use super::page::{Failure, Frame, Message, render, see_other, unavailable};

pub const SESSION_COOKIE: &str = "sesame_console";
pub const PRE_COOKIE: &str = "sesame_console_pre";

/// The console's cookies: whole site, script-proof, same-site only.
pub fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish()
}

/// `response` setting `cookie`.
pub fn with_cookie(mut response: HttpResponse, cookie: Cookie<'static>) -> HttpResponse {
    if let Err(e) = response.add_cookie(&cookie) {
        tracing::warn!(error = %e, "console cookie not set");
    }
    response
}

/// Which roles a page family admits.
pub trait Scope: 'static {
    const ROLES: &'static [Role];
    /// Whether the page opens before the agent has replaced the initial
    /// password (only "Mon compte", where it is replaced).
    const BEFORE_PASSWORD_CHANGE: bool = false;
}

/// Every agent (home page, own security keys).
pub struct Everyone;
/// Face-to-face verification.
pub struct Counter;
/// The online review queue.
pub struct Review;
/// Administration pages and account support.
pub struct Administration;
/// The agent's own account ("Mon compte": the password change).
pub struct OwnAccount;

impl Scope for Everyone {
    const ROLES: &'static [Role] = &[Role::Clerk, Role::Reviewer, Role::Admin];
}
impl Scope for Counter {
    const ROLES: &'static [Role] = &[Role::Clerk, Role::Admin];
}
impl Scope for Review {
    const ROLES: &'static [Role] = &[Role::Reviewer, Role::Admin];
}
impl Scope for Administration {
    const ROLES: &'static [Role] = &[Role::Admin];
}
impl Scope for OwnAccount {
    const ROLES: &'static [Role] = Everyone::ROLES;
    const BEFORE_PASSWORD_CHANGE: bool = true;
}

pub type AnySession = AgentSession<Everyone>;
pub type ClerkSession = AgentSession<Counter>;
pub type ReviewerSession = AgentSession<Review>;
pub type AdminSession = AgentSession<Administration>;
pub type AccountSession = AgentSession<OwnAccount>;

/// Where an agent who must still replace the initial password is sent.
pub const OWN_ACCOUNT: &str = "/mon-compte";

/// A logged-in agent whose role is in `S`.
pub struct AgentSession<S> {
    pub agent: AgentRow,
    pub session: sessions::AgentSession,
    /// The session cookie's value (renewed after a password change).
    pub cookie: String,
    scope: PhantomData<S>,
}

impl<S> AgentSession<S> {
    /// The page frame naming this agent.
    pub fn frame(&self, title: impl Into<String>) -> Frame {
        Frame::of(title, &self.agent)
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }

    pub fn role(&self) -> Role {
        self.agent.role
    }

    /// The acting agent as the verification service expects it.
    pub fn acting(&self) -> Result<Agent, Failure> {
        Agent::from_row(&self.agent).ok_or_else(|| Failure::unavailable("agent role unreadable"))
    }

    /// Who the audit log names.
    pub fn actor(&self) -> String {
        format!("agent:{}", self.agent.username)
    }
}

/// An agent past the password, maybe not yet past the second factor.
pub struct PendingSession {
    pub agent: AgentRow,
    pub session: sessions::AgentSession,
    /// The session cookie's value (renewed once fully logged in).
    pub cookie: String,
}

type Pending<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

/// A ready response in place of the handler's.
fn answer(response: HttpResponse) -> actix_web::Error {
    actix_web::error::InternalError::from_response("console refusal", response).into()
}

fn console_of(req: &HttpRequest) -> Result<web::Data<Console>, actix_web::Error> {
    req.app_data::<web::Data<Console>>()
        .cloned()
        .ok_or_else(|| answer(unavailable("console state missing")))
}

async fn pending(
    console: &Console,
    cookie: Option<String>,
) -> Result<PendingSession, HttpResponse> {
    let Some(cookie) = cookie else {
        return Err(see_other("/connexion"));
    };
    let session = match sessions::load(&console.core, &cookie).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(see_other("/connexion")),
        Err(e) => return Err(unavailable(e)),
    };
    match agents::agent(&console.core, &session.agent_id).await {
        // A password change since the session opened ended it.
        Ok(Some(agent)) if agent.session_epoch != session.epoch => Err(see_other("/connexion")),
        Ok(Some(agent)) => Ok(PendingSession {
            agent,
            session,
            cookie,
        }),
        Ok(None) => Err(see_other("/connexion")),
        Err(e) => Err(unavailable(e)),
    }
}

fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned())
}

impl FromRequest for PendingSession {
    type Error = actix_web::Error;
    type Future = Pending<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (console, cookie) = (console_of(req), session_cookie(req));
        Box::pin(async move {
            let console = console?;
            pending(&console, cookie).await.map_err(answer)
        })
    }
}

impl<S: Scope> FromRequest for AgentSession<S> {
    type Error = actix_web::Error;
    type Future = Pending<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let (console, cookie) = (console_of(req), session_cookie(req));
        Box::pin(async move {
            let console = console?;
            let found = pending(&console, cookie).await.map_err(answer)?;
            if !found.session.totp_ok {
                return Err(answer(see_other("/totp")));
            }
            let allowed = S::ROLES.contains(&found.agent.role);
            if !allowed {
                return Err(answer(forbidden(&found.agent)));
            }
            if found.agent.must_change_password && !S::BEFORE_PASSWORD_CHANGE {
                return Err(answer(see_other(OWN_ACCOUNT)));
            }
            Ok(AgentSession {
                agent: found.agent,
                session: found.session,
                cookie: found.cookie,
                scope: PhantomData,
            })
        })
    }
}

fn forbidden(agent: &AgentRow) -> HttpResponse {
    let frame =
        Frame::of("Accès refusé", agent).error("Votre rôle ne donne pas accès à cette page.");
    let page = Message::linked(frame, "/", "Retour à l'accueil");
    render(StatusCode::FORBIDDEN, &page)
}

impl<S: Scope> Binding for AgentSession<S> {
    fn csrf_token(&self) -> &str {
        &self.session.csrf
    }

    fn forged(&self, req: &HttpRequest) -> HttpResponse {
        super::forged::answer(self, req.path())
    }
}

impl Binding for PendingSession {
    fn csrf_token(&self) -> &str {
        &self.session.csrf
    }

    fn forged(&self, _: &HttpRequest) -> HttpResponse {
        super::login::forged_code(self)
    }
}

/// The browser on the login page: its pre-login cookie and the token derived from it.
pub struct PreLogin {
    pub cookie: String,
    pub csrf: String,
}

impl PreLogin {
    fn of(req: &HttpRequest) -> Option<Result<Self, actix_web::Error>> {
        let cookie = req.cookie(PRE_COOKIE).map(|c| c.value().to_owned())?;
        Some(console_of(req).map(|console| PreLogin {
            csrf: sessions::login_csrf(&console.core, &cookie),
            cookie,
        }))
    }
}

impl FromRequest for PreLogin {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            PreLogin::of(req).unwrap_or_else(|| Err(answer(see_other("/connexion")))),
        )
    }
}

impl Binding for PreLogin {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }

    fn forged(&self, _: &HttpRequest) -> HttpResponse {
        super::login::forged_login(self)
    }
}
