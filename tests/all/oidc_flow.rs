//! The code flow end to end with the `openidconnect` crate as the relying
//! party: signature, nonce, acr, at_hash and claims all checked by the library.

use std::collections::HashMap;

use idp_server::domain::acr::Acr;
use idp_tests::browser::Browser;
use idp_tests::oidc::{self as kit, Outcome, REDIRECT_URI, walk};
use idp_tests::rp;
use idp_tests::{Backend, TestApp, TestEnv, both_backends};
use openidconnect::{AccessTokenHash, AuthorizationCode, OAuth2TokenResponse, TokenResponse};

both_backends!(
    eidas1_login_with_openidconnect_rp,
    unverified_identity_releases_no_identity_claims,
    sso_session_prompt_and_max_age,
    consent_is_remembered_and_prompt_consent_asks_again,
    acr_above_reach_ends_with_access_denied,
    form_post_response_mode,
    claims_parameter_and_english_pages,
    subjects_are_pairwise_by_default_and_public_on_request,
    post_variants_of_authorize_userinfo_and_logout,
);

async fn setup(backend: Backend) -> (TestEnv, TestApp, String) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = kit::register_client(&app, "rp-main", &kit::client_metadata()).unwrap();
    (env, app, secret)
}

/// Exchanges the code and verifies everything an RP library verifies.
async fn finish(
    client: &rp::RpClient,
    request: rp::Request,
    params: &HashMap<String, String>,
) -> (rp::TokenResponse, rp::IdTokenClaims) {
    assert_eq!(
        params.get("state"),
        Some(request.state.secret()),
        "state round-trips"
    );
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&rp::http())
        .await
        .expect("token exchange");
    let id_token = token.id_token().expect("ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &request.nonce)
        .expect("ID token verifies")
        .clone();
    let expected = AccessTokenHash::from_token(
        token.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash");
    (token, claims)
}

async fn eidas1_login_with_openidconnect_rp(backend: Backend) {
    let (_env, app, secret) = setup(backend).await;
    let citizen = kit::create_citizen(&app, true);
    let client = rp::client(&app.base, "rp-main", Some(&secret), REDIRECT_URI).await;
    let request = rp::authorize(&client, &["profile", "email", "birth"], Some("eidas1"));
    let mut browser = Browser::new(&app.base);
    let params = walk(&mut browser, request.url.as_str(), Some(&citizen))
        .await
        .params();
    assert_eq!(params.get("iss"), Some(&app.base), "RFC 9207 iss");
    let (token, claims) = finish(&client, request, &params).await;

    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("eidas1")
    );
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(amr, vec!["pwd"]);
    assert!(claims.auth_time().is_some());
    assert!(
        claims.additional_claims().birthplace.is_none(),
        "identity claims go to userinfo"
    );
    let sub = claims.subject().clone();
    assert_eq!(sub.len(), 64, "pairwise subject");
    assert!(token.refresh_token().is_none(), "no offline_access asked");

    let userinfo: rp::Userinfo = client
        .user_info(token.access_token().clone(), Some(sub.clone()))
        .unwrap()
        .request_async(&rp::http())
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject(), &sub);
    let given = userinfo
        .given_name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned());
    assert_eq!(given.as_deref(), Some("Jeanne Marie"));
    let family = userinfo
        .family_name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned());
    assert_eq!(family.as_deref(), Some("DURAND"));
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some(citizen.email.as_str())
    );
    assert_eq!(userinfo.birthdate().map(|b| b.as_str()), Some("1985-02-28"));
    assert_eq!(
        userinfo.additional_claims(),
        &rp::Pivot {
            birthplace: Some("2A004".into()),
            birthcountry: Some("99100".into()),
        }
    );
    assert!(userinfo.phone_number().is_none(), "phone scope not asked");
}

async fn unverified_identity_releases_no_identity_claims(backend: Backend) {
    let (_env, app, secret) = setup(backend).await;
    let citizen = kit::create_citizen(&app, false);
    let client = rp::client(&app.base, "rp-main", Some(&secret), REDIRECT_URI).await;
    let request = rp::authorize(&client, &["identite_pivot", "email"], None);
    let mut browser = Browser::new(&app.base);
    let params = walk(&mut browser, request.url.as_str(), Some(&citizen))
        .await
        .params();
    let (token, claims) = finish(&client, request, &params).await;
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("eidas1")
    );
    let userinfo: rp::Userinfo = client
        .user_info(token.access_token().clone(), None)
        .unwrap()
        .request_async(&rp::http())
        .await
        .unwrap();
    assert_eq!(
        userinfo.email().map(|e| e.as_str()),
        Some(citizen.email.as_str())
    );
    assert!(userinfo.family_name().is_none());
    assert!(userinfo.birthdate().is_none());
    assert_eq!(userinfo.additional_claims(), &rp::Pivot::default());
}

async fn sso_session_prompt_and_max_age(backend: Backend) {
    let (_env, app, secret) = setup(backend).await;
    let citizen = kit::create_citizen(&app, true);
    let client = rp::client(&app.base, "rp-main", Some(&secret), REDIRECT_URI).await;
    let mut browser = Browser::new(&app.base);
    let first = rp::authorize(&client, &["email"], None);
    let params = walk(&mut browser, first.url.as_str(), Some(&citizen))
        .await
        .params();
    let (_, first_claims) = finish(&client, first, &params).await;

    // Same browser: no login page, no consent page, straight back with a code.
    let again = rp::authorize(&client, &["email"], None);
    let direct = browser.get(again.url.as_str()).await;
    assert_eq!(direct.status, 303);
    assert!(
        direct
            .location
            .as_deref()
            .unwrap()
            .starts_with(REDIRECT_URI)
    );
    let params: HashMap<String, String> = url::Url::parse(direct.location.as_deref().unwrap())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let (_, claims) = finish(&client, again, &params).await;
    assert_eq!(claims.auth_time(), first_claims.auth_time(), "same session");
    assert_eq!(claims.subject(), first_claims.subject());

    // prompt=login always shows the login page.
    let forced = format!(
        "{}&prompt=login",
        rp::authorize(&client, &["email"], None).url
    );
    let page = browser.get(&forced).await;
    assert!(page.location.as_deref().unwrap().contains("/login?tx="));

    // max_age=0 after a second: the session is too old.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let aged = format!("{}&max_age=0", rp::authorize(&client, &["email"], None).url);
    let page = browser.get(&aged).await;
    assert!(
        page.location.as_deref().unwrap().contains("/login?tx="),
        "max_age forces login"
    );
    // max_age large enough: reused.
    let fresh = format!(
        "{}&max_age=3600",
        rp::authorize(&client, &["email"], None).url
    );
    let page = browser.get(&fresh).await;
    assert!(page.location.as_deref().unwrap().starts_with(REDIRECT_URI));

    // prompt=none in a browser without session: login_required, with state and iss.
    let mut stranger = Browser::new(&app.base);
    let silent = rp::authorize(&client, &["email"], None);
    let params = walk(&mut stranger, &format!("{}&prompt=none", silent.url), None)
        .await
        .params();
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], *silent.state.secret());
    assert_eq!(params["iss"], app.base);
    // prompt=none with a session: silent success.
    let silent = rp::authorize(&client, &["email"], None);
    let params = walk(&mut browser, &format!("{}&prompt=none", silent.url), None)
        .await
        .params();
    assert!(params.contains_key("code"), "{params:?}");
}

async fn consent_is_remembered_and_prompt_consent_asks_again(backend: Backend) {
    let (_env, app, secret) = setup(backend).await;
    let citizen = kit::create_citizen(&app, true);
    let client = rp::client(&app.base, "rp-main", Some(&secret), REDIRECT_URI).await;
    let mut browser = Browser::new(&app.base);
    let first = rp::authorize(&client, &["email"], None);
    walk(&mut browser, first.url.as_str(), Some(&citizen))
        .await
        .params();

    // A wider request asks again, listing what is new.
    let wider = rp::authorize(&client, &["email", "birth"], None);
    let page = browser.get(wider.url.as_str()).await;
    let consent = page.location.unwrap();
    assert!(consent.contains("/consent?tx="), "{consent}");
    let page = browser.get(&consent).await;
    assert!(page.body.contains("Lieu de naissance"), "{}", page.body);
    // Browsers apply form-action to the redirect after a POST: the consent
    // form must be allowed to end at the client.
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9"),
        "{csp}"
    );
    // Listed as a person reads an identity: birth place, birth country, then email.
    let positions: Vec<usize> = [
        "Lieu de naissance",
        "Pays de naissance",
        "Adresse électronique",
    ]
    .iter()
    .map(|label| page.body.find(label).unwrap())
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    // Refusing sends access_denied.
    let (tx, csrf) = (page.field("tx").unwrap(), page.field("csrf").unwrap());
    let denied = browser
        .post(
            "/consent",
            &[("tx", &tx), ("csrf", &csrf), ("decision", "deny")],
        )
        .await;
    let url = url::Url::parse(&denied.location.unwrap()).unwrap();
    let params: HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], *wider.state.secret());

    // The original scope set needs no consent; prompt=consent shows it anyway.
    let same = rp::authorize(&client, &["email"], None);
    assert!(
        browser
            .get(same.url.as_str())
            .await
            .location
            .unwrap()
            .starts_with(REDIRECT_URI)
    );
    let forced = format!(
        "{}&prompt=consent",
        rp::authorize(&client, &["email"], None).url
    );
    assert!(
        browser
            .get(&forced)
            .await
            .location
            .unwrap()
            .contains("/consent?tx=")
    );
}

async fn acr_above_reach_ends_with_access_denied(backend: Backend) {
    let (_env, app, secret) = setup(backend).await;
    let citizen = kit::create_citizen(&app, true);
    let client = rp::client(&app.base, "rp-main", Some(&secret), REDIRECT_URI).await;
    // eidas3 needs a hardware authenticator, which no login offers yet.
    let high = idp_server::domain::client::ClientMetadata {
        allowed_acr: Acr::ALL.to_vec(),
        ..kit::client_metadata()
    };
    let high_secret = kit::register_client(&app, "rp-high", &high).unwrap();
    let high_client = rp::client(&app.base, "rp-high", Some(&high_secret), REDIRECT_URI).await;
    let mut browser = Browser::new(&app.base);
    // No password is asked: nothing offered can reach eidas3.
    let request = rp::authorize(&high_client, &["email"], Some("eidas3"));
    let Outcome::Page(page) = walk(&mut browser, request.url.as_str(), Some(&citizen)).await else {
        panic!("expected the level page");
    };
    assert_eq!(page.status, 403);
    // In plain words (#17): what is needed, not the level's name.
    assert!(page.body.contains("clé de sécurité"), "{}", page.body);
    assert!(!page.body.contains("élevé"), "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9"),
        "{csp}"
    );
    assert!(
        browser.cookie("sesame_session").is_none(),
        "nobody logged in"
    );
    let (tx, csrf) = (page.field("tx").unwrap(), page.field("csrf").unwrap());
    let back = browser
        .post("/niveau", &[("tx", &tx), ("csrf", &csrf)])
        .await;
    let params: HashMap<_, _> = url::Url::parse(&back.location.unwrap())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(params["error"], "access_denied");
    assert!(
        params["error_description"].contains("assurance level cannot be reached"),
        "{params:?}"
    );
    assert_eq!(params["state"], *request.state.secret());
    assert_eq!(params["iss"], app.base);

    // With an eidas1 session, eidas2 still needs a new (stronger) login,
    // which prompt=none forbids.
    let first = rp::authorize(&client, &["email"], Some("eidas1"));
    walk(&mut browser, first.url.as_str(), Some(&citizen))
        .await
        .params();
    let silent = rp::authorize(&client, &["email"], Some("eidas2"));
    let params = walk(&mut browser, &format!("{}&prompt=none", silent.url), None)
        .await
        .params();
    assert_eq!(params["error"], "login_required");
    // "eidas1 eidas2" means eidas1 is enough.
    let either = format!(
        "{}&acr_values=eidas1%20eidas2",
        rp::authorize(&client, &["email"], None).url
    );
    assert!(
        walk(&mut browser, &either, None)
            .await
            .params()
            .contains_key("code")
    );
    // Cancelling the login page says the person cancelled.
    let mut other = Browser::new(&app.base);
    let request = rp::authorize(&client, &["email"], None);
    let login = other.get(request.url.as_str()).await.location.unwrap();
    let page = other.get(&login).await;
    let (tx, csrf) = (page.field("tx").unwrap(), page.field("csrf").unwrap());
    let back = other
        .post("/login/cancel", &[("tx", &tx), ("csrf", &csrf)])
        .await;
    let params: HashMap<_, _> = url::Url::parse(&back.location.unwrap())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(params["error"], "access_denied");
    assert_eq!(
        params["error_description"],
        "the person cancelled the login"
    );
}

async fn form_post_response_mode(backend: Backend) {
    let (_env, app, secret) = setup(backend).await;
    let citizen = kit::create_citizen(&app, true);
    let client = rp::client(&app.base, "rp-main", Some(&secret), REDIRECT_URI).await;
    let mut browser = Browser::new(&app.base);
    let request = rp::authorize(&client, &["email"], None);
    let url = format!("{}&response_mode=form_post", request.url);
    let Outcome::FormPost(page) = walk(&mut browser, &url, Some(&citizen)).await else {
        panic!("expected a form_post page");
    };
    assert!(page.body.contains(&format!("action=\"{REDIRECT_URI}\"")));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action http://127.0.0.1:9"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"));
    let params: HashMap<String, String> = page.hidden_fields().into_iter().collect();
    assert_eq!(params["iss"], app.base);
    finish(&client, request, &params).await;
}

async fn claims_parameter_and_english_pages(backend: Backend) {
    let (_env, app, secret) = setup(backend).await;
    let citizen = kit::create_citizen(&app, true);
    let client = rp::client(&app.base, "rp-main", Some(&secret), REDIRECT_URI).await;
    let mut browser = Browser::new(&app.base);
    let request = rp::authorize(&client, &[], None);
    let claims =
        r#"{"userinfo":{"birthplace":{"essential":true}},"id_token":{"family_name":null}}"#;
    let url = format!(
        "{}&ui_locales=en&claims={}",
        request.url,
        url::form_urlencoded::byte_serialize(claims.as_bytes()).collect::<String>()
    );
    let login = browser.get(&url).await.location.unwrap();
    let page = browser.get(&login).await;
    assert!(page.body.contains("<html lang=\"en\">"));
    assert!(page.body.contains("Email address"));
    let params = walk(&mut browser, &url, Some(&citizen)).await.params();
    let (token, id_claims) = finish(&client, request, &params).await;
    let family = id_claims
        .family_name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned());
    assert_eq!(
        family.as_deref(),
        Some("DURAND"),
        "claims.id_token honoured"
    );
    let userinfo: rp::Userinfo = client
        .user_info(token.access_token().clone(), None)
        .unwrap()
        .request_async(&rp::http())
        .await
        .unwrap();
    assert_eq!(
        userinfo.additional_claims().birthplace.as_deref(),
        Some("2A004")
    );
    assert!(userinfo.email().is_none(), "only what was asked");
}

async fn subjects_are_pairwise_by_default_and_public_on_request(backend: Backend) {
    let (_env, app, secret) = setup(backend).await;
    let mut public = kit::client_metadata();
    public.subject_type = idp_server::domain::client::SubjectType::Public;
    let public_secret = kit::register_client(&app, "rp-public", &public).unwrap();
    let mut other_sector = kit::client_metadata();
    other_sector.sector_identifier = Some("autre-secteur.example.fr".into());
    let other_secret = kit::register_client(&app, "rp-other", &other_sector).unwrap();
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    let mut sub_of = HashMap::new();
    for (id, secret) in [
        ("rp-main", &secret),
        ("rp-public", &public_secret),
        ("rp-other", &other_secret),
    ] {
        let client = rp::client(&app.base, id, Some(secret), REDIRECT_URI).await;
        let request = rp::authorize(&client, &["email"], None);
        let params = walk(&mut browser, request.url.as_str(), Some(&citizen))
            .await
            .params();
        let (_, claims) = finish(&client, request, &params).await;
        sub_of.insert(id, claims.subject().to_string());
    }
    assert_eq!(sub_of["rp-public"], citizen.account_id);
    assert_ne!(sub_of["rp-main"], citizen.account_id);
    assert_ne!(sub_of["rp-main"], sub_of["rp-other"], "pairwise per sector");
}

async fn post_variants_of_authorize_userinfo_and_logout(backend: Backend) {
    let (_env, app, secret) = setup(backend).await;
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    // POST /authorize with a form body, and login_hint prefilling the email.
    let request = kit::manual_authorize(
        &app.base,
        "rp-main",
        "openid email",
        &[("login_hint", &citizen.email)],
    );
    let query: Vec<(String, String)> = url::Url::parse(&request.url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let form: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let page = browser.post("/authorize", &form).await;
    assert_eq!(page.status, 303);
    let login = browser.get(page.location.as_deref().unwrap()).await;
    assert_eq!(
        login.field("email").as_deref(),
        Some(citizen.email.as_str()),
        "login_hint prefills"
    );
    let params = walk(&mut browser, &request.url, Some(&citizen))
        .await
        .params();
    let (status, _, tokens) = kit::post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &request.verifier),
        ],
        Some(("rp-main", &secret)),
    )
    .await;
    assert_eq!(status, 200);
    let at = tokens["access_token"].as_str().unwrap();
    // POST /userinfo: bearer header, or form body (RFC 6750 §2.2).
    let by_header = app
        .http
        .post(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), 200);
    let by_form = app
        .http
        .post(app.url("/userinfo"))
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(by_form.status(), 200);
    let body: serde_json::Value = by_form.json().await.unwrap();
    assert_eq!(body["email"], citizen.email);
    // POST /logout.
    let id_token = tokens["id_token"].as_str().unwrap();
    let page = browser
        .post(
            "/logout",
            &[
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", kit::POST_LOGOUT_URI),
                ("state", "z"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some(format!("{}?state=z", kit::POST_LOGOUT_URI).as_str())
    );
    assert!(browser.cookie("sesame_session").is_none());
}
