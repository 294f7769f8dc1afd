//! Online verification (`/revue`): the queue, one request with its photos
//! and video, and the reviewer's decision through `idp_server::verification`.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpResponse, web};
use askama::Template;
use idp_server::agents::review;
use idp_server::outcome::Split;
use idp_server::store::now_unix;
use idp_server::verification::{self, Decision, Outcome};
use idp_server::views::Request;
use idp_server::web::csrf::CsrfForm;

use super::Console;
use super::decision::{
    Asked, DecisionForm, DocumentView, Entered, IdentityView, UNTICKED, category_label,
    refusal_text,
};
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
    queue_page(&console, &s, None).await
}

/// The queue, with the notice of the decision just recorded.
async fn queue_page(
    console: &Console,
    s: &ReviewerSession,
    notice: Option<String>,
) -> Result<HttpResponse, Failure> {
    let (requests, now) = (review::queue(&console.core, 200).await?, now_unix());
    let waiting: Vec<Waiting> = requests.into_iter().map(|r| Waiting::new(r, now)).collect();
    let late = waiting.iter().filter(|w| w.waited > DAY).count();
    ok(&QueuePage {
        frame: s.frame("Vérifications en ligne").notice(notice),
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
    document: Option<DocumentView>,
    /// What was entered, when the form is shown again.
    entered: Entered,
}

impl ReviewPage {
    fn new(s: &ReviewerSession, id: String, pending: review::Pending, entered: Entered) -> Self {
        ReviewPage {
            frame: s.frame(TITLE),
            csrf: s.csrf().to_owned(),
            action: format!("/revue/{id}"),
            identity: IdentityView::from(&pending.identity),
            document: pending
                .document
                .map(|d| DocumentView::new(&d.kind, &d.number, &d.issued_on, &d.expires_on)),
            challenge: pending.challenge,
            entered,
            id,
        }
    }
}

/// The page a reviewer confirms a decision on, before it is recorded.
#[derive(Template)]
#[template(path = "review_confirm.html")]
struct ConfirmPage {
    frame: Frame,
    csrf: String,
    action: String,
    citizen: String,
    verified: bool,
    category: &'static str,
    entered: Entered,
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
    ok(&ReviewPage::new(&s, id, pending, Entered::default()))
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
    let id = path.into_inner();
    let decision = match form.asked() {
        _ if form.back == "yes" => return again(&console, &s, &id, &form, None).await,
        Asked::Nothing => return Ok(see_other("/revue")),
        Asked::Unticked => return again(&console, &s, &id, &form, Some(UNTICKED)).await,
        Asked::Decision(d) => d,
    };
    if let Some(page) = not_yet(&console, &s, &id, &form, &decision).await? {
        return Ok(page);
    }
    record(&console, &s, &id, decision).await
}

/// Records the confirmed decision; the queue with its notice.
async fn record(
    console: &Console,
    s: &ReviewerSession,
    id: &str,
    decision: Decision,
) -> Result<HttpResponse, Failure> {
    let acting = s.acting()?;
    match verification::decide_remote(&console.core, &acting, id, decision)
        .await
        .split()?
    {
        Ok(outcome) => queue_page(console, s, Some(decided_notice(&outcome))).await,
        Err(refusal) => back_to_queue(s, StatusCode::BAD_REQUEST, refusal_text(&refusal)),
    }
}

/// The page shown instead of recording `decision`: the form again for a
/// refusal without its reason, the confirmation page until confirmed.
async fn not_yet(
    console: &Console,
    s: &ReviewerSession,
    id: &str,
    form: &DecisionForm,
    decision: &Decision,
) -> Result<Option<HttpResponse>, Failure> {
    if let Decision::Rejected { reason, .. } = decision
        && reason.trim().is_empty()
    {
        return again(console, s, id, form, Some(UNSAID)).await.map(Some);
    }
    if form.confirm == "yes" {
        return Ok(None);
    }
    confirm(console, s, id, form, decision.clone())
        .await
        .map(Some)
}

const UNSAID: &str = "Indiquez le motif du refus.";

fn decided_notice(outcome: &Outcome) -> String {
    let who = &outcome.citizen;
    if outcome.state.as_str() == "verified" {
        format!(
            "Identité vérifiée : {who} (demande en ligne). Le code d'activation de l'application est envoyé par SMS et par courriel."
        )
    } else {
        format!(
            "Demande refusée : {who} (demande en ligne). La personne en est informée par courriel et SMS, avec le motif choisi."
        )
    }
}

/// The request again with what the reviewer entered (and why, if refused).
async fn again(
    console: &Console,
    s: &ReviewerSession,
    id: &str,
    form: &DecisionForm,
    error: Option<&str>,
) -> Result<HttpResponse, Failure> {
    let Some(pending) = review::pending(&console.core, id).await? else {
        return back_to_queue(s, StatusCode::NOT_FOUND, NO_LONGER_PENDING);
    };
    let mut page = ReviewPage::new(s, id.to_owned(), pending, Entered::from(form));
    page.frame = page.frame.maybe_error(error.map(str::to_owned));
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    with_status(status, &page)
}

/// "Confirmer le refus de …": the decision summed up, recorded only once confirmed.
async fn confirm(
    console: &Console,
    s: &ReviewerSession,
    id: &str,
    form: &DecisionForm,
    decision: Decision,
) -> Result<HttpResponse, Failure> {
    let Some(pending) = review::pending(&console.core, id).await? else {
        return back_to_queue(s, StatusCode::NOT_FOUND, NO_LONGER_PENDING);
    };
    let citizen = format!(
        "{} {}",
        pending.identity.given_name, pending.identity.family_name
    );
    let verified = decision == Decision::Verified;
    let title = if verified {
        format!("Confirmer la vérification de l'identité de {citizen}")
    } else {
        format!("Confirmer le refus de {citizen}")
    };
    ok(&ConfirmPage {
        frame: s.frame(title),
        csrf: s.csrf().to_owned(),
        action: format!("/revue/{id}"),
        citizen,
        verified,
        category: category_label(&form.category),
        entered: Entered::from(form),
    })
}
