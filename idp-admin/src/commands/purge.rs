//! `idp-admin purge`: removes what is past its retention period
//! (`[retention]`, docs/operations.md "Retention"). Safe from cron: no
//! prompt, idempotent, exit 0 when there is nothing to remove; one line per
//! kind with its count (or one JSON object with `--json`).

use std::io::Write;

use idp_server::app::Core;
use idp_server::citizen::retention;
use idp_server::config::Config;
use idp_server::store::now_unix;

use crate::{AdminError, actor};

pub async fn run(
    config: Config,
    master_key_env: Option<String>,
    json: bool,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let core = Core::init(config, master_key_env).await?;
    let purged = retention::purge(&core, now_unix(), &actor()).await?;
    let periods = &core.config.retention;
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "removed": purged, "total": purged.total() })
        )?;
        return Ok(());
    }
    for (kind, count, days) in purged.lines(periods) {
        writeln!(out, "{kind}: {count} removed (older than {days} days)")?;
    }
    Ok(())
}
