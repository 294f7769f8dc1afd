//! The citizen's account life (issue #16): an account-wide revocation ends
//! SSO sessions and refresh families; password forgotten and password change.

use idp_tests::authenticator::Authenticator;
use idp_tests::browser::Browser;
use idp_tests::oidc::{self as kit, Citizen, Outcome, code, exchange, manual_authorize, post_form};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

both_backends!(
    a_suspension_ends_sessions_and_refresh_families,
    a_device_revocation_ends_sessions_and_refresh_families,
);

const CLIENT: &str = "rp";

/// Logs in with the password through a relying party's request asking for
/// `offline_access`; returns the refresh token. The browser keeps its SSO
/// session.
async fn login_with_refresh(
    app: &TestApp,
    browser: &mut Browser,
    citizen: &Citizen,
    secret: &str,
) -> String {
    let request = manual_authorize(&app.base, CLIENT, "openid offline_access", &[]);
    let code = code(browser, &request, citizen).await;
    let (status, tokens) = exchange(app, &code, &request.verifier, (CLIENT, secret)).await;
    assert_eq!(status, 200, "{tokens}");
    tokens["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned()
}

/// Whether the browser's SSO session still answers a new request without
/// the login form.
async fn sso_skips_login(app: &TestApp, browser: &mut Browser) -> bool {
    let request = manual_authorize(&app.base, CLIENT, "openid", &[]);
    match kit::walk(browser, &request.url, None).await {
        Outcome::Redirect(url) => url.query_pairs().any(|(k, _)| k == "code"),
        Outcome::FormPost(_) => true,
        Outcome::Page(page) => {
            assert!(page.body.contains("name=\"password\""), "{}", page.body);
            false
        }
    }
}

async fn refresh(app: &TestApp, secret: &str, token: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = post_form(
        app,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        Some((CLIENT, secret)),
    )
    .await;
    (status, body)
}

/// The account page's session: logged in at `/compte/connexion`.
async fn account_login(browser: &mut Browser, citizen: &Citizen) {
    let (_, csrf) = idp_tests::enrolment::form(browser, "/compte/connexion").await;
    let page = browser
        .post(
            "/compte/connexion",
            &[
                ("csrf", &csrf),
                ("email", &citizen.email),
                ("password", &citizen.password),
            ],
        )
        .await;
    let location = page.location.unwrap_or_default();
    assert!(location.ends_with("/compte"), "{location} {}", page.body);
}

/// Whether `/compte` still opens (a session) or sends to the login.
async fn account_page_opens(browser: &mut Browser) -> bool {
    let page = browser.get("/compte").await;
    match page.location.as_deref() {
        None => {
            assert_eq!(page.status, 200, "{}", page.body);
            true
        }
        Some(location) => {
            assert!(location.ends_with("/compte/connexion"), "{location}");
            false
        }
    }
}

async fn a_suspension_ends_sessions_and_refresh_families(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = kit::register_client(&app, CLIENT, &kit::client_metadata()).unwrap();
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    let old_refresh = login_with_refresh(&app, &mut browser, &citizen, &secret).await;
    let mut account = Browser::new(&app.base);
    account_login(&mut account, &citizen).await;
    assert!(
        sso_skips_login(&app, &mut browser).await,
        "the session works"
    );
    assert!(account_page_opens(&mut account).await);

    let row = app
        .core
        .db
        .read_blocking({
            let email = citizen.email.clone();
            move |conn| idp_server::store::accounts::by_email(conn, &email)
        })
        .unwrap()
        .unwrap();
    idp_server::support::suspend(&app.core.db, &row, "agent", "fraude")
        .await
        .unwrap();
    idp_server::support::unsuspend(&app.core.db, &row, "agent", None)
        .await
        .unwrap();

    // Lifted, the account works again, but what existed before the
    // suspension does not come back.
    assert!(!sso_skips_login(&app, &mut browser).await);
    assert!(!account_page_opens(&mut account).await);
    let (status, body) = refresh(&app, &secret, &old_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A new login after the suspension gets working tokens and session.
    let fresh = login_with_refresh(&app, &mut browser, &citizen, &secret).await;
    assert!(sso_skips_login(&app, &mut browser).await);
    let (status, body) = refresh(&app, &secret, &fresh).await;
    assert_eq!(status, 200, "{body}");
}

async fn a_device_revocation_ends_sessions_and_refresh_families(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = kit::register_client(&app, CLIENT, &kit::client_metadata()).unwrap();
    let (citizen, activation) =
        idp_tests::oidc::verified_with_activation_code(&app, "+33611223344").await;
    let mut device = Authenticator::new(app.http.clone(), &app.base, &app.base).unwrap();
    device
        .activate(
            &citizen.email,
            &citizen.password,
            &activation,
            "2580",
            "Pixel",
        )
        .await
        .expect("activation");
    let mut browser = Browser::new(&app.base);
    let old_refresh = login_with_refresh(&app, &mut browser, &citizen, &secret).await;
    let mut account = Browser::new(&app.base);
    account_login(&mut account, &citizen).await;
    assert!(sso_skips_login(&app, &mut browser).await);

    let device_id = device.device_id.clone().expect("device id");
    device.revoke(&device_id).await.expect("revoked");

    assert!(!sso_skips_login(&app, &mut browser).await);
    assert!(!account_page_opens(&mut account).await);
    let (status, body) = refresh(&app, &secret, &old_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A new password login works as before.
    let fresh = login_with_refresh(&app, &mut browser, &citizen, &secret).await;
    let (status, body) = refresh(&app, &secret, &fresh).await;
    assert_eq!(status, 200, "{body}");
}
