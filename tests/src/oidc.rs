//! Relying-party side helpers: register clients, create citizens, and walk
//! the IdP's login pages as a person would.

use idp_server::domain::acr::Acr;
use idp_server::domain::client::ClientMetadata;
use idp_server::oidc::{clients, login};
use idp_server::store::accounts::{self, IdentityRow, NewAccount};
use idp_server::store::now_unix;

use crate::TestApp;
use crate::browser::{Browser, Page};

pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
pub const POST_LOGOUT_URI: &str = "http://127.0.0.1:9/bye";

/// Metadata of a typical confidential client of the tests.
pub fn client_metadata() -> ClientMetadata {
    ClientMetadata {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        post_logout_redirect_uris: vec![POST_LOGOUT_URI.to_owned()],
        allowed_acr: vec![Acr::Eidas1, Acr::Eidas2],
        ..ClientMetadata::default()
    }
}

/// Registers a client; returns its secret (if its method uses one).
pub fn register_client(
    app: &TestApp,
    client_id: &str,
    metadata: &ClientMetadata,
) -> Option<String> {
    clients::register_blocking(
        &app.core.db,
        &app.core.subkeys.client_secret_key,
        client_id,
        &format!("Service {client_id}"),
        metadata,
        "test",
    )
    .expect("client registers")
}

pub struct Citizen {
    pub account_id: String,
    pub email: String,
    pub password: String,
}

/// Creates an account with a password and an identity; `verified` says
/// whether a clerk verified it face to face.
pub fn create_citizen(app: &TestApp, verified: bool) -> Citizen {
    let account_id = uuid::Uuid::new_v4().to_string();
    let email = format!("{}@example.fr", &account_id[..8]);
    let password = "correct horse battery staple".to_owned();
    let hash = login::hash_password(&password).expect("hash");
    let (id, mail) = (account_id.clone(), email.clone());
    app.core
        .db
        .write_blocking(|conn| {
            accounts::insert(
                conn,
                &NewAccount {
                    id: &id,
                    state: if verified {
                        "verified"
                    } else {
                        "identity_submitted"
                    },
                    email: &mail,
                    password_hash: Some(&hash),
                    phone: Some("+33612345678"),
                },
            )?;
            accounts::insert_identity(
                conn,
                &IdentityRow {
                    account_id: id.clone(),
                    given_name: "Jeanne Marie".into(),
                    family_name: "DURAND".into(),
                    preferred_username: None,
                    birthdate: "1985-02-28".into(),
                    gender: "female".into(),
                    birthplace: "2A004".into(),
                    birthcountry: "99100".into(),
                    verified_at: verified.then(now_unix),
                    verification_method: verified
                        .then_some(idp_server::domain::account::VerificationMethod::FaceToFace),
                },
            )
        })
        .expect("citizen created");
    Citizen {
        account_id,
        email,
        password,
    }
}

/// A verified citizen whose phone is `e164`, with a first activation code
/// (issued as a clerk's verification does, read from the outbox).
pub async fn verified_with_activation_code(app: &TestApp, e164: &str) -> (Citizen, String) {
    use diesel::prelude::*;
    use idp_server::store::schema::accounts as a;
    let citizen = create_citizen(app, true);
    let (id, phone) = (citizen.account_id.clone(), e164.to_owned());
    app.core
        .db
        .write_blocking(move |conn| {
            diesel::update(a::table.filter(a::id.eq(&id)))
                .set(a::phone.eq(Some(phone)))
                .execute(conn)?;
            Ok(())
        })
        .expect("phone set");
    assert!(
        idp_server::verification::issue_activation_code(&app.core, &citizen.account_id, "test")
            .await
            .expect("activation code issued")
    );
    let code = crate::enrolment::code_sent_to(app, e164).await;
    (citizen, code)
}

/// Where a login walk ended.
pub enum Outcome {
    /// Redirected to the relying party (query mode): the full URL.
    Redirect(url::Url),
    /// A form_post page addressed to the relying party.
    FormPost(Page),
    /// Stopped on an IdP page (error, level page…).
    Page(Page),
}

impl Outcome {
    pub fn redirect(self) -> url::Url {
        match self {
            Outcome::Redirect(url) => url,
            Outcome::FormPost(page) | Outcome::Page(page) => {
                panic!(
                    "expected a redirect to the client, got {}: {}",
                    page.status, page.body
                )
            }
        }
    }

    /// Parameters of the response sent to the client.
    pub fn params(self) -> std::collections::HashMap<String, String> {
        match self {
            Outcome::FormPost(page) => page.hidden_fields().into_iter().collect(),
            other => other.redirect().query_pairs().into_owned().collect(),
        }
    }
}

/// Follows IdP redirects (login, consent, level pages), logging in with
/// `citizen` and approving consent, until the response leaves for the client.
pub async fn walk(
    browser: &mut Browser,
    authorize_url: &str,
    citizen: Option<&Citizen>,
) -> Outcome {
    let mut page = browser.get(authorize_url).await;
    for _ in 0..10 {
        if page.status == 200 && page.body.contains("id=\"form-post\"") {
            return Outcome::FormPost(page);
        }
        let Some(location) = page.location.clone() else {
            return Outcome::Page(page);
        };
        if location.starts_with("http://127.0.0.1:9/") {
            return Outcome::Redirect(url::Url::parse(&location).expect("redirect URL"));
        }
        let form = browser.get(&location).await;
        page = if location.contains("/login?") {
            let Some(citizen) = citizen else {
                return Outcome::Page(form);
            };
            let (tx, csrf) = (
                form.field("tx").expect("tx"),
                form.field("csrf").expect("csrf"),
            );
            browser
                .post(
                    "/login",
                    &[
                        ("tx", &tx),
                        ("csrf", &csrf),
                        ("email", &citizen.email),
                        ("password", &citizen.password),
                    ],
                )
                .await
        } else if location.contains("/consent?") {
            let (tx, csrf) = (
                form.field("tx").expect("tx"),
                form.field("csrf").expect("csrf"),
            );
            browser
                .post(
                    "/consent",
                    &[("tx", &tx), ("csrf", &csrf), ("decision", "approve")],
                )
                .await
        } else {
            return Outcome::Page(form);
        };
    }
    panic!("too many redirects")
}

/// An authorization request built by hand, to control every parameter.
pub struct Manual {
    pub url: String,
    pub verifier: String,
    pub state: String,
    pub nonce: String,
}

/// `/authorize?response_type=code&…` with PKCE S256, state and nonce, plus `extra`.
pub fn manual_authorize(
    base: &str,
    client_id: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> Manual {
    use base64::Engine;
    use sha2::Digest;
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let state = uuid::Uuid::new_v4().simple().to_string();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    Manual {
        url: url.to_string(),
        verifier,
        state,
        nonce,
    }
}

/// A raw token-endpoint (or revocation/introspection) call.
pub async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut request = app.http.post(app.url(path)).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

/// The authorization-code exchange at `/token` with client_secret_basic.
pub async fn exchange(
    app: &TestApp,
    code: &str,
    verifier: &str,
    client: (&str, &str),
) -> (u16, serde_json::Value) {
    let (status, _, body) = post_form(
        app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ],
        Some(client),
    )
    .await;
    (status, body)
}

/// Logs in through the pages and returns the code of a manual request.
pub async fn code(browser: &mut Browser, request: &Manual, citizen: &Citizen) -> String {
    let params = walk(browser, &request.url, Some(citizen)).await.params();
    params
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code: {params:?}"))
}
