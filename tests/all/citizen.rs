//! The citizen's account life (issue #16): an account-wide revocation ends
//! SSO sessions and refresh families; password forgotten and password change.

use idp_server::store::audit::{self, AuditRow};
use idp_tests::browser::{Browser, Page};
use idp_tests::enrolment::{code_sent_to, form, messages_to};
use idp_tests::oidc::{self as kit, Citizen, Outcome, code, exchange, manual_authorize, post_form};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

both_backends!(
    a_suspension_ends_sessions_and_refresh_families,
    a_device_revocation_ends_sessions_and_refresh_families,
    a_forgotten_password_is_reset_by_email_code,
    reset_codes_follow_the_enrolment_rules,
    an_unknown_address_gets_the_same_answer,
    a_reset_does_not_allow_eidas2,
    the_password_is_changed_from_the_account_page,
    the_current_password_goes_through_the_attempt_limit,
);

pub const CLIENT: &str = "rp";

/// Logs in with the password through a relying party's request asking for
/// `offline_access`; returns the refresh token. The browser keeps its SSO
/// session.
pub async fn login_with_refresh(
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
pub async fn sso_skips_login(app: &TestApp, browser: &mut Browser) -> bool {
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

pub async fn refresh(app: &TestApp, secret: &str, token: &str) -> (u16, serde_json::Value) {
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
pub async fn account_login(browser: &mut Browser, citizen: &Citizen) {
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
pub async fn account_page_opens(browser: &mut Browser) -> bool {
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
    let row = idp_server::views::Account::from(row);
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
    let device = crate::citizen_block::activate(&app, &citizen, &activation).await;
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

// ------------------------------------------------------------------ password forgotten

const RESET: &str = "/compte/mot-de-passe-oublie";
const NEW_PASSWORD: &str = "Tr3s-bien choisi, celui-la";

pub async fn entries(app: &TestApp, account_id: &str) -> Vec<AuditRow> {
    let id = account_id.to_owned();
    app.core
        .db
        .read(move |conn| audit::for_subject(conn, &id, 1000))
        .await
        .unwrap()
}

fn count(entries: &[AuditRow], action: &str) -> usize {
    entries.iter().filter(|e| e.action == action).count()
}

fn path_of(page: &Page) -> String {
    let location = page.location.clone().unwrap_or_default();
    let url = url::Url::parse(&location)
        .unwrap_or_else(|_| url::Url::parse(&format!("http://x{location}")).unwrap());
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Opens the reset from the account login page's link and submits `email`.
async fn ask_reset(browser: &mut Browser, email: &str) -> Page {
    let (login, _) = form(browser, "/compte/connexion").await;
    assert!(
        login.body.contains(&format!("href=\"{RESET}\"")),
        "{}",
        login.body
    );
    let (_, csrf) = form(browser, RESET).await;
    browser
        .post(RESET, &[("csrf", &csrf), ("email", email)])
        .await
}

async fn post_on(browser: &mut Browser, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
    let (_, csrf) = form(browser, page).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post(action, &all).await
}

async fn post_code(browser: &mut Browser, code: &str) -> Page {
    let action = "/compte/mot-de-passe-oublie/code";
    post_on(browser, action, action, &[("code", code)]).await
}

async fn post_new_password(browser: &mut Browser, password: &str, confirmation: &str) -> Page {
    let action = "/compte/mot-de-passe-oublie/nouveau";
    let fields = [
        ("password", password),
        ("password_confirmation", confirmation),
    ];
    post_on(browser, action, action, &fields).await
}

/// Whether `email` + `password` opens the account page.
pub async fn password_works(app: &TestApp, email: &str, password: &str) -> bool {
    let mut browser = Browser::new(&app.base);
    let (_, csrf) = form(&mut browser, "/compte/connexion").await;
    let page = browser
        .post(
            "/compte/connexion",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await;
    page.location.is_some_and(|l| l.ends_with("/compte"))
}

/// The outbox's notices that the password changed.
async fn change_notices(app: &TestApp, to: &str) -> usize {
    messages_to(app, to)
        .await
        .iter()
        .filter(|m| {
            m.text.contains("Votre mot de passe a été modifié")
                && m.text.contains("Si ce n'est pas vous")
                && m.text.contains("Your password was changed")
        })
        .count()
}

async fn a_forgotten_password_is_reset_by_email_code(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = kit::register_client(&app, CLIENT, &kit::client_metadata()).unwrap();
    let citizen = kit::create_citizen(&app, true);
    let mut rp_browser = Browser::new(&app.base);
    let old_refresh = login_with_refresh(&app, &mut rp_browser, &citizen, &secret).await;
    let mut account = Browser::new(&app.base);
    account_login(&mut account, &citizen).await;

    // The partner login form links to the reset too.
    let request = manual_authorize(&app.base, CLIENT, "openid", &[]);
    let mut other = Browser::new(&app.base);
    let start = other.get(&request.url).await;
    let login = other.get(start.location.as_deref().unwrap()).await;
    assert!(
        login.body.contains(&format!("href=\"{RESET}\"")),
        "{}",
        login.body
    );

    let mut browser = Browser::new(&app.base);
    let sent = ask_reset(&mut browser, &citizen.email).await;
    assert_eq!(
        (sent.status, path_of(&sent).as_str()),
        (303, "/compte/mot-de-passe-oublie/code")
    );
    let code = code_sent_to(&app, &citizen.email).await;
    // Its own code, not an enrolment code.
    let mail = messages_to(&app, &citizen.email).await;
    assert!(
        mail[0]
            .subject
            .as_deref()
            .unwrap_or("")
            .contains("mot de passe")
    );
    // The new-password page needs the code first.
    let early = browser.get("/compte/mot-de-passe-oublie/nouveau").await;
    assert_eq!(path_of(&early), "/compte/mot-de-passe-oublie/code");

    let verified = post_code(&mut browser, &code).await;
    assert_eq!(
        path_of(&verified),
        "/compte/mot-de-passe-oublie/nouveau",
        "{}",
        verified.body
    );

    // A weak password is refused on the same page, which keeps its form.
    let weak = post_new_password(&mut browser, "azerty123456", "azerty123456").await;
    assert_eq!(weak.status, 400);
    assert!(weak.body.contains("trop facile à deviner"), "{}", weak.body);
    assert!(weak.body.contains("name=\"password_confirmation\""));
    assert!(
        !weak.body.contains("azerty123456"),
        "passwords are never sent back"
    );
    let mismatch = post_new_password(&mut browser, NEW_PASSWORD, "autre chose, bien long").await;
    assert_eq!(mismatch.status, 400);
    assert!(
        mismatch.body.contains("ne sont pas identiques"),
        "{}",
        mismatch.body
    );
    assert_eq!(
        count(
            &entries(&app, &citizen.account_id).await,
            "account.password_reset"
        ),
        0
    );

    // Double submission: the first sets the password, the second changes nothing.
    let (_, csrf) = form(&mut browser, "/compte/mot-de-passe-oublie/nouveau").await;
    let action = "/compte/mot-de-passe-oublie/nouveau";
    let first = browser
        .post(
            action,
            &[
                ("csrf", &csrf),
                ("password", NEW_PASSWORD),
                ("password_confirmation", NEW_PASSWORD),
            ],
        )
        .await;
    let second = browser
        .post(
            action,
            &[
                ("csrf", &csrf),
                ("password", "un tout autre mot 42!"),
                ("password_confirmation", "un tout autre mot 42!"),
            ],
        )
        .await;
    assert_eq!(
        path_of(&first),
        "/compte/mot-de-passe-oublie/termine",
        "{}",
        first.body
    );
    assert_eq!(
        path_of(&second),
        "/compte/mot-de-passe-oublie/termine",
        "{}",
        second.body
    );
    let done = browser.get("/compte/mot-de-passe-oublie/termine").await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Mot de passe modifié"), "{}", done.body);
    let log = entries(&app, &citizen.account_id).await;
    assert_eq!(count(&log, "account.password_reset"), 1);
    assert!(
        !log.iter()
            .any(|e| e.details.to_string().contains(NEW_PASSWORD))
    );

    assert!(!password_works(&app, &citizen.email, &citizen.password).await);
    assert!(!password_works(&app, &citizen.email, "un tout autre mot 42!").await);
    assert!(password_works(&app, &citizen.email, NEW_PASSWORD).await);

    // Every session and refresh family of the account ended.
    assert!(!sso_skips_login(&app, &mut rp_browser).await);
    assert!(!account_page_opens(&mut account).await);
    let (status, body) = refresh(&app, &secret, &old_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(change_notices(&app, &citizen.email).await, 1);
    // The account's state is untouched.
    let state = app
        .core
        .db
        .read({
            let id = citizen.account_id.clone();
            move |conn| idp_server::store::accounts::state(conn, &id)
        })
        .await
        .unwrap();
    assert_eq!(state.as_str(), "verified");
}

/// Forgets the code of the reset of `email` as its TTL would.
async fn expire_code(app: &TestApp, email: &str) {
    let hash = idp_server::crypto::hmac_hex(
        &app.core.subkeys.token_hash_key,
        format!("password-reset:{email}").as_bytes(),
    );
    let keys = idp_server::ephemeral::keys::otp(&hash);
    use idp_server::ephemeral::EphemeralStore;
    app.core.ephemeral.delete(&keys.code).await.unwrap();
}

async fn reset_codes_follow_the_enrolment_rules(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    ask_reset(&mut browser, &citizen.email).await;
    let code = code_sent_to(&app, &citizen.email).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for remaining in (1..=4).rev() {
        let page = post_code(&mut browser, wrong).await;
        assert_eq!(page.status, 400);
        let left = format!("reste {remaining} essai");
        assert!(page.body.contains(&left), "{remaining}: {}", page.body);
    }
    let fifth = post_code(&mut browser, wrong).await;
    assert!(fifth.body.contains("Trop d&#39;essais"), "{}", fifth.body);
    // The right code no longer works: a new code is needed.
    let late = post_code(&mut browser, &code).await;
    assert_eq!(late.status, 400);
    assert!(
        late.body.contains("Demandez un nouveau code"),
        "{}",
        late.body
    );
    assert_eq!(
        path_of(&browser.get("/compte/mot-de-passe-oublie/nouveau").await),
        "/compte/mot-de-passe-oublie/code"
    );
    // A new code within the minute: the code page says how long to wait,
    // and nothing is sent.
    let sent = messages_to(&app, &citizen.email).await.len();
    let resend = post_on(
        &mut browser,
        "/compte/mot-de-passe-oublie/code",
        "/compte/mot-de-passe-oublie/renvoyer",
        &[],
    )
    .await;
    assert_eq!(resend.status, 200, "{}", resend.body);
    assert!(
        resend
            .body
            .contains("Vous pourrez demander un nouveau code dans"),
        "{}",
        resend.body
    );
    assert_eq!(messages_to(&app, &citizen.email).await.len(), sent);

    // An expired code is refused.
    let other = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    ask_reset(&mut browser, &other.email).await;
    let code = code_sent_to(&app, &other.email).await;
    expire_code(&app, &other.email).await;
    let expired = post_code(&mut browser, &code).await;
    assert_eq!(expired.status, 400);
    assert!(expired.body.contains("a expiré"), "{}", expired.body);
    assert!(password_works(&app, &other.email, &other.password).await);

    // The reset's code does not hold up an enrolment step, nor the reverse:
    // each has its own cooldown.
    let mut enrol = Browser::new(&app.base);
    idp_tests::enrolment::submit(
        &mut enrol,
        "/inscription",
        &[("adult", "yes"), ("smartphone", "yes"), ("document", "yes")],
    )
    .await;
    let started = idp_tests::enrolment::submit(
        &mut enrol,
        "/inscription/courriel",
        &[("email", &other.email)],
    )
    .await;
    assert_eq!(started.status, 303, "{}", started.body);
}

async fn an_unknown_address_gets_the_same_answer(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let citizen = kit::create_citizen(&app, true);
    let unknown = "personne.inconnue@example.fr";
    let mut known_browser = Browser::new(&app.base);
    let mut unknown_browser = Browser::new(&app.base);
    let known = ask_reset(&mut known_browser, &citizen.email).await;
    let stranger = ask_reset(&mut unknown_browser, unknown).await;
    assert_eq!(
        (known.status, path_of(&known)),
        (stranger.status, path_of(&stranger))
    );
    let known_page = known_browser.get("/compte/mot-de-passe-oublie/code").await;
    let stranger_page = unknown_browser
        .get("/compte/mot-de-passe-oublie/code")
        .await;
    assert_eq!(known_page.status, stranger_page.status);
    let shape = |page: &Page, email: &str| {
        let csrf = page.field("csrf").unwrap();
        page.body.replace(email, "ADDRESS").replace(&csrf, "CSRF")
    };
    assert_eq!(
        shape(&known_page, &citizen.email),
        shape(&stranger_page, unknown)
    );
    // Nothing is sent to the unknown address, and its codes behave alike.
    assert!(messages_to(&app, unknown).await.is_empty());
    let wrong_known = post_code(&mut known_browser, "000001").await;
    let wrong_stranger = post_code(&mut unknown_browser, "000001").await;
    assert_eq!(wrong_known.status, wrong_stranger.status);
    assert_eq!(
        shape(&wrong_known, &citizen.email),
        shape(&wrong_stranger, unknown)
    );
    // The per-address limits count alike: a second request within the minute.
    let again = ask_reset(&mut unknown_browser, unknown).await;
    assert_eq!(again.status, 429);
}

async fn a_reset_does_not_allow_eidas2(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    kit::register_client(&app, CLIENT, &kit::client_metadata()).unwrap();
    let (citizen, activation) =
        idp_tests::oidc::verified_with_activation_code(&app, "+33611223355").await;
    let device = crate::citizen_block::activate(&app, &citizen, &activation).await;
    let mut browser = Browser::new(&app.base);
    ask_reset(&mut browser, &citizen.email).await;
    let code = code_sent_to(&app, &citizen.email).await;
    post_code(&mut browser, &code).await;
    let done = post_new_password(&mut browser, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(path_of(&done), "/compte/mot-de-passe-oublie/termine");

    // Logged in with the new password (eidas1), an eidas2 request still
    // asks for the phone: the password alone never reaches eidas2.
    let fresh = Citizen {
        account_id: citizen.account_id.clone(),
        email: citizen.email.clone(),
        password: NEW_PASSWORD.to_owned(),
    };
    let mut rp = Browser::new(&app.base);
    let request = manual_authorize(&app.base, CLIENT, "openid", &[]);
    assert!(matches!(
        kit::walk(&mut rp, &request.url, Some(&fresh)).await,
        Outcome::Redirect(_)
    ));
    let strong = manual_authorize(&app.base, CLIENT, "openid", &[("acr_values", "eidas2")]);
    let start = rp.get(&strong.url).await;
    let location = start.location.unwrap_or_default();
    assert!(location.contains("/login/telephone"), "{location}");
    // The device is still the account's, active.
    let devices = device.devices().await.expect("devices");
    assert_eq!(devices.len(), 1);
}

// ------------------------------------------------------------------ password change

const CHANGE: &str = "/compte/mot-de-passe";

async fn post_change(browser: &mut Browser, current: &str, new: &str, confirmation: &str) -> Page {
    let fields = [
        ("current_password", current),
        ("password", new),
        ("password_confirmation", confirmation),
    ];
    post_on(browser, CHANGE, CHANGE, &fields).await
}

async fn the_password_is_changed_from_the_account_page(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = kit::register_client(&app, CLIENT, &kit::client_metadata()).unwrap();
    let citizen = kit::create_citizen(&app, true);
    let mut rp_browser = Browser::new(&app.base);
    let old_refresh = login_with_refresh(&app, &mut rp_browser, &citizen, &secret).await;
    let mut elsewhere = Browser::new(&app.base);
    account_login(&mut elsewhere, &citizen).await;
    let mut browser = Browser::new(&app.base);
    account_login(&mut browser, &citizen).await;
    let page = browser.get("/compte").await;
    assert!(
        page.body.contains("href=\"/compte/mot-de-passe\""),
        "{}",
        page.body
    );
    // Without a session the page sends to the login.
    let anonymous = Browser::new(&app.base).get(CHANGE).await;
    assert!(
        anonymous
            .location
            .unwrap_or_default()
            .ends_with("/compte/connexion")
    );

    let wrong = post_change(
        &mut browser,
        "not my password at all",
        NEW_PASSWORD,
        NEW_PASSWORD,
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.body.contains("mot de passe actuel est incorrect"),
        "{}",
        wrong.body
    );
    let weak = post_change(&mut browser, &citizen.password, "court", "court").await;
    assert_eq!(weak.status, 400);
    assert!(
        weak.body.contains("au moins 12 caractères"),
        "{}",
        weak.body
    );
    assert_eq!(
        count(
            &entries(&app, &citizen.account_id).await,
            "account.password_changed"
        ),
        0
    );
    assert!(account_page_opens(&mut elsewhere).await);

    let changed = post_change(&mut browser, &citizen.password, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(
        path_of(&changed),
        "/compte/mot-de-passe/modifie",
        "{}",
        changed.body
    );
    // This browser has a fresh session; every other one ended.
    let notice = browser.get("/compte/mot-de-passe/modifie").await;
    assert_eq!(notice.status, 200, "{}", notice.body);
    assert!(account_page_opens(&mut browser).await);
    assert!(!account_page_opens(&mut elsewhere).await);
    assert!(!sso_skips_login(&app, &mut rp_browser).await);
    let (status, body) = refresh(&app, &secret, &old_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        count(
            &entries(&app, &citizen.account_id).await,
            "account.password_changed"
        ),
        1
    );
    assert_eq!(change_notices(&app, &citizen.email).await, 1);
    assert!(!password_works(&app, &citizen.email, &citizen.password).await);
    assert!(password_works(&app, &citizen.email, NEW_PASSWORD).await);
}

async fn the_current_password_goes_through_the_attempt_limit(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    account_login(&mut browser, &citizen).await;
    for _ in 0..5 {
        let wrong = post_change(
            &mut browser,
            "not my password at all",
            NEW_PASSWORD,
            NEW_PASSWORD,
        )
        .await;
        assert_eq!(wrong.status, 400, "{}", wrong.body);
    }
    // Over the limit, even the right password is not checked.
    let limited = post_change(&mut browser, &citizen.password, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(
        count(
            &entries(&app, &citizen.account_id).await,
            "account.password_changed"
        ),
        0
    );
}
