//! Online verification (`/revue`): the queue, one request with its photos
//! and video, and the reviewer's decision through `idp_server::verification`.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use askama::Template;
use idp_server::agents::review;
use idp_server::outcome::Split;
use idp_server::store::now_unix;
use idp_server::verification;
use idp_server::views::Request;
use idp_server::web::csrf::CsrfForm;

use super::Console;
use super::decision::{Asked, DecisionForm, IdentityView, UNTICKED, refusal_text};
use super::page::{Failure, Frame, Message, ok, see_other, with_status};
use super::session::ReviewerSession;

const TITLE: &str = "Vérification en ligne";
/// The target: every request decided within 24 hours.
const DAY: i64 = 86_400;

struct Waiting {
    id: String,
    submitted: String,
    /// Seconds since it was submitted.
    waited: i64,
    hours: i64,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    frame: Frame,
    waiting: Vec<Waiting>,
    late: usize,
}

impl Waiting {
    fn new(r: Request, now: i64) -> Self {
        let at = r.submitted_at.unwrap_or(now);
        let submitted = chrono::DateTime::from_timestamp(at, 0)
            .map(|t| t.format("%d/%m %H:%M").to_string())
            .unwrap_or_default();
        Waiting {
            id: r.id,
            submitted,
            waited: now - at,
            hours: (now - at) / 3600,
        }
    }
}

pub async fn queue(
    console: web::Data<Console>,
    s: ReviewerSession,
) -> Result<HttpResponse, Failure> {
    let (requests, now) = (review::queue(&console.core, 200).await?, now_unix());
    let waiting: Vec<Waiting> = requests.into_iter().map(|r| Waiting::new(r, now)).collect();
    let late = waiting.iter().filter(|w| w.waited > DAY).count();
    ok(&QueuePage {
        frame: s.frame("Vérifications en ligne"),
        waiting,
        late,
    })
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    frame: Frame,
    csrf: String,
    id: String,
    action: String,
    challenge: String,
    identity: IdentityView,
}

fn back_to_queue(
    s: &ReviewerSession,
    status: StatusCode,
    error: &str,
) -> Result<HttpResponse, Failure> {
    let page = Message::linked(s.frame(TITLE).error(error), "/revue", "Retour à la file");
    with_status(status, &page)
}

const NO_LONGER_PENDING: &str = "Cette demande n'est plus en attente.";

pub async fn review_get(
    console: web::Data<Console>,
    s: ReviewerSession,
    path: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let id = path.into_inner();
    let Some(pending) = review::pending(&console.core, &id).await? else {
        return back_to_queue(&s, StatusCode::NOT_FOUND, NO_LONGER_PENDING);
    };
    ok(&ReviewPage {
        frame: s.frame(TITLE),
        csrf: s.csrf().to_owned(),
        action: format!("/revue/{id}"),
        identity: IdentityView::from(&pending.identity),
        challenge: pending.challenge,
        id,
    })
}

pub async fn review_media(
    console: web::Data<Console>,
    _: ReviewerSession,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Failure> {
    let (id, kind) = path.into_inner();
    let Some((content_type, bytes)) = review::medium(&console.core, &id, &kind).await? else {
        return Err(Failure::NotFound);
    };
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, content_type))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header(("Content-Disposition", "inline"))
        .body(bytes))
}

pub async fn review_post(
    console: web::Data<Console>,
    path: web::Path<String>,
    CsrfForm { form, bound: s }: CsrfForm<DecisionForm, ReviewerSession>,
) -> Result<HttpResponse, Failure> {
    let decision = match form.asked() {
        Asked::Nothing => return Ok(see_other("/revue")),
        Asked::Unticked => return back_to_queue(&s, StatusCode::BAD_REQUEST, UNTICKED),
        Asked::Decision(d) => d,
    };
    let acting = s.acting()?;
    match verification::decide_remote(&console.core, &acting, &path.into_inner(), decision)
        .await
        .split()?
    {
        Ok(_) => Ok(see_other("/revue")),
        Err(refusal) => back_to_queue(&s, StatusCode::BAD_REQUEST, refusal_text(&refusal)),
    }
}
