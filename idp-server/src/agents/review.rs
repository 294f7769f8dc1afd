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
    /// The document declared with the request.
    pub document: Option<Document>,
}

/// The declared document, its number decrypted.
#[derive(Debug, Clone)]
pub struct Document {
    pub kind: String,
    pub number: String,
    pub issued_on: String,
    pub expires_on: String,
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
            let document = rows::document(conn, &request.account_id)?;
            Ok(Some((request, identity, document)))
        })
        .await?;
    Ok(match found {
        Some((r, Some(i), d))
            if r.method == crate::domain::account::VerificationMethod::Remote
                && r.status == crate::domain::account::RequestStatus::Pending =>
        {
            let document = match d {
                Some(d) => Some(open_document(core, &r.account_id, d)?),
                None => None,
            };
            Some(Pending {
                identity: i.into(),
                challenge: r.challenge.unwrap_or_default(),
                document,
            })
        }
        _ => None,
    })
}

fn open_document(
    core: &Core,
    account_id: &str,
    d: rows::DocumentRow,
) -> Result<Document, AgentError> {
    let number = core
        .subkeys
        .kek
        .open(
            &d.number_sealed,
            format!("document:{account_id}").as_bytes(),
        )
        .map_err(|_| AgentError::Internal("a document number cannot be decrypted".into()))?;
    Ok(Document {
        kind: d.kind,
        number: String::from_utf8_lossy(&number).into_owned(),
        issued_on: d.issued_on,
        expires_on: d.expires_on,
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
