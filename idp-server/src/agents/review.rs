//! What reviewers read: the queue of online verification requests, one
//! pending request with its identity, and its media decrypted. Decisions go
//! through `verification::decide_remote`.

use std::sync::Arc;

use super::AgentError;
use crate::app::Core;
use crate::store::accounts;
use crate::store::enrolment as rows;
use crate::views::{Identity, Request};

/// The oldest pending online requests first, at most `limit`.
pub async fn queue(core: &Core, limit: i64) -> Result<Vec<Request>, AgentError> {
    let rows = core
        .db
        .read(move |conn| rows::review_queue(conn, limit))
        .await?;
    Ok(rows.into_iter().map(Request::from).collect())
}

/// An online request awaiting a reviewer, as the review page shows it.
#[derive(Debug, Clone)]
pub struct Pending {
    pub identity: Identity,
    /// The digits the citizen was asked to say in the video.
    pub challenge: String,
}

/// The online request `id` with its identity, if it still awaits a decision.
pub async fn pending(core: &Core, id: &str) -> Result<Option<Pending>, AgentError> {
    let id = id.to_owned();
    let found = core
        .db
        .read(move |conn| {
            let Some(request) = rows::request(conn, &id)? else {
                return Ok(None);
            };
            let identity = accounts::identity(conn, &request.account_id)?;
            Ok(Some((request, identity)))
        })
        .await?;
    Ok(match found {
        Some((r, Some(i)))
            if r.method == crate::domain::account::VerificationMethod::Remote
                && r.status == crate::domain::account::RequestStatus::Pending =>
        {
            Some(Pending {
                identity: i.into(),
                challenge: r.challenge.unwrap_or_default(),
            })
        }
        _ => None,
    })
}

/// The media a request may carry.
pub const MEDIA_KINDS: [&str; 3] = ["front", "back", "video"];

/// A medium of the request, decrypted: its content type and bytes.
pub async fn medium(
    core: &Core,
    id: &str,
    kind: &str,
) -> Result<Option<(String, Vec<u8>)>, AgentError> {
    if !MEDIA_KINDS.contains(&kind) {
        return Ok(None);
    }
    let (lookup, k) = (id.to_owned(), kind.to_owned());
    let Some((content_type, sealed)) = core
        .db
        .read(move |conn| rows::media(conn, &lookup, &k))
        .await?
    else {
        return Ok(None);
    };
    let kek = Arc::clone(&core.subkeys.kek);
    let aad = format!("media:{id}:{kind}");
    let bytes = tokio::task::spawn_blocking(move || kek.open(&sealed, aad.as_bytes()))
        .await
        .map_err(AgentError::internal)?
        .map_err(|_| AgentError::Internal("a review medium cannot be decrypted".into()))?;
    Ok(Some((content_type, bytes)))
}
