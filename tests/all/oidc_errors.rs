//! Every bad input of the protocol endpoints gets the error the specs define,
//! and a page (never a redirect) while the client or redirect URI is untrusted.

use std::collections::HashMap;
use std::time::Duration;

use idp_tests::browser::Browser;
use idp_tests::oidc::{self as kit, REDIRECT_URI, code, manual_authorize, post_form};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

both_backends!(
    authorize_errors_before_the_redirect_uri_is_trusted_are_pages,
    authorize_errors_after_go_back_with_error_state_and_iss,
    code_misuse_is_invalid_grant,
    token_request_errors,
    userinfo_errors,
    password_attempts_are_throttled_atomically,
    login_forms_are_bound_to_their_browser,
    every_login_form_refuses_a_missing_or_empty_token,
);

async fn setup(backend: Backend, code_ttl: Option<u64>) -> (TestEnv, TestApp, String) {
    let env = TestEnv::new(backend);
    let mut config = env.config();
    if let Some(ttl) = code_ttl {
        config.oidc.code_ttl_secs = ttl;
    }
    let app = env.spawn_with(config).await;
    let secret = kit::register_client(&app, "rp", &kit::client_metadata()).unwrap();
    (env, app, secret)
}

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn authorize_errors_before_the_redirect_uri_is_trusted_are_pages(backend: Backend) {
    let (_env, app, _) = setup(backend, None).await;
    let mut browser = Browser::new(&app.base);
    let cases = [
        (
            "/authorize?response_type=code&scope=openid",
            "client_id manquant",
        ),
        (
            "/authorize?client_id=nobody&redirect_uri=http://127.0.0.1:9/callback&response_type=code",
            "pas connu",
        ),
        (
            "/authorize?client_id=rp&response_type=code&scope=openid",
            "redirect_uri manquant",
        ),
        (
            "/authorize?client_id=rp&redirect_uri=http://127.0.0.1:9/callback%3Fextra%3D1&response_type=code&scope=openid",
            "ne correspond pas",
        ),
        (
            "/authorize?client_id=rp&redirect_uri=https://evil.example/callback&response_type=code&scope=openid",
            "ne correspond pas",
        ),
    ];
    for (url, needle) in cases {
        let page = browser.get(url).await;
        assert_eq!(page.status, 400, "{url}");
        assert!(page.location.is_none(), "{url}: never redirected");
        assert!(page.body.contains(needle), "{url}: {}", page.body);
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(page.headers["x-frame-options"], "DENY");
    }
}

async fn authorize_errors_after_go_back_with_error_state_and_iss(backend: Backend) {
    let (_env, app, _) = setup(backend, None).await;
    let mut public = kit::client_metadata();
    public.auth_method = idp_server::domain::client::ClientAuthMethod::None;
    assert!(kit::register_client(&app, "rp-public", &public).is_none());
    let mut browser = Browser::new(&app.base);
    let base = format!("/authorize?client_id=rp&redirect_uri={REDIRECT_URI}&state=s%201");
    let pkce =
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{base}&scope=openid{pkce}"),
            "invalid_request",
            "response_type",
        ),
        (
            format!("{base}&response_type=token&scope=openid{pkce}"),
            "unsupported_response_type",
            "token",
        ),
        (
            format!("{base}&response_type=code%20id_token&scope=openid{pkce}"),
            "unsupported_response_type",
            "code",
        ),
        (
            format!("{base}&response_type=code&scope=email{pkce}"),
            "invalid_scope",
            "openid",
        ),
        (
            format!("{base}&response_type=code&scope=openid"),
            "invalid_request",
            "PKCE",
        ),
        (
            format!(
                "{base}&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=plain"
            ),
            "invalid_request",
            "S256",
        ),
        (
            format!(
                "{base}&response_type=code&scope=openid&code_challenge=short&code_challenge_method=S256"
            ),
            "invalid_request",
            "code_challenge",
        ),
        (
            format!("{base}&response_type=code&scope=openid{pkce}&prompt=none%20login"),
            "invalid_request",
            "prompt",
        ),
        (
            format!("{base}&response_type=code&scope=openid{pkce}&max_age=-1"),
            "invalid_request",
            "max_age",
        ),
        (
            format!("{base}&response_type=code&scope=openid{pkce}&claims=%7Bnot-json"),
            "invalid_request",
            "claims",
        ),
        (
            format!("{base}&response_type=code&scope=openid{pkce}&request=eyJ"),
            "request_not_supported",
            "request",
        ),
        (
            format!("{base}&response_type=code&scope=openid{pkce}&request_uri=https://x"),
            "request_uri_not_supported",
            "request_uri",
        ),
        (
            format!("{base}&response_type=code&scope=openid{pkce}&acr_values=eidas3"),
            "invalid_request",
            "eidas3",
        ),
        (
            format!("{base}&response_type=code&scope=openid{pkce}&response_mode=fragment"),
            "invalid_request",
            "response_mode",
        ),
        (
            format!(
                "/authorize?client_id=rp-public&redirect_uri={REDIRECT_URI}&state=s%201&response_type=code&scope=openid"
            ),
            "invalid_request",
            "PKCE",
        ),
    ];
    for (url, error, needle) in cases {
        let page = browser.get(&url).await;
        assert_eq!(page.status, 303, "{url}");
        let location = page.location.unwrap();
        assert!(location.starts_with(REDIRECT_URI), "{location}");
        let params = query(&location);
        assert_eq!(params["error"], error, "{url}");
        assert!(
            params["error_description"].contains(needle),
            "{url}: {params:?}"
        );
        assert_eq!(params["state"], "s 1", "state echoed");
        assert_eq!(params["iss"], app.base, "RFC 9207");
    }
    // Unknown parameters are ignored, display accepted.
    let fine = manual_authorize(
        &app.base,
        "rp",
        "openid",
        &[("display", "touch"), ("foo", "bar")],
    );
    assert!(
        browser
            .get(&fine.url)
            .await
            .location
            .unwrap()
            .contains("/login?tx=")
    );
}

async fn exchange(
    app: &TestApp,
    client: (&str, &str),
    code: &str,
    verifier: Option<&str>,
    redirect_uri: &str,
) -> (u16, serde_json::Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let (status, headers, body) = post_form(app, "/token", &form, Some(client)).await;
    assert_eq!(headers["cache-control"], "no-store");
    (status, body)
}

async fn code_misuse_is_invalid_grant(backend: Backend) {
    let (_env, app, secret) = setup(backend, Some(1)).await;
    let other = kit::register_client(&app, "rp-other", &kit::client_metadata()).unwrap();
    let mut lax = kit::client_metadata();
    lax.require_pkce = false;
    let lax_secret = kit::register_client(&app, "rp-lax", &lax).unwrap();
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    let client = ("rp", secret.as_str());

    // Wrong verifier, wrong redirect URI, another client: refused, code still spent.
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut browser, &request, &citizen).await;
    let (status, body) = exchange(
        &app,
        client,
        &c,
        Some("wrong-verifier-wrong-verifier-wrong-verifier-1"),
        REDIRECT_URI,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("code_verifier")
    );
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut browser, &request, &citizen).await;
    let (_, body) = exchange(&app, client, &c, None, REDIRECT_URI).await;
    assert_eq!(body["error"], "invalid_grant", "missing verifier");
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut browser, &request, &citizen).await;
    let (_, body) = exchange(
        &app,
        client,
        &c,
        Some(&request.verifier),
        "http://127.0.0.1:9/other",
    )
    .await;
    assert_eq!(body["error"], "invalid_grant", "redirect_uri mismatch");
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut browser, &request, &citizen).await;
    let (_, body) = exchange(
        &app,
        ("rp-other", &other),
        &c,
        Some(&request.verifier),
        REDIRECT_URI,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("another client")
    );

    // A verifier without a challenge is refused (client not requiring PKCE).
    let mut url = url::Url::parse(&format!("{}/authorize", app.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "rp-lax")
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", "openid");
    let params = kit::walk(&mut browser, url.as_str(), Some(&citizen))
        .await
        .params();
    let (_, body) = exchange(
        &app,
        ("rp-lax", &lax_secret),
        &params["code"],
        Some("an-unexpected-verifier-an-unexpected-verifier"),
        REDIRECT_URI,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no code_challenge")
    );

    // Replay: the second use fails and revokes the tokens of the first.
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut browser, &request, &citizen).await;
    let (status, tokens) = exchange(&app, client, &c, Some(&request.verifier), REDIRECT_URI).await;
    assert_eq!(status, 200, "{tokens}");
    let at = tokens["access_token"].as_str().unwrap();
    let (status, body) = exchange(&app, client, &c, Some(&request.verifier), REDIRECT_URI).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already been used")
    );
    let userinfo = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(
        userinfo.status(),
        401,
        "tokens of a replayed code are revoked"
    );

    // Expiry (code_ttl_secs = 1 in this test).
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let c = code(&mut browser, &request, &citizen).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (_, body) = exchange(&app, client, &c, Some(&request.verifier), REDIRECT_URI).await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

async fn token_request_errors(backend: Backend) {
    let (_env, app, secret) = setup(backend, None).await;
    let client = Some(("rp", secret.as_str()));
    let (status, _, body) = post_form(&app, "/token", &[("code", "x")], client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _, body) = post_form(&app, "/token", &[("grant_type", "password")], client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, _, body) = post_form(
        &app,
        "/token",
        &[("grant_type", "authorization_code")],
        client,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _, body) = post_form(
        &app,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
        client,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, headers, body) = post_form(
        &app,
        "/token",
        &[("grant_type", "authorization_code"), ("code", "x")],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(headers.contains_key("www-authenticate"));
    // Not a form at all.
    let response = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    // GET is not allowed.
    assert_eq!(app.get("/token").await.status(), 405);
}

async fn userinfo_errors(backend: Backend) {
    let (_env, app, _) = setup(backend, None).await;
    let response = app.get("/userinfo").await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"sesame\""
    );
    let response = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

async fn login_attempt(browser: &mut Browser, app: &TestApp, email: &str, password: &str) -> u16 {
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let login = browser.get(&request.url).await.location.unwrap();
    let page = browser.get(&login).await;
    let (tx, csrf) = (page.field("tx").unwrap(), page.field("csrf").unwrap());
    browser
        .post(
            "/login",
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
            ],
        )
        .await
        .status
}

async fn password_attempts_are_throttled_atomically(backend: Backend) {
    let (_env, app, _) = setup(backend, None).await;
    let citizen = kit::create_citizen(&app, true);
    // Wrong password and unknown email answer the same.
    let mut browser = Browser::new(&app.base);
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let login = browser.get(&request.url).await.location.unwrap();
    let page = browser.get(&login).await;
    let (tx, csrf) = (page.field("tx").unwrap(), page.field("csrf").unwrap());
    let wrong = browser
        .post(
            "/login",
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("email", &citizen.email),
                ("password", "nope"),
            ],
        )
        .await;
    let unknown = browser
        .post(
            "/login",
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("email", "nobody@example.fr"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_eq!((wrong.status, unknown.status), (400, 400));
    assert!(
        wrong
            .body
            .contains("Adresse électronique ou mot de passe incorrect.")
    );
    assert!(
        unknown
            .body
            .contains("Adresse électronique ou mot de passe incorrect.")
    );
    assert!(
        wrong.body.contains(&format!("value=\"{}\"", citizen.email)),
        "email kept"
    );

    // 10 wrong passwords at once: the per-account limit (5 attempts per window,
    // the one above included) lets exactly 4 more through, however they race.
    let attempts = futures_util::future::join_all((0..10).map(|_| {
        let app = &app;
        let email = citizen.email.clone();
        async move {
            let mut browser = Browser::new(&app.base);
            login_attempt(&mut browser, app, &email, "wrong password").await
        }
    }))
    .await;
    let evaluated = attempts.iter().filter(|s| **s == 400).count();
    let throttled = attempts.iter().filter(|s| **s == 429).count();
    assert_eq!((evaluated, throttled), (4, 6), "{attempts:?}");
    // Even the right password is refused now.
    let mut browser = Browser::new(&app.base);
    assert_eq!(
        login_attempt(&mut browser, &app, &citizen.email, &citizen.password).await,
        429
    );
}

async fn login_forms_are_bound_to_their_browser(backend: Backend) {
    let (_env, app, _) = setup(backend, None).await;
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let login = browser.get(&request.url).await.location.unwrap();
    let page = browser.get(&login).await;
    let tx = page.field("tx").unwrap();
    // Forged CSRF token.
    let forged = browser
        .post(
            "/login",
            &[
                ("tx", &tx),
                ("csrf", "forged"),
                ("email", &citizen.email),
                ("password", &citizen.password),
            ],
        )
        .await;
    assert_eq!(forged.status, 400);
    assert!(
        forged.body.contains("pas été envoyé depuis la page"),
        "{}",
        forged.body
    );
    // Another browser with the right fields (stolen link): unknown request.
    let csrf = page.field("csrf").unwrap();
    let mut attacker = Browser::new(&app.base);
    let stolen = attacker
        .post(
            "/login",
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("email", &citizen.email),
                ("password", &citizen.password),
            ],
        )
        .await;
    assert_eq!(stolen.status, 400);
    assert!(attacker.cookie("sesame_session").is_none());
    assert!(attacker.get(&login).await.body.contains("expiré"));
    // Expired or unknown transaction.
    assert_eq!(browser.get("/login?tx=nope").await.status, 400);
    // The legitimate browser can still finish.
    let done = browser
        .post(
            "/login",
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("email", &citizen.email),
                ("password", &citizen.password),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
}

/// Each form of a login request (`CsrfForm<_, LoginRequest>`) and the logout
/// confirmation refuse a missing or empty token, and leave the request usable.
async fn every_login_form_refuses_a_missing_or_empty_token(backend: Backend) {
    let (_env, app, _) = setup(backend, None).await;
    let mut browser = Browser::new(&app.base);
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let login = browser.get(&request.url).await.location.unwrap();
    let tx = browser.get(&login).await.field("tx").unwrap();
    let paths = [
        "/login",
        "/login/cancel",
        "/login/telephone",
        "/consent",
        "/niveau",
    ];
    for path in paths {
        for form in [vec![("tx", tx.as_str())], vec![("tx", &tx), ("csrf", "")]] {
            let page = browser.post(path, &form).await;
            assert_eq!(page.status, 400, "{path} {form:?}");
            assert!(
                page.body.contains("pas été envoyé depuis la page"),
                "{path}: {}",
                page.body
            );
            assert!(page.location.is_none(), "{path}");
        }
    }
    assert_eq!(
        browser.get(&login).await.status,
        200,
        "the request lives on"
    );
    // No session cookie: an empty token meets no empty expected token.
    let page = browser.post("/logout/confirm", &[("csrf", "")]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("pas été envoyé depuis la page"));
}
