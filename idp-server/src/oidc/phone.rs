//! The eidas2 login of a pending authorization request, seen from the
//! browser: a phone number starts an approval on the app (`device::challenge`),
//! then the waiting page follows it until it is decided. No HTTP types here.

use super::Provider;
use super::authorize;
use super::clients::Client;
use super::types::{AuthRequest, Authenticated};
use crate::device::DeviceError;
use crate::device::challenge::{self, BrowserStatus, StartRefusal, StartRequest};
use crate::outcome::{ServiceError, refuse};

/// What the browser sent with its number.
pub struct Typed<'a> {
    pub phone: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

/// Starts an approval for the typed number. The request is stored pointing
/// at the new challenge in the same step as the challenge; if none starts,
/// the request lives on as it was (the person stays on the phone page).
pub async fn start(
    provider: &Provider,
    request: &mut AuthRequest,
    client: &Client,
    typed: Typed<'_>,
) -> Result<(), ServiceError<StartRefusal, DeviceError>> {
    let challenge_id = challenge::new_id()?;
    let previous = request.challenge.replace(challenge_id.clone());
    let save = authorize::prepare_save(request)?;
    let started = challenge::start(
        provider,
        StartRequest {
            challenge_id: &challenge_id,
            also: &[save.write()],
            request_id: &request.id,
            client_id: &client.id,
            client_name: &client.name,
            phone: typed.phone,
            ip: typed.ip,
            user_agent: typed.user_agent,
        },
    )
    .await;
    if let Err(ServiceError::Refused(refusal)) = started {
        request.challenge = previous;
        authorize::keep(provider, request).await?;
        return refuse(refusal);
    }
    started?;
    Ok(())
}

/// Where the waiting page stands.
#[derive(Debug)]
pub enum Waiting {
    /// No approval was started for this request: back to the phone page.
    NotStarted,
    /// Still waiting for the person's decision on the app.
    Pending { number: u8, expires_at: i64 },
    /// Approved (taken once): the person is authenticated.
    Approved(Authenticated),
    /// Ended without a login, for this reason.
    Ended(BrowserStatus),
}

/// The state of the request's approval; an approval is taken (once), and
/// the request forgets its challenge.
pub async fn wait(provider: &Provider, request: &mut AuthRequest) -> Result<Waiting, DeviceError> {
    let Some(challenge_id) = request.challenge.clone() else {
        return Ok(Waiting::NotStarted);
    };
    let Some((raw, found)) = challenge::for_request(provider, &challenge_id, &request.id).await?
    else {
        return Ok(Waiting::Ended(BrowserStatus::Expired));
    };
    let status = challenge::browser_status(&found);
    if status == BrowserStatus::Expired {
        challenge::settle_expiry(&provider.core, &raw, &found).await?;
    }
    Ok(match status {
        BrowserStatus::Pending => Waiting::Pending {
            number: found.number,
            expires_at: found.expires_at,
        },
        BrowserStatus::Approved => match challenge::complete(provider, &raw, found).await? {
            Some(auth) => {
                request.challenge = None;
                Waiting::Approved(auth)
            }
            None => Waiting::Ended(BrowserStatus::Expired),
        },
        other => Waiting::Ended(other),
    })
}

/// The approval's status as the waiting page's script sees it.
pub async fn status(
    provider: &Provider,
    request: &AuthRequest,
) -> Result<BrowserStatus, DeviceError> {
    let Some(id) = request.challenge.as_deref() else {
        return Ok(BrowserStatus::Expired);
    };
    let Some((raw, found)) = challenge::for_request(provider, id, &request.id).await? else {
        return Ok(BrowserStatus::Expired);
    };
    let status = challenge::browser_status(&found);
    if status == BrowserStatus::Expired {
        challenge::settle_expiry(&provider.core, &raw, &found).await?;
    }
    Ok(status)
}
