//! `idp-admin requests`: the pending face-to-face requests (oldest first),
//! or with `--home-visit` only those where a postman visits the citizen at
//! home (the CLI twin of the console's `/guichet/demandes`).

use std::io::Write;

use clap::Args;
use idp_server::app::Core;
use idp_server::config::Config;
use idp_server::verification::{self, FaceToFaceEntry};

use crate::{AdminError, format_time};

#[derive(Args, Debug)]
pub struct RequestsArgs {
    /// Only the requests for a home visit by the postman.
    #[arg(long)]
    pub home_visit: bool,
}

pub async fn run(
    args: RequestsArgs,
    config: Config,
    master_key_env: Option<String>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let core = Core::init(config, master_key_env).await?;
    let entries = verification::face_to_face_requests(&core, args.home_visit)
        .await
        .map_err(|e| AdminError::Usage(e.to_string()))?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
        return Ok(());
    }
    for e in &entries {
        writeln!(out, "{}", line(e))?;
    }
    writeln!(out, "{} request(s)", entries.len())?;
    Ok(())
}

/// "ABCD1234  2026-12-03 10:00:00Z  home 0612345678  DUPONT Marie".
fn line(e: &FaceToFaceEntry) -> String {
    let place = match (&e.home_visit, &e.phone) {
        (true, Some(phone)) => format!("home {phone}"),
        (true, None) => "home".to_owned(),
        (false, _) => "office".to_owned(),
    };
    format!(
        "{}  {}  {place}  {} {}",
        e.reference,
        e.submitted_at.map(format_time).unwrap_or_default(),
        e.family_name.to_uppercase(),
        e.given_name
    )
}
