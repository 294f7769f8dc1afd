//! An agent's desk in the console: the decisions the agent recorded today
//! (from the requests table), and the clerk's search for a citizen who lost
//! the reference (by family name + birth date, or by email). The search
//! shows only accounts with an open face-to-face request, at most
//! [`MAX_FOUND`] of them, and only names and birth date; every search is
//! counted per agent ([`SEARCHES`]) and audited (how, how many found; never
//! what was typed: the log holds no personal data).

use std::time::Duration;

use super::AgentError;
use crate::app::Core;
use crate::domain::account::{RequestStatus, VerificationMethod};
use crate::domain::email::Email;
use crate::outcome::{ServiceError, refuse};
use crate::ratelimit::Limit;
use crate::store::audit::{self, AuditEvent};
use crate::store::desk::{self, Candidate};
use crate::store::now_unix;
use crate::verification::Agent;

/// A decision of today, as the home page lists it.
#[derive(Debug, Clone)]
pub struct Today {
    pub at: i64,
    /// The face-to-face reference, or the online request's id.
    pub reference: String,
    pub citizen: String,
    pub verified: bool,
    pub remote: bool,
}

/// At most this many of today's decisions are listed.
pub const TODAY_LIMIT: i64 = 20;

/// Midnight UTC of the day of `now`.
pub fn start_of_day(now: i64) -> i64 {
    now - now.rem_euclid(86_400)
}

/// The decisions `agent` recorded since midnight (UTC), newest first.
pub async fn decided_today(core: &Core, agent: &Agent) -> Result<Vec<Today>, AgentError> {
    let (username, since) = (agent.username.clone(), start_of_day(now_unix()));
    let rows = core
        .db
        .read(move |conn| desk::decided_by(conn, &username, since, TODAY_LIMIT))
        .await?;
    Ok(rows
        .into_iter()
        .map(|d| Today {
            at: d.decided_at,
            reference: d.reference.unwrap_or(d.request_id),
            citizen: format!("{} {}", d.given_name, d.family_name),
            verified: d.status == RequestStatus::Verified,
            remote: d.method == VerificationMethod::Remote,
        })
        .collect())
}

/// What a clerk searches by.
pub enum Search<'a> {
    /// The birth family name (case and accents ignored) and the birth date
    /// (YYYY-MM-DD).
    NameAndBirthdate {
        family_name: &'a str,
        birthdate: &'a str,
    },
    Email(&'a str),
}

/// Why a search shows nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchRefusal {
    /// Neither a name with a birth date nor an email address.
    Incomplete,
    /// The role does not verify face to face.
    Role,
    /// More than [`MAX_FOUND`] matches: the clerk must narrow it down.
    TooMany,
    /// Too many searches by this agent; seconds to wait.
    Limited(u64),
}

/// A person found, with the reference that opens the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub reference: String,
    pub given_name: String,
    pub family_name: String,
    pub birthdate: String,
}

pub const MAX_FOUND: usize = 5;
/// Searches per agent and hour.
pub const SEARCHES: Limit = Limit {
    name: "console:citizen_search",
    max: 30,
    window: Duration::from_secs(3600),
};

/// Lower case, accents and separators dropped: "Le Gall-Hervé" = "le gall herve".
pub fn fold(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().to_lowercase().chars() {
        let plain = match c {
            'à' | 'â' | 'ä' | 'á' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' => 'i',
            'ô' | 'ö' | 'ó' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            '-' | '\'' | '’' => ' ',
            c => c,
        };
        if plain != ' ' || !out.ends_with(' ') {
            out.push(plain);
        }
    }
    out.replace("œ", "oe").replace("æ", "ae")
}

/// Finds the accounts with an open face-to-face request matching `search`.
pub async fn search(
    core: &Core,
    agent: &Agent,
    search: Search<'_>,
) -> Result<Vec<Found>, ServiceError<SearchRefusal, AgentError>> {
    if !agent.role.verifies_face_to_face() {
        return refuse(SearchRefusal::Role);
    }
    enum By {
        Name(String, String),
        Email(String),
    }
    let by = match search {
        Search::NameAndBirthdate {
            family_name,
            birthdate,
        } if !fold(family_name).is_empty()
            && chrono::NaiveDate::parse_from_str(birthdate, "%Y-%m-%d").is_ok() =>
        {
            By::Name(fold(family_name), birthdate.to_owned())
        }
        Search::Email(raw) => match Email::parse(raw) {
            Ok(email) => By::Email(email.as_str().to_owned()),
            Err(_) => return refuse(SearchRefusal::Incomplete),
        },
        Search::NameAndBirthdate { .. } => return refuse(SearchRefusal::Incomplete),
    };
    if let Some(wait) = SEARCHES
        .hit(core, &agent.username)
        .await
        .map_err(AgentError::from)?
    {
        return refuse(SearchRefusal::Limited(wait));
    }
    let actor = format!("agent:{}", agent.username);
    let found = core
        .db
        .write(move |conn| {
            let (how, candidates): (&str, Vec<Candidate>) = match &by {
                By::Name(name, date) => {
                    let all = desk::born_on(conn, date)?;
                    (
                        "name",
                        all.into_iter()
                            .filter(|c| fold(&c.family_name) == *name)
                            .collect(),
                    )
                }
                By::Email(email) => ("email", desk::with_email(conn, email)?),
            };
            let mut found = Vec::new();
            for c in candidates {
                if let Some(reference) = desk::open_reference(conn, &c.account_id)? {
                    found.push(Found {
                        reference,
                        given_name: c.given_name,
                        family_name: c.family_name,
                        birthdate: c.birthdate,
                    });
                }
            }
            audit::append(
                conn,
                &AuditEvent {
                    actor: &actor,
                    action: "counter.search",
                    subject: "verification_requests",
                    details: serde_json::json!({ "by": how, "found": found.len() }),
                },
            )?;
            Ok(found)
        })
        .await
        .map_err(AgentError::from)?;
    if found.len() > MAX_FOUND {
        return refuse(SearchRefusal::TooMany);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::{fold, start_of_day};

    #[test]
    fn names_fold_case_accents_and_separators() {
        assert_eq!(fold("  Le Gall-Hervé "), "le gall herve");
        assert_eq!(fold("DURAND"), fold("durand"));
        assert_eq!(fold("N'Diaye"), "n diaye");
    }

    #[test]
    fn the_day_starts_at_midnight_utc() {
        assert_eq!(start_of_day(86_400 * 3 + 5), 86_400 * 3);
        assert_eq!(start_of_day(86_400 * 3), 86_400 * 3);
    }
}
