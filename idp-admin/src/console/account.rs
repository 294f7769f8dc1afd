//! "Mon compte" (`/mon-compte`): the agent's own password. At first login
//! (`must_change_password`) every other page sends the agent here until the
//! initial password is replaced; afterwards the page changes it on demand.
//! The work is `idp_server::agents::password`; the session is renewed under
//! the new epoch, so the agent's other sessions end.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use idp_server::agents::password::{self, ChangeInput, ChangeRefusal};
use idp_server::agents::sessions;
use idp_server::domain::password::PasswordProblem;
use idp_server::outcome::Split;
use idp_server::web::csrf::CsrfForm;
use serde::Deserialize;

use super::Console;
use super::page::{Failure, Frame, Message, ok, with_status};
use super::session::{AccountSession, SESSION_COOKIE, cookie, with_cookie};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    csrf: String,
    first: bool,
}

fn account_page(s: &AccountSession, error: Option<&str>) -> AccountPage {
    let first = s.agent.must_change_password;
    let title = if first {
        "Choisissez votre mot de passe"
    } else {
        "Mon compte"
    };
    AccountPage {
        frame: s.frame(title).maybe_error(error.map(str::to_owned)),
        csrf: s.csrf().to_owned(),
        first,
    }
}

pub async fn account_get(s: AccountSession) -> Result<HttpResponse, Failure> {
    ok(&account_page(&s, None))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

fn refusal_text(refusal: ChangeRefusal) -> &'static str {
    match refusal {
        ChangeRefusal::WrongCurrent => "Mot de passe actuel incorrect.",
        ChangeRefusal::Locked => "Trop d'échecs : ce compte est bloqué 15 minutes.",
        ChangeRefusal::Mismatch => "Les deux nouveaux mots de passe sont différents.",
        ChangeRefusal::Unchanged => "Le nouveau mot de passe doit être différent de l'actuel.",
        ChangeRefusal::Weak(PasswordProblem::TooShort) => {
            "Le nouveau mot de passe doit compter au moins 12 caractères."
        }
        ChangeRefusal::Weak(PasswordProblem::TooLong) => {
            "Le nouveau mot de passe doit compter au plus 128 caractères."
        }
        ChangeRefusal::Weak(_) => {
            "Ce mot de passe est trop simple (ou contient votre identifiant) : choisissez-en un autre."
        }
    }
}

pub async fn account_post(
    console: web::Data<Console>,
    CsrfForm { form, bound: s }: CsrfForm<PasswordForm, AccountSession>,
) -> Result<HttpResponse, Failure> {
    let input = ChangeInput {
        current: &form.current,
        new: &form.new,
        confirm: &form.confirm,
    };
    match password::change(&console.core, &s.agent, &input)
        .await
        .split()?
    {
        Ok(epoch) => changed(&console, &s, epoch).await,
        Err(refusal) => refused(&s, refusal),
    }
}

/// The form again, saying why (429 when locked out).
fn refused(s: &AccountSession, refusal: ChangeRefusal) -> Result<HttpResponse, Failure> {
    let status = match refusal {
        ChangeRefusal::Locked => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::BAD_REQUEST,
    };
    with_status(status, &account_page(s, Some(refusal_text(refusal))))
}

/// The session again under the new epoch, and the page saying it is done.
async fn changed(
    console: &Console,
    s: &AccountSession,
    epoch: i32,
) -> Result<HttpResponse, Failure> {
    let session = sessions::AgentSession {
        epoch,
        ..s.session.clone()
    };
    let fresh = sessions::renew(&console.core, &s.cookie, &session).await?;
    let notice = "Mot de passe changé. Vos autres sessions de la console sont fermées.";
    let page = Message::linked(
        s.frame("Mon compte").notice(Some(notice.to_owned())),
        "/",
        "Aller à l'accueil",
    );
    let response = super::page::render(StatusCode::OK, &page);
    Ok(with_cookie(response, cookie(SESSION_COOKIE, fresh)))
}
