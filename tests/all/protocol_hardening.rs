//! Protocol hardening (issue #14, continued in `hardening`): codes survive failed exchanges, repeated
//! parameters are refused, revocations stop access tokens at once, and https
//! deployments send HSTS and `Secure` cookies.

use std::time::Duration;

use clap::Parser;
use diesel::{
    Connection, ExpressionMethods, PgConnection, QueryDsl, RunQueryDsl, SqliteConnection,
};
use idp_admin::Cli;
use idp_server::domain::account::AccountState;
use idp_server::store::devices::{self, NewDevice};
use idp_server::store::schema::{accounts, refresh_tokens};
use idp_server::store::{now_millis, now_unix, token_revocations};
use idp_tests::browser::Browser;
use idp_tests::oidc::{
    self as kit, Citizen, REDIRECT_URI, code, exchange, manual_authorize, post_form,
};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};
use serde_json::Value;

both_backends!(
    a_code_survives_a_database_failure_while_issuing,
    another_clients_request_does_not_use_up_the_code,
    repeated_parameters_are_invalid_request,
    suspending_an_account_stops_its_access_tokens_at_once,
    revoking_a_device_stops_the_accounts_access_tokens,
    revoking_a_refresh_family_stops_its_access_tokens,
    grants_and_access_tokens_stand_by_the_accounts_state_and_last_revocation,
    a_refresh_token_that_outlived_a_revocation_is_refused,
    a_code_redeemed_after_a_suspension_or_a_revocation_is_refused,
);

/// Status and `WWW-Authenticate` of `/userinfo` with `token`.
async fn userinfo(app: &TestApp, token: &str) -> (u16, String) {
    let response = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

async fn introspect_active(app: &TestApp, token: &str, client: (&str, &str)) -> bool {
    let (status, _, body) = post_form(app, "/introspect", &[("token", token)], Some(client)).await;
    assert_eq!(status, 200, "{body}");
    body["active"].as_bool().unwrap()
}

/// Asserts the access token is refused the way RFC 6750 says, everywhere.
async fn assert_stopped(app: &TestApp, token: &str, client: (&str, &str), why: &str) {
    let (status, challenge) = userinfo(app, token).await;
    assert_eq!(status, 401, "{why}: userinfo");
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{why}: {challenge}"
    );
    assert!(
        !introspect_active(app, token, client).await,
        "{why}: introspection"
    );
}

async fn admin(env: &TestEnv, args: &[&str]) {
    let cli =
        Cli::try_parse_from(std::iter::once("idp-admin").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    idp_admin::run_with(cli, env.config(), None, &mut out)
        .await
        .unwrap();
}

/// A client, a citizen and a browser logged in nowhere yet.
async fn setup(env: &TestEnv) -> (TestApp, String, Citizen, Browser) {
    let app = env.spawn().await;
    let secret = kit::register_client(&app, "rp", &kit::client_metadata()).unwrap();
    let citizen = kit::create_citizen(&app, true);
    let browser = Browser::new(&app.base);
    (app, secret, citizen, browser)
}

/// Logs in (or reuses the SSO session) and redeems a code for `scope`.
async fn tokens(
    app: &TestApp,
    browser: &mut Browser,
    citizen: &Citizen,
    secret: &str,
    scope: &str,
) -> Value {
    let request = manual_authorize(&app.base, "rp", scope, &[]);
    let c = code(browser, &request, citizen).await;
    let (status, tokens) = exchange(app, &c, &request.verifier, ("rp", secret)).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// Another connection that holds the lock on `refresh_tokens` writes, as a
/// long migration or a stuck transaction would: SQLite's write lock (the
/// server gives up after its 5 s busy_timeout), or a PostgreSQL table lock
/// (the server's sessions give up after the database's 1 s lock_timeout).
enum WriteLock {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl WriteLock {
    /// Makes the server's PostgreSQL sessions give up on a lock after 1 s
    /// (before it starts, so every pooled connection has the setting).
    fn prepare(env: &TestEnv) {
        if let Some(pg) = &env.pg {
            let mut conn = PgConnection::establish(&pg.url).unwrap();
            diesel::sql_query(format!(
                "ALTER DATABASE \"{}\" SET lock_timeout = '1s'",
                pg.name
            ))
            .execute(&mut conn)
            .unwrap();
        }
    }

    fn hold(env: &TestEnv) -> Self {
        match &env.pg {
            Some(pg) => {
                let mut conn = PgConnection::establish(&pg.url).unwrap();
                diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
                diesel::sql_query("LOCK TABLE refresh_tokens IN EXCLUSIVE MODE")
                    .execute(&mut conn)
                    .unwrap();
                WriteLock::Postgres(conn)
            }
            None => {
                let path = env.dir.path().join("idp.db");
                let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
                diesel::sql_query("BEGIN EXCLUSIVE")
                    .execute(&mut conn)
                    .unwrap();
                WriteLock::Sqlite(conn)
            }
        }
    }

    fn release(self) {
        match self {
            WriteLock::Sqlite(mut conn) => diesel::sql_query("COMMIT").execute(&mut conn),
            WriteLock::Postgres(mut conn) => diesel::sql_query("COMMIT").execute(&mut conn),
        }
        .unwrap();
    }
}

async fn a_code_survives_a_database_failure_while_issuing(backend: Backend) {
    let env = TestEnv::new(backend);
    WriteLock::prepare(&env);
    let (app, secret, citizen, mut browser) = setup(&env).await;
    let client = ("rp", secret.as_str());
    let request = manual_authorize(&app.base, "rp", "openid offline_access", &[]);
    let c = code(&mut browser, &request, &citizen).await;

    // The refresh token cannot be stored: the exchange fails…
    let lock = WriteLock::hold(&env);
    let (status, body) = exchange(&app, &c, &request.verifier, client).await;
    lock.release();
    // A lock held too long is a fault, not a bug: 503, retry later.
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");

    // …and the client's retry with the same code gets its tokens.
    let (status, tokens) = exchange(&app, &c, &request.verifier, client).await;
    assert_eq!(status, 200, "the retry redeems the code: {tokens}");
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, at).await.0, 200);

    // Once tokens were issued, a replay still revokes them.
    let (status, body) = exchange(&app, &c, &request.verifier, client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_stopped(&app, at, client, "replayed code").await;
    let (status, _, body) = post_form(
        &app,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some(client),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

async fn another_clients_request_does_not_use_up_the_code(backend: Backend) {
    let env = TestEnv::new(backend);
    let (app, secret, citizen, mut browser) = setup(&env).await;
    let other = kit::register_client(&app, "rp-other", &kit::client_metadata()).unwrap();
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut browser, &request, &citizen).await;

    // Another registered client, with its own valid credentials.
    let (status, body) = exchange(&app, &c, &request.verifier, ("rp-other", &other)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The rightful client id with a wrong secret.
    let (status, body) = exchange(&app, &c, &request.verifier, ("rp", "not-the-secret")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Another client that names the rightful one in the form.
    let (status, _, body) = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &request.verifier),
            ("client_id", "rp"),
        ],
        Some(("rp-other", &other)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let (status, tokens) = exchange(&app, &c, &request.verifier, ("rp", &secret)).await;
    assert_eq!(
        status, 200,
        "the rightful client still redeems it: {tokens}"
    );
    assert_eq!(
        userinfo(&app, tokens["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn repeated_parameters_are_invalid_request(backend: Backend) {
    let env = TestEnv::new(backend);
    let (app, secret, citizen, mut browser) = setup(&env).await;

    // client_id or redirect_uri twice: which one to trust is unknown, so a page.
    for (name, value) in [
        ("client_id", "rp"),
        ("client_id", "rp-evil"),
        ("redirect_uri", REDIRECT_URI),
        ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
    ] {
        let request = manual_authorize(&app.base, "rp", "openid", &[(name, value)]);
        let response = app.http.get(&request.url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{name}={value}");
        assert!(response.headers().get("location").is_none());
        let body = response.text().await.unwrap();
        assert!(body.contains("plusieurs fois"), "{name}: {body}");
    }

    // Any other parameter twice, once the client and redirect URI are
    // trusted: back to the client with invalid_request (and its state).
    for (name, value) in [
        ("scope", "openid email"),
        ("response_type", "code"),
        (
            "code_challenge",
            "a-second-challenge-a-second-challenge-a-second",
        ),
        ("code_challenge_method", "S256"),
        ("nonce", "n2"),
    ] {
        let request = manual_authorize(&app.base, "rp", "openid", &[(name, value)]);
        let response = app.http.get(&request.url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 303, "{name}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(REDIRECT_URI), "{location}");
        let params = query_of(&location);
        assert_eq!(params["error"], "invalid_request", "{name}: {location}");
        assert!(params["error_description"].contains(name), "{location}");
        assert_eq!(params["state"], request.state);
    }

    // The same through a POSTed form.
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let mut pairs: Vec<(String, String)> = query_of(&request.url).into_iter().collect();
    pairs.push(("state".into(), "another-state".into()));
    let response = app
        .http
        .post(app.url("/authorize"))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let params = query_of(response.headers()["location"].to_str().unwrap());
    assert_eq!(params["error"], "invalid_request");
    let mut pairs: Vec<(String, String)> = query_of(&request.url).into_iter().collect();
    pairs.push(("client_id".into(), "rp".into()));
    let response = app
        .http
        .post(app.url("/authorize"))
        .form(&pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.headers().get("location").is_none());

    // At /token, before anything is checked or consumed.
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut browser, &request, &citizen).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("code", c.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", request.verifier.as_str()),
    ];
    for (name, value) in [
        ("grant_type", "authorization_code"),
        ("code", "another-code"),
        ("code", c.as_str()),
        ("redirect_uri", REDIRECT_URI),
        (
            "code_verifier",
            "another-verifier-another-verifier-another-verifier",
        ),
        ("grant_type", "refresh_token"),
    ] {
        let mut form = base.to_vec();
        form.push((name, value));
        let (status, _, body) = post_form(&app, "/token", &form, Some(("rp", &secret))).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{name}: {body}"
        );
        assert!(
            body["error_description"].as_str().unwrap().contains(name),
            "{body}"
        );
    }
    let (status, body) = exchange(&app, &c, &request.verifier, ("rp", &secret)).await;
    assert_eq!(status, 200, "refused requests consumed nothing: {body}");
}

async fn suspending_an_account_stops_its_access_tokens_at_once(backend: Backend) {
    let env = TestEnv::new(backend);
    let (app, secret, citizen, mut browser) = setup(&env).await;
    let client = ("rp", secret.as_str());
    let issued = tokens(&app, &mut browser, &citizen, &secret, "openid email").await;
    let at = issued["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, at).await.0, 200);
    assert!(introspect_active(&app, at, client).await);

    // The CLI is another process with its own ephemeral store (on the
    // embedded backend it cannot see the server's): only the database links them.
    admin(
        &env,
        &["accounts", "suspend", &citizen.email, "--reason", "fraud"],
    )
    .await;
    assert_stopped(&app, at, client, "suspended").await;

    // Lifting the suspension does not bring the old token back.
    admin(
        &env,
        &[
            "accounts",
            "unsuspend",
            &citizen.email,
            "--reason",
            "cleared",
        ],
    )
    .await;
    assert_stopped(&app, at, client, "issued before the suspension").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut fresh_browser = Browser::new(&app.base);
    let fresh = tokens(&app, &mut fresh_browser, &citizen, &secret, "openid").await;
    assert_eq!(
        userinfo(&app, fresh["access_token"].as_str().unwrap())
            .await
            .0,
        200,
        "tokens issued after the suspension work"
    );
}

async fn revoking_a_device_stops_the_accounts_access_tokens(backend: Backend) {
    let env = TestEnv::new(backend);
    let (app, secret, citizen, mut browser) = setup(&env).await;
    let client = ("rp", secret.as_str());
    let device = uuid::Uuid::new_v4().to_string();
    let (id, account) = (device.clone(), citizen.account_id.clone());
    app.core
        .db
        .write(move |conn| {
            devices::insert(
                conn,
                &NewDevice {
                    id: &id,
                    account_id: &account,
                    name: "Téléphone perdu",
                    public_jwk: "{}",
                    pin_verifier: "00",
                },
            )
        })
        .await
        .unwrap();
    let issued = tokens(&app, &mut browser, &citizen, &secret, "openid").await;
    let at = issued["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, at).await.0, 200);

    admin(
        &env,
        &[
            "accounts",
            "revoke-device",
            &citizen.email,
            "--device",
            &device,
            "--reason",
            "lost",
        ],
    )
    .await;
    assert_stopped(&app, at, client, "device revoked").await;

    tokio::time::sleep(Duration::from_millis(5)).await;
    let fresh = tokens(&app, &mut browser, &citizen, &secret, "openid").await;
    assert_eq!(
        userinfo(&app, fresh["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
}

async fn revoking_a_refresh_family_stops_its_access_tokens(backend: Backend) {
    let env = TestEnv::new(backend);
    let (app, secret, citizen, mut browser) = setup(&env).await;
    let client = ("rp", secret.as_str());
    let kept = tokens(&app, &mut browser, &citizen, &secret, "openid").await;
    let first = tokens(
        &app,
        &mut browser,
        &citizen,
        &secret,
        "openid offline_access",
    )
    .await;
    let (status, _, second) = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
        Some(client),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    for t in [&first, &second] {
        assert_eq!(
            userinfo(&app, t["access_token"].as_str().unwrap()).await.0,
            200
        );
    }

    let (status, _, _) = post_form(
        &app,
        "/revoke",
        &[
            ("token", second["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "refresh_token"),
        ],
        Some(client),
    )
    .await;
    assert_eq!(status, 200);
    for t in [&first, &second] {
        assert_stopped(&app, t["access_token"].as_str().unwrap(), client, "family").await;
    }
    assert_eq!(
        userinfo(&app, kept["access_token"].as_str().unwrap())
            .await
            .0,
        200,
        "tokens of other grants are untouched"
    );
}

// ------------------------------------------------------------ transport (backend-independent)

async fn console(app: &TestApp) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = idp_admin::console::server(app.core.clone(), listener)
        .await
        .unwrap();
    tokio::spawn(server);
    base
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn hsts(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("strict-transport-security")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Set-Cookie headers and HSTS of the console's login page and logout.
async fn console_transport(app: &TestApp) -> Vec<(Vec<String>, Option<String>)> {
    let base = console(app).await;
    let mut seen = Vec::new();
    let login = app
        .http
        .get(format!("{base}/connexion"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 200);
    seen.push((set_cookies(&login), hsts(&login)));
    let logout = app
        .http
        .post(format!("{base}/deconnexion"))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    seen.push((set_cookies(&logout), hsts(&logout)));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_public_urls_send_hsts_and_secure_cookies() {
    let env = TestEnv::new(Backend::Embedded);

    // Plain http (local development): no HSTS, no Secure.
    let mut config = env.config();
    config.console.public_url = "http://localhost:8081".into();
    let app = env.spawn_with(config).await;
    let page = app.get("/healthz").await;
    assert_eq!(hsts(&page), None);
    let authorize = app
        .http
        .get(manual_authorize(&app.base, "rp", "openid", &[]).url)
        .send()
        .await
        .unwrap();
    assert!(
        set_cookies(&authorize)
            .iter()
            .all(|c| !c.contains("Secure"))
    );
    for (cookies, hsts) in console_transport(&app).await {
        assert!(!cookies.is_empty());
        assert!(cookies.iter().all(|c| !c.contains("Secure")), "{cookies:?}");
        assert_eq!(hsts, None);
    }
    app.stop().await;

    // https public URLs, served on plain HTTP behind a (pretend) proxy.
    let mut config = env.config();
    config.console.public_url = "https://console.sesame.example".into();
    let app = env.spawn_with(config).await;
    let replica = env.spawn_replica("https://sesame.example").await;
    for path in ["/healthz", "/.well-known/openid-configuration", "/nowhere"] {
        let response = replica.get(path).await;
        assert_eq!(
            hsts(&response).as_deref(),
            Some("max-age=31536000; includeSubDomains"),
            "{path}"
        );
    }
    let authorize = replica
        .http
        .get(manual_authorize(&replica.base, "rp", "openid", &[]).url)
        .send()
        .await
        .unwrap();
    let cookies = set_cookies(&authorize);
    assert!(!cookies.is_empty());
    assert!(cookies.iter().all(|c| c.contains("Secure")), "{cookies:?}");
    for (cookies, hsts) in console_transport(&app).await {
        assert!(!cookies.is_empty());
        assert!(
            cookies
                .iter()
                .all(|c| c.contains("Secure") && c.contains("HttpOnly")),
            "{cookies:?}"
        );
        assert_eq!(hsts.as_deref(), Some("max-age=31536000; includeSubDomains"));
    }
}

/// `token_revocations::grant_standing` (the code and refresh grants' one read) and
/// `access_token_standing` (userinfo's): the account with its identity
/// while it exists, is not suspended, and was not revoked after the
/// authentication or the token's issue (nor its refresh family).
async fn grants_and_access_tokens_stand_by_the_accounts_state_and_last_revocation(
    backend: Backend,
) {
    let env = TestEnv::new(backend);
    let (app, _secret, citizen, _browser) = setup(&env).await;
    let standing = |account: &str, auth_time: i64| {
        let id = account.to_owned();
        app.core
            .db
            .read_blocking(move |conn| token_revocations::grant_standing(conn, &id, auth_time))
            .unwrap()
    };
    let token_standing = |account: &str, issued_ms: i64, family: Option<&str>| {
        let (id, family) = (account.to_owned(), family.map(str::to_owned));
        app.core
            .db
            .read_blocking(move |conn| {
                token_revocations::access_token_standing(conn, &id, issued_ms, family.as_deref())
            })
            .unwrap()
            .map(|(account, identity, _)| (account.id, identity.map(|i| i.family_name)))
    };
    let id = citizen.account_id.clone();
    let now = now_unix();
    // Never revoked: no row in token_revocations, and the grant stands.
    let (account, identity, _) = standing(&id, now).expect("stands without a revocation row");
    assert_eq!(account.id, id);
    assert_eq!(identity.expect("identity").family_name, "DURAND");
    assert!(standing("no-such-account", now).is_none());
    let with_identity = Some((id.clone(), Some("DURAND".to_owned())));
    assert_eq!(token_standing(&id, now * 1000, None), with_identity);
    assert_eq!(
        token_standing(&id, now * 1000, Some("no-such-family")),
        with_identity
    );
    assert_eq!(token_standing("no-such-account", now * 1000, None), None);
    // A revoked family stops its tokens.
    let revoked_family = id.clone();
    app.core
        .db
        .write_blocking(move |conn| {
            diesel::insert_into(refresh_tokens::table)
                .values((
                    refresh_tokens::token_hash.eq("h"),
                    refresh_tokens::family_id.eq("gone"),
                    refresh_tokens::account_id.eq(&revoked_family),
                    refresh_tokens::client_id.eq("rp"),
                    refresh_tokens::grant_data.eq("{}"),
                    refresh_tokens::created_at.eq(now),
                    refresh_tokens::expires_at.eq(now + 60),
                    refresh_tokens::revoked_at.eq(Some(now)),
                ))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(token_standing(&id, now * 1000, Some("gone")), None);

    // Revoked in the middle of second now + 10: earlier authentications
    // fall, one in that very second is given the benefit of the doubt.
    let revoked = id.clone();
    app.core
        .db
        .write_blocking(move |conn| {
            token_revocations::revoke_all(conn, &revoked, (now + 10) * 1000 + 500)
        })
        .unwrap();
    assert!(standing(&id, now + 9).is_none());
    assert!(standing(&id, now + 10).is_some());
    assert!(standing(&id, now + 11).is_some());
    // Access tokens carry their issue in ms: issued at or before, refused.
    let at_ms = (now + 10) * 1000 + 500;
    assert_eq!(token_standing(&id, at_ms, None), None);
    assert_eq!(token_standing(&id, at_ms + 1, None), with_identity);

    // Suspended: nothing stands, whenever it was authenticated.
    let suspended = id.clone();
    app.core
        .db
        .write_blocking(move |conn| {
            diesel::update(accounts::table.filter(accounts::id.eq(&suspended)))
                .set(accounts::state.eq(AccountState::Suspended))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
    assert!(standing(&id, now + 11).is_none());
    assert_eq!(token_standing(&id, at_ms + 1, None), None);
}

/// A refresh token stored by a grant that raced an account-wide revocation
/// (so not marked revoked) is refused by the grant's standing check.
async fn a_refresh_token_that_outlived_a_revocation_is_refused(backend: Backend) {
    let env = TestEnv::new(backend);
    let (app, secret, citizen, mut browser) = setup(&env).await;
    let issued = tokens(
        &app,
        &mut browser,
        &citizen,
        &secret,
        "openid offline_access",
    )
    .await;
    let refresh = issued["refresh_token"].as_str().unwrap().to_owned();
    // After the authentication's second, the revocation; then the token
    // unmarked, as if stored after it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let id = citizen.account_id.clone();
    app.core
        .db
        .write_blocking(move |conn| {
            token_revocations::revoke_all(conn, &id, now_millis())?;
            diesel::update(refresh_tokens::table.filter(refresh_tokens::account_id.eq(&id)))
                .set(refresh_tokens::revoked_at.eq(None::<i64>))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
    let (status, _, body) = post_form(
        &app,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some(("rp", &secret)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no longer active"),
        "{body}"
    );
}

/// A code whose account was suspended, or had its tokens revoked, between
/// the login and the redemption issues nothing.
async fn a_code_redeemed_after_a_suspension_or_a_revocation_is_refused(backend: Backend) {
    let env = TestEnv::new(backend);
    let (app, secret, citizen, mut browser) = setup(&env).await;
    let refused = |body: &Value| {
        body["error"] == "invalid_grant"
            && body["error_description"]
                .as_str()
                .unwrap()
                .contains("no longer active")
    };
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut browser, &request, &citizen).await;
    admin(
        &env,
        &["accounts", "suspend", &citizen.email, "--reason", "fraud"],
    )
    .await;
    let (status, body) = exchange(&app, &c, &request.verifier, ("rp", &secret)).await;
    assert!(
        status == 400 && refused(&body),
        "suspended: {status} {body}"
    );
    admin(
        &env,
        &[
            "accounts",
            "unsuspend",
            &citizen.email,
            "--reason",
            "cleared",
        ],
    )
    .await;

    // After the suspension, a new login's code works…
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut fresh = Browser::new(&app.base);
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut fresh, &request, &citizen).await;
    let (status, body) = exchange(&app, &c, &request.verifier, ("rp", &secret)).await;
    assert_eq!(status, 200, "{body}");

    // …and one whose tokens are revoked after the login's second does not.
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut fresh, &request, &citizen).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let id = citizen.account_id.clone();
    app.core
        .db
        .write_blocking(move |conn| token_revocations::revoke_all(conn, &id, now_millis()))
        .unwrap();
    let (status, body) = exchange(&app, &c, &request.verifier, ("rp", &secret)).await;
    assert!(status == 400 && refused(&body), "revoked: {status} {body}");
}
