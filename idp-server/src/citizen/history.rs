//! The connection history (`store::login_history`): every login to a
//! partner site, newest first, a page at a time, for `/compte/historique`
//! and the app's "Mes connexions" (`GET /api/device/v1/history`). Rows are
//! written by the logins themselves (`oidc::login::password`,
//! `device::challenge`), in their outcome's transaction.

use serde::Serialize;

use crate::app::Core;
use crate::domain::history::LoginResult;
use crate::store::StoreError;
use crate::store::login_history::{self, LoginRow};

/// Logins per page.
pub const PER_PAGE: i64 = 20;
/// The last page anyone may ask for (an offset bound, not a promise).
const MAX_PAGE: u32 = 10_000;

/// One login, as the citizen sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Login {
    pub client_id: String,
    pub partner: String,
    /// Unix milliseconds.
    pub at_ms: i64,
    pub acr: String,
    /// Approximate (`203.0.113.x`, or a /48).
    pub ip: String,
    pub user_agent: String,
    pub outcome: LoginResult,
}

impl From<LoginRow> for Login {
    fn from(row: LoginRow) -> Self {
        Login {
            client_id: row.client_id,
            partner: row.client_name,
            at_ms: row.at_ms,
            acr: row.acr,
            ip: row.ip,
            user_agent: row.user_agent,
            outcome: row.outcome,
        }
    }
}

/// One page of the history (`page` counts from 1).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPage {
    pub page: u32,
    pub logins: Vec<Login>,
    pub has_next: bool,
}

/// Page `page` (1 = the newest logins; 0 is read as 1) of the account's
/// history: one indexed read of one row more than a page, to know whether
/// an older page exists.
pub async fn page(core: &Core, account_id: &str, page: u32) -> Result<HistoryPage, StoreError> {
    let page = page.clamp(1, MAX_PAGE);
    let offset = i64::from(page - 1) * PER_PAGE;
    let id = account_id.to_owned();
    let mut rows = core
        .db
        .read(move |conn| login_history::page(conn, &id, offset, PER_PAGE + 1))
        .await?;
    let has_next = rows.len() as i64 > PER_PAGE;
    rows.truncate(PER_PAGE as usize);
    Ok(HistoryPage {
        page,
        logins: rows.into_iter().map(Login::from).collect(),
        has_next,
    })
}
