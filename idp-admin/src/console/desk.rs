//! The agent's desk: today's decisions on the home page, and the clerk's
//! search for a citizen who lost the reference (`/guichet/recherche`), over
//! `idp_server::agents::desk`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use idp_server::agents::desk::{self, Found, Search, SearchRefusal};
use idp_server::outcome::Split;
use serde::Deserialize;

use super::Console;
use super::decision::french_date;
use super::page::{Failure, Frame, ok, with_status};
use super::session::{AgentSession, ClerkSession};

/// One of today's decisions as the home page lists it.
pub struct TodayLine {
    pub time: String,
    pub reference: String,
    pub citizen: String,
    pub decision: &'static str,
    pub how: &'static str,
}

/// The agent's decisions of today (none for an administrator's other roles).
pub async fn today<S>(console: &Console, s: &AgentSession<S>) -> Result<Vec<TodayLine>, Failure> {
    let acting = s.acting()?;
    let rows = desk::decided_today(&console.core, &acting).await?;
    Ok(rows
        .into_iter()
        .map(|t| TodayLine {
            time: chrono::DateTime::from_timestamp(t.at, 0)
                .map(|d| d.format("%H:%M").to_string())
                .unwrap_or_default(),
            reference: t.reference,
            citizen: t.citizen,
            decision: if t.verified { "Vérifiée" } else { "Refusée" },
            how: if t.remote { "en ligne" } else { "au guichet" },
        })
        .collect())
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    frame: Frame,
    family_name: String,
    birthdate: String,
    email: String,
    found: Vec<FoundLine>,
    searched: bool,
}

struct FoundLine {
    reference: String,
    name: String,
    birthdate: String,
}

impl From<Found> for FoundLine {
    fn from(f: Found) -> Self {
        FoundLine {
            reference: f.reference,
            name: format!("{} {}", f.given_name, f.family_name),
            birthdate: french_date(&f.birthdate),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SearchQuery {
    nom: String,
    naissance: String,
    courriel: String,
}

fn refusal_text(refusal: SearchRefusal) -> String {
    match refusal {
        SearchRefusal::Incomplete => {
            "Indiquez le nom de naissance et la date de naissance, ou l'adresse électronique."
                .into()
        }
        SearchRefusal::Role => "Votre rôle ne permet pas cette recherche.".into(),
        SearchRefusal::TooMany => format!(
            "Plus de {} personnes correspondent : demandez l'adresse électronique.",
            desk::MAX_FOUND
        ),
        SearchRefusal::Limited(wait) => format!(
            "Trop de recherches : réessayez dans {} minutes.",
            wait.div_ceil(60)
        ),
    }
}

pub async fn search_get(
    console: web::Data<Console>,
    s: ClerkSession,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, Failure> {
    let q = query.into_inner();
    if q.nom.is_empty() && q.naissance.is_empty() && q.courriel.is_empty() {
        return ok(&SearchPage::new(&s, &q, Vec::new(), None));
    }
    let found = desk::search(&console.core, &s.acting()?, q.search())
        .await
        .split()?;
    match found {
        Ok(found) => ok(&SearchPage::new(&s, &q, found, None)),
        Err(r) => {
            let page = SearchPage::new(&s, &q, Vec::new(), Some(refusal_text(r)));
            with_status(StatusCode::BAD_REQUEST, &page)
        }
    }
}

impl SearchQuery {
    fn search(&self) -> Search<'_> {
        match self.courriel.trim() {
            "" => Search::NameAndBirthdate {
                family_name: &self.nom,
                birthdate: &self.naissance,
            },
            email => Search::Email(email),
        }
    }
}

impl SearchPage {
    fn new(s: &ClerkSession, q: &SearchQuery, found: Vec<Found>, error: Option<String>) -> Self {
        SearchPage {
            frame: s.frame("Retrouver une demande").maybe_error(error),
            searched: !(q.nom.is_empty() && q.naissance.is_empty() && q.courriel.is_empty()),
            found: found.into_iter().map(FoundLine::from).collect(),
            family_name: q.nom.clone(),
            birthdate: q.naissance.clone(),
            email: q.courriel.clone(),
        }
    }
}
