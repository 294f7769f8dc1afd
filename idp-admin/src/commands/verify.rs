//! `idp-admin verify`: record a face-to-face decision (automation of the
//! clerk's console page).

use idp_server::outcome::Split;
use std::io::Write;

use clap::Args;
use idp_server::app::Core;
use idp_server::config::Config;
use idp_server::domain::account::RefusalCategory;
use idp_server::domain::agent::parse_office;
use idp_server::verification::{self, Agent, Decision, Place, Refusal};

use crate::AdminError;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The 8-character reference the citizen shows.
    #[arg(long)]
    pub reference: String,
    /// Post-office code where the verification took place.
    #[arg(long)]
    pub office: String,
    /// Username of the clerk (or admin) who checked the document.
    #[arg(long)]
    pub agent: String,
    /// verified or rejected.
    #[arg(long)]
    pub decision: String,
    /// Why (required for a rejection).
    #[arg(long)]
    pub reason: Option<String>,
    /// What the citizen is told of a rejection: document, information,
    /// person or other.
    #[arg(long, default_value = "other")]
    pub category: String,
    /// The postman verified at the citizen's home.
    #[arg(long)]
    pub at_home: bool,
}

fn refusal(r: Refusal) -> AdminError {
    AdminError::Usage(
        match r {
            Refusal::ReferenceMalformed => {
                "the reference must be 8 characters (letters and digits)"
            }
            Refusal::NotFound => "no verification request has this reference",
            Refusal::Expired => {
                "this reference has expired (30 days); the citizen must start a new request"
            }
            Refusal::AlreadyDecided => "this reference has already been decided or cancelled",
            Refusal::WrongMethod => "this request is an online request, not a face-to-face one",
            Refusal::Role => "this agent's role does not allow face-to-face verification",
            Refusal::Office => "a clerk can only record verifications at their own office",
            Refusal::ReasonRequired => "a rejection needs --reason",
        }
        .to_owned(),
    )
}

pub async fn run(
    args: VerifyArgs,
    config: Config,
    master_key_env: Option<String>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let decision = match args.decision.as_str() {
        "verified" => Decision::Verified,
        "rejected" => Decision::Rejected {
            category: RefusalCategory::parse(&args.category).ok_or_else(|| {
                AdminError::Usage(format!(
                    "--category {}: use document, information, person or other",
                    args.category
                ))
            })?,
            reason: args.reason.clone().unwrap_or_default(),
        },
        other => {
            return Err(AdminError::Usage(format!(
                "--decision {other}: use verified or rejected"
            )));
        }
    };
    let office = parse_office(&args.office).ok_or_else(|| {
        AdminError::Usage(format!(
            "--office {:?}: 5 to 10 letters or digits",
            args.office
        ))
    })?;
    let core = Core::init(config, master_key_env).await?;
    let agent = idp_server::agents::active(&core.db, &args.agent)
        .await?
        .as_ref()
        .and_then(Agent::from_row)
        .ok_or_else(|| AdminError::Usage(format!("no active agent {}", args.agent)))?;
    let place = if args.at_home {
        Place::Home(office)
    } else {
        Place::Office(office)
    };
    let outcome =
        verification::decide_face_to_face(&core, &agent, &args.reference, place, decision)
            .await
            .split()
            .map_err(|e| AdminError::Usage(e.to_string()))?
            .map_err(refusal)?;
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "account": outcome.account_id, "state": outcome.state.as_str() })
        )?;
    } else {
        writeln!(
            out,
            "{}: account is now {}",
            args.reference.to_uppercase(),
            outcome.state.as_str()
        )?;
    }
    Ok(())
}
