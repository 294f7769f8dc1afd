//! The agents' console over HTTP: password + TOTP login (enrolment, replay,
//! lockout), a clerk verifying a reference created by the enrolment pages,
//! and a reviewer clearing the online queue with the media decrypted.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use idp_admin::Cli;
use idp_tests::browser::{Browser, Page};
use idp_tests::enrolment::{
    Person, enrol_until_choice, face_to_face_reference, form, messages_to, submit,
};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

both_backends!(
    clerk_logs_in_with_totp_and_verifies_a_reference,
    reviewer_clears_the_online_queue,
    an_admin_names_the_office_at_the_counter,
    agents_register_and_log_in_with_a_security_key,
    admins_support_accounts_from_the_console,
    admins_manage_keys_agents_and_clients_from_the_console,
    posts_without_the_session_token_change_nothing,
    pages_escape_what_agents_typed,
);

pub(crate) async fn admin(env: &TestEnv, args: &[&str]) -> serde_json::Value {
    let cli =
        Cli::try_parse_from(std::iter::once("idp-admin").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    idp_admin::run_with(cli, env.config(), None, &mut out)
        .await
        .unwrap();
    serde_json::from_slice(&out).unwrap()
}

pub(crate) async fn spawn_console(app: &TestApp) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = idp_admin::console::server(app.core.clone(), listener)
        .await
        .unwrap();
    tokio::spawn(server);
    base
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(crate) fn secret_on(page: &Page) -> String {
    let start = page
        .body
        .find("<code id=\"totp-secret\">")
        .expect("enrolment page")
        + 23;
    let end = page.body[start..].find('<').unwrap() + start;
    page.body[start..end].to_owned()
}

/// Logs in with password and TOTP (enrolling it the first time) and
/// replaces the initial password if asked (setting it back); returns the
/// TOTP secret.
pub(crate) async fn log_in(
    console: &mut Browser,
    username: &str,
    password: &str,
    secret: Option<&str>,
) -> String {
    let secret = password_and_code(console, username, password, secret).await;
    idp_tests::console::replace_initial_password(console, password).await;
    secret
}

/// Password, then TOTP (enrolling it the first time); returns the TOTP secret.
pub(crate) async fn password_and_code(
    console: &mut Browser,
    username: &str,
    password: &str,
    secret: Option<&str>,
) -> String {
    let (_, csrf) = form(console, "/connexion").await;
    let page = console
        .post(
            "/connexion",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await;
    assert!(
        page.location.as_deref().unwrap().ends_with("/totp"),
        "{}",
        page.body
    );
    let totp = console.get("/totp").await;
    let csrf = totp.field("csrf").unwrap();
    let secret = match secret {
        Some(s) => s.to_owned(),
        None => secret_on(&totp),
    };
    let code = idp_server::agents::totp::code_for(&secret, now()).unwrap();
    let page = console
        .post("/totp", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    secret
}

async fn clerk_logs_in_with_totp_and_verifies_a_reference(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    let person = Person::new(31);
    let (reference, _) = face_to_face_reference(&app, &person).await;
    let created = admin(
        &env,
        &[
            "--json",
            "agents",
            "add",
            "c.martin",
            "--name",
            "Claire Martin",
            "--role",
            "clerk",
            "--office",
            "LYON01",
        ],
    )
    .await;
    let password = created["initial_password"].as_str().unwrap().to_owned();

    let mut console = Browser::new(&base);
    // Pages need a full login.
    assert!(
        console
            .get("/guichet")
            .await
            .location
            .unwrap()
            .ends_with("/connexion")
    );
    let secret = log_in(&mut console, "c.martin", &password, None).await;
    let home = console.get("/").await;
    assert!(
        home.body.contains("Vérifier une identité au guichet"),
        "{}",
        home.body
    );
    assert!(
        !home.body.contains("/revue"),
        "a clerk sees only the counter"
    );
    assert_eq!(console.get("/revue").await.status, 403);

    // The same TOTP code cannot be used twice, even in another browser.
    let mut other = Browser::new(&base);
    let (_, csrf) = form(&mut other, "/connexion").await;
    other
        .post(
            "/connexion",
            &[
                ("csrf", &csrf),
                ("username", "c.martin"),
                ("password", &password),
            ],
        )
        .await;
    let totp = other.get("/totp").await;
    assert!(
        !totp.body.contains("totp-secret"),
        "already enrolled: no secret shown again"
    );
    let code = idp_server::agents::totp::code_for(&secret, now()).unwrap();
    let replay = other
        .post(
            "/totp",
            &[("csrf", &totp.field("csrf").unwrap()), ("code", &code)],
        )
        .await;
    assert_eq!(replay.status, 400);
    assert!(replay.body.contains("déjà utilisé"), "{}", replay.body);
    assert_eq!(
        other
            .get("/guichet")
            .await
            .location
            .as_deref()
            .map(|l| l.ends_with("/totp")),
        Some(true)
    );

    // Look the reference up: identity and document, only what the task needs.
    let view = console
        .get(&format!("/guichet?reference={}", reference.to_lowercase()))
        .await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert!(
        view.body.contains("Dupont")
            && view.body.contains("Camille Anne")
            && view.body.contains("X4RTBPFW4")
    );
    assert!(
        !view.body.contains(&person.email),
        "the clerk does not need the email"
    );
    let csrf = view.field("csrf").unwrap();
    // Without the three checks, or without the CSRF token: refused.
    let page = console
        .post(
            "/guichet",
            &[
                ("csrf", &csrf),
                ("reference", &reference),
                ("decision", "verified"),
            ],
        )
        .await;
    assert!(
        page.body.contains("Cochez les trois contrôles"),
        "{}",
        page.body
    );
    let page = console
        .post(
            "/guichet",
            &[("reference", &reference), ("decision", "verified")],
        )
        .await;
    assert_eq!(page.status, 400);
    let checks = [
        ("check_document", "yes"),
        ("check_photo", "yes"),
        ("check_data", "yes"),
    ];
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("reference", reference.as_str()),
        ("decision", "verified"),
        ("place", "office"),
    ];
    fields.extend_from_slice(&checks);
    let page = console.post("/guichet", &fields).await;
    assert!(page.body.contains("Identité vérifiée"), "{}", page.body);
    // The activation code reaches the citizen by SMS.
    assert!(
        messages_to(&app, &person.mobile)
            .await
            .iter()
            .any(|m| m.text.contains("activation"))
    );
    // Deciding again is refused.
    let again = console.post("/guichet", &fields).await;
    assert!(again.body.contains("déjà été traitée"), "{}", again.body);

    // Lockout after repeated wrong passwords.
    let mut attacker = Browser::new(&base);
    let (_, csrf) = form(&mut attacker, "/connexion").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            attacker
                .post(
                    "/connexion",
                    &[
                        ("csrf", &csrf),
                        ("username", "c.martin"),
                        ("password", "wrong"),
                    ],
                )
                .await
                .status,
        );
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let page = attacker
        .post(
            "/connexion",
            &[
                ("csrf", &csrf),
                ("username", "c.martin"),
                ("password", &password),
            ],
        )
        .await;
    assert_eq!(page.status, 429, "locked even with the right password");
    // Logins and the lockout are in the audit log, the lockout once.
    let actions: Vec<String> = app
        .core
        .db
        .read(|conn| idp_server::store::audit::recent(conn, 200))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.subject == "c.martin")
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "agents.locked_out").count(),
        1,
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "agents.totp_enrolled"),
        "{actions:?}"
    );
}

async fn reviewer_clears_the_online_queue(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    let person = Person::new(32);
    let mut browser = enrol_until_choice(&app, &person, "passport").await;
    submit(
        &mut browser,
        "/inscription/verification",
        &[("method", "remote")],
    )
    .await;
    let (_, csrf) = form(&mut browser, "/inscription/en-ligne").await;
    let mut front = vec![0xFF, 0xD8, 0xFF, 0xE0];
    front.resize(2048, 9);
    let mut back = b"\x89PNG\r\n\x1a\n".to_vec();
    back.resize(1024, 3);
    browser
        .post_multipart(
            "/inscription/en-ligne/photos",
            &[("csrf", &csrf)],
            vec![("front", "a.jpg", front.clone()), ("back", "b.png", back)],
        )
        .await;
    let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3];
    webm.resize(4096, 5);
    browser
        .post_multipart(
            "/inscription/en-ligne/video",
            &[("csrf", &csrf)],
            vec![("video", "v.webm", webm)],
        )
        .await;

    let created = admin(
        &env,
        &[
            "--json",
            "agents",
            "add",
            "r.leroy",
            "--name",
            "Rémi Leroy",
            "--role",
            "reviewer",
        ],
    )
    .await;
    let mut console = Browser::new(&base);
    log_in(
        &mut console,
        "r.leroy",
        created["initial_password"].as_str().unwrap(),
        None,
    )
    .await;
    let queue = console.get("/revue").await;
    assert!(
        queue
            .body
            .contains("1 demande(s) en attente, dont 0 depuis plus de 24 h"),
        "{}",
        queue.body
    );
    let start = queue.body.find("href=\"/revue/").unwrap() + 6;
    let link = &queue.body[start..start + queue.body[start..].find('"').unwrap()];
    let detail = console.get(link).await;
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains("Dupont"));
    let email = person.email.clone();
    let account = app
        .core
        .db
        .read(move |conn| idp_server::store::accounts::by_email(conn, &email))
        .await
        .unwrap()
        .unwrap();
    let id = account.id.clone();
    let request = app
        .core
        .db
        .read(move |conn| idp_server::store::enrolment::open_request(conn, &id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        detail.body.contains(request.challenge.as_deref().unwrap()),
        "the 3 digits are shown"
    );
    // Media are decrypted for display, to reviewers only.
    let (status, headers, bytes) = console.get_bytes(&format!("{link}/media/front")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(bytes, front, "decrypted exactly as uploaded");
    assert_eq!(
        Browser::new(&base)
            .get(&format!("{link}/media/front"))
            .await
            .status,
        303,
        "not without a session"
    );

    let csrf = detail.field("csrf").unwrap();
    let page = console
        .post(
            link,
            &[
                ("csrf", &csrf),
                ("decision", "rejected"),
                ("reason", ""),
                ("category", "person"),
                ("check_photo", "yes"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("Indiquez le motif du refus."),
        "a rejection needs a reason: {}",
        page.body
    );
    // The form comes back as it was filled in.
    assert!(
        page.body.contains(r#"<option value="person" selected>"#)
            && page
                .body
                .contains(r#"name="check_photo" value="yes" checked>"#)
            && !page
                .body
                .contains(r#"name="check_document" value="yes" checked>"#),
        "{}",
        page.body
    );
    // The document declared is shown next to the checks.
    assert!(
        page.body.contains("Passeport") && page.body.contains("<dt>Validité</dt>"),
        "{}",
        page.body
    );
    let page = console
        .post(link, &[("csrf", &csrf), ("decision", "verified")])
        .await;
    assert!(
        page.body.contains("Cochez les trois contrôles"),
        "{}",
        page.body
    );
    let page = console
        .post(
            link,
            &[
                ("csrf", &csrf),
                ("decision", "verified"),
                ("check_document", "yes"),
                ("check_photo", "yes"),
                ("check_data", "yes"),
            ],
        )
        .await;
    // Not yet recorded: the reviewer confirms first.
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("Confirmer la vérification de l&#39;identité de Camille Anne Dupont")
            || page
                .body
                .contains("Confirmer la vérification de l&#x27;identité de Camille Anne Dupont"),
        "{}",
        page.body
    );
    assert!(
        console
            .get("/revue")
            .await
            .body
            .contains("1 demande(s) en attente")
    );
    let page = console
        .post(
            link,
            &[
                ("csrf", &csrf),
                ("decision", "verified"),
                ("confirm", "yes"),
                ("check_document", "yes"),
                ("check_photo", "yes"),
                ("check_data", "yes"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("Identité vérifiée : Camille Anne Dupont"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("0 demande(s) en attente"),
        "{}",
        page.body
    );
    let id = account.id.clone();
    let state = app
        .core
        .db
        .read(move |conn| idp_server::store::accounts::by_id(conn, &id))
        .await
        .unwrap()
        .unwrap()
        .state
        .as_str();
    assert_eq!(state, "verified");
}

async fn an_admin_names_the_office_at_the_counter(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    let (reference, account_id) = face_to_face_reference(&app, &Person::new(33)).await;
    let created = admin(
        &env,
        &[
            "--json",
            "agents",
            "add",
            "a.admin",
            "--name",
            "Ana Admin",
            "--role",
            "admin",
        ],
    )
    .await;
    let mut console = Browser::new(&base);
    log_in(
        &mut console,
        "a.admin",
        created["initial_password"].as_str().unwrap(),
        None,
    )
    .await;
    let home = console.get("/").await;
    assert!(
        home.body.contains("/guichet") && home.body.contains("/revue"),
        "an admin sees both"
    );
    let view = console
        .get(&format!("/guichet?reference={reference}"))
        .await;
    assert!(view.body.contains("Code du bureau"), "{}", view.body);
    let csrf = view.field("csrf").unwrap();
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("reference", reference.as_str()),
        ("decision", "verified"),
        ("place", "home"),
        ("check_document", "yes"),
        ("check_photo", "yes"),
        ("check_data", "yes"),
        ("office", "x"),
    ];
    let page = console.post("/guichet", &fields).await;
    assert!(
        page.body.contains("Indiquez le code du bureau"),
        "{}",
        page.body
    );
    fields.pop();
    fields.push(("office", "paris07"));
    let page = console.post("/guichet", &fields).await;
    assert!(page.body.contains("Identité vérifiée"), "{}", page.body);
    let request = app
        .core
        .db
        .read(move |conn| idp_server::store::enrolment::latest_request(conn, &account_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.office.as_deref(), Some("home:PARIS07"));
}

fn data_csrf(page: &Page) -> String {
    let start = page.body.find("data-csrf=\"").expect("data-csrf") + 11;
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].to_owned()
}

async fn key_for(
    console: &mut Browser,
    soft: &mut webauthn_authenticator_rs::softpasskey::SoftPasskey,
) {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    let csrf = data_csrf(&console.get("/cle").await);
    let started = console
        .post_json(
            "/cle/enregistrement/debut",
            &serde_json::json!({}),
            &[("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let options: webauthn_rs::prelude::CreationChallengeResponse =
        serde_json::from_str(&started.body).unwrap();
    let origin = url::Url::parse("http://localhost:8081").unwrap();
    let answer = soft
        .do_registration(origin, options)
        .expect("software key registers");
    let done = console
        .post_json(
            "/cle/enregistrement/fin",
            &serde_json::to_value(&answer).unwrap(),
            &[("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
}

/// Starts a key login in a fresh browser; returns it, its CSRF token and the challenge.
async fn key_login_start(base: &str, username: &str) -> (Browser, String, Page) {
    let mut browser = Browser::new(base);
    let (_, csrf) = form(&mut browser, "/connexion").await;
    let started = browser
        .post_json(
            "/cle/connexion/debut",
            &serde_json::json!({ "username": username }),
            &[("x-csrf-token", &csrf)],
        )
        .await;
    (browser, csrf, started)
}

async fn agents_register_and_log_in_with_a_security_key(backend: Backend) {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    let origin = url::Url::parse("http://localhost:8081").unwrap();
    let mut keys = Vec::new();
    for username in ["k.one", "k.two"] {
        let created = admin(
            &env,
            &[
                "--json", "agents", "add", username, "--name", username, "--role", "reviewer",
            ],
        )
        .await;
        let mut console = Browser::new(&base);
        log_in(
            &mut console,
            username,
            created["initial_password"].as_str().unwrap(),
            None,
        )
        .await;
        let mut soft = SoftPasskey::new(true);
        key_for(&mut console, &mut soft).await;
        assert!(
            console
                .get("/cle")
                .await
                .body
                .contains("Clés enregistrées : 1")
        );
        keys.push(soft);
    }

    // A key that does not verify its user (no PIN or biometric) is refused.
    {
        use webauthn_authenticator_rs::WebauthnAuthenticator;
        let created = admin(
            &env,
            &[
                "--json", "agents", "add", "k.nouv", "--name", "N", "--role", "clerk", "--office",
                "LYON01",
            ],
        )
        .await;
        let mut console = Browser::new(&base);
        log_in(
            &mut console,
            "k.nouv",
            created["initial_password"].as_str().unwrap(),
            None,
        )
        .await;
        let csrf = data_csrf(&console.get("/cle").await);
        let started = console
            .post_json(
                "/cle/enregistrement/debut",
                &serde_json::json!({}),
                &[("x-csrf-token", &csrf)],
            )
            .await;
        let options: webauthn_rs::prelude::CreationChallengeResponse =
            serde_json::from_str(&started.body).unwrap();
        let mut no_uv = SoftPasskey::new(false);
        if let Ok(answer) = no_uv.do_registration(origin.clone(), options) {
            let done = console
                .post_json(
                    "/cle/enregistrement/fin",
                    &serde_json::to_value(&answer).unwrap(),
                    &[("x-csrf-token", &csrf)],
                )
                .await;
            assert_eq!(
                done.status, 400,
                "registration without user verification: {}",
                done.body
            );
        }
        assert!(
            console
                .get("/cle")
                .await
                .body
                .contains("Clés enregistrées : 0")
        );
    }

    // The key alone logs the agent in (user verification required).
    let (mut browser, csrf, started) = key_login_start(&base, "k.one").await;
    assert_eq!(started.status, 200, "{}", started.body);
    let options: webauthn_rs::prelude::RequestChallengeResponse =
        serde_json::from_str(&started.body).unwrap();
    let answer = keys[0]
        .do_authentication(origin.clone(), options)
        .expect("software key answers");
    let answer = serde_json::to_value(&answer).unwrap();
    let done = browser
        .post_json("/cle/connexion/fin", &answer, &[("x-csrf-token", &csrf)])
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("k.one"), "{}", home.body);
    // The same assertion again: the ceremony is spent.
    let replay = browser
        .post_json("/cle/connexion/fin", &answer, &[("x-csrf-token", &csrf)])
        .await;
    assert_eq!(replay.status, 400);

    // An agent without a key, or an unknown name, gets no challenge.
    let created = admin(
        &env,
        &[
            "--json", "agents", "add", "k.none", "--name", "N", "--role", "reviewer",
        ],
    )
    .await;
    assert!(created["initial_password"].is_string());
    for name in ["k.none", "nobody"] {
        let (_, _, started) = key_login_start(&base, name).await;
        assert_eq!(started.status, 400, "{name}");
    }

    // k.one's key answering k.two's ceremony is refused.
    let (_, _, one) = key_login_start(&base, "k.one").await;
    let (mut two_browser, two_csrf, two) = key_login_start(&base, "k.two").await;
    assert_eq!((one.status, two.status), (200, 200));
    let one_options: webauthn_rs::prelude::RequestChallengeResponse =
        serde_json::from_str(&one.body).unwrap();
    let foreign = keys[0].do_authentication(origin, one_options).unwrap();
    let refused = two_browser
        .post_json(
            "/cle/connexion/fin",
            &serde_json::to_value(&foreign).unwrap(),
            &[("x-csrf-token", &two_csrf)],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(two_browser.cookie("sesame_console").is_none(), "no session");
}

async fn admins_support_accounts_from_the_console(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    let person = Person::new(34);
    let (reference, account_id) = face_to_face_reference(&app, &person).await;
    let clerk = admin(
        &env,
        &[
            "--json", "agents", "add", "c.clerk", "--name", "C", "--role", "clerk", "--office",
            "LYON01",
        ],
    )
    .await;
    let cli = Cli::try_parse_from([
        "idp-admin",
        "verify",
        "--reference",
        &reference,
        "--office",
        "LYON01",
        "--agent",
        "c.clerk",
        "--decision",
        "verified",
    ])
    .unwrap();
    idp_admin::run_with(cli, env.config(), None, &mut Vec::new())
        .await
        .unwrap();
    let state = |app: &TestApp| {
        let (core, id) = (app.core.clone(), account_id.clone());
        async move {
            core.db
                .read(move |conn| idp_server::store::accounts::by_id(conn, &id))
                .await
                .unwrap()
                .unwrap()
                .state
        }
    };

    // Clerks do not get the support pages.
    let mut counter = Browser::new(&base);
    log_in(
        &mut counter,
        "c.clerk",
        clerk["initial_password"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(counter.get("/comptes").await.status, 403);

    let created = admin(
        &env,
        &[
            "--json",
            "agents",
            "add",
            "a.support",
            "--name",
            "Support",
            "--role",
            "admin",
        ],
    )
    .await;
    let mut console = Browser::new(&base);
    log_in(
        &mut console,
        "a.support",
        created["initial_password"].as_str().unwrap(),
        None,
    )
    .await;
    let unknown = console.get("/comptes?q=nobody%40example.fr").await;
    assert_eq!(unknown.status, 404);
    let q: String = url::form_urlencoded::byte_serialize(person.email.as_bytes()).collect();
    let found = console.get(&format!("/comptes?q={q}")).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(
        found.body.contains("verified")
            && found.body.contains("Dupont")
            && found.body.contains("verification.verified")
    );
    assert!(
        !found.body.contains("X4RTBPFW4"),
        "support never sees the document number"
    );
    let csrf = found.field("csrf").unwrap();
    let suspend = format!("/comptes/{account_id}/suspendre");

    let page = console
        .post(&suspend, &[("csrf", &csrf), ("reason", " ")])
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("Indiquez le motif"), "{}", page.body);
    assert_eq!(
        console.post(&suspend, &[("reason", "fraude")]).await.status,
        400,
        "CSRF"
    );
    assert_eq!(state(&app).await.as_str(), "verified");

    let page = console
        .post(
            &suspend,
            &[("csrf", &csrf), ("reason", "usurpation signalée")],
        )
        .await;
    assert_eq!(page.status, 303);
    assert!(
        console
            .get(page.location.as_deref().unwrap())
            .await
            .body
            .contains("Compte suspendu.")
    );
    assert_eq!(state(&app).await.as_str(), "suspended");
    let page = console
        .post(
            &format!("/comptes/{account_id}/retablir"),
            &[("csrf", &csrf), ("reason", "vérifié par téléphone")],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(state(&app).await.as_str(), "verified");

    let before = messages_to(&app, &person.mobile).await.len();
    let page = console
        .post(
            &format!("/comptes/{account_id}/activation"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, 303);
    assert!(
        console
            .get(page.location.as_deref().unwrap())
            .await
            .body
            .contains("Nouveau code d&#39;activation")
    );
    assert_eq!(messages_to(&app, &person.mobile).await.len(), before + 1);

    // The citizen activates the app; support sees the device and revokes it
    // (a reason is required), after which the device can do nothing.
    let code = idp_tests::enrolment::code_sent_to(&app, &person.mobile).await;
    let mut device =
        idp_tests::authenticator::Authenticator::new(app.http.clone(), &app.base, &app.base)
            .unwrap();
    device
        .activate(
            &person.email,
            &person.password,
            &code,
            "2580",
            "Téléphone de Camille",
        )
        .await
        .unwrap();
    let device_id = device.device_id.clone().unwrap();
    let shown = console.get(&format!("/comptes?q={q}")).await;
    assert!(shown.body.contains("Téléphone de Camille") && shown.body.contains("actif"));
    let revoke = format!("/comptes/{account_id}/revoquer-appareil");
    let page = console
        .post(
            &revoke,
            &[("csrf", &csrf), ("device", &device_id), ("reason", "")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("motif de la révocation"),
        "{}",
        page.body
    );
    assert!(device.devices().await.is_ok());
    let page = console
        .post(
            &revoke,
            &[
                ("csrf", &csrf),
                ("device", &device_id),
                ("reason", "téléphone volé"),
            ],
        )
        .await;
    assert_eq!(page.status, 303);
    assert!(
        console
            .get(page.location.as_deref().unwrap())
            .await
            .body
            .contains("Appareil révoqué.")
    );
    assert_eq!(device.devices().await.unwrap_err().code(), "device_revoked");
    // Revoking again: a clear refusal.
    let again = console
        .post(
            &revoke,
            &[
                ("csrf", &csrf),
                ("device", &device_id),
                ("reason", "encore"),
            ],
        )
        .await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already revoked"), "{}", again.body);

    let actions: Vec<String> = app
        .core
        .db
        .read(|conn| idp_server::store::audit::recent(conn, 100))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor == "agent:a.support")
        .map(|e| e.action)
        .collect();
    for action in [
        "accounts.suspend",
        "accounts.unsuspend",
        "activation.code_issued",
        "device.revoked",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

/// The text after `marker` up to the next '<' in a page.
fn after(page: &Page, marker: &str) -> String {
    let start = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {}", page.body))
        + marker.len();
    let end = page.body[start..].find('<').unwrap() + start;
    page.body[start..end].trim().to_owned()
}

async fn admins_manage_keys_agents_and_clients_from_the_console(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    let created = admin(
        &env,
        &[
            "--json", "agents", "add", "a.ops", "--name", "Ops", "--role", "admin",
        ],
    )
    .await;
    let mut console = Browser::new(&base);
    log_in(
        &mut console,
        "a.ops",
        created["initial_password"].as_str().unwrap(),
        None,
    )
    .await;

    // Keys: rotate ES256; the running server picks the new key up.
    let before = app
        .core
        .keys
        .current()
        .signer(idp_server::crypto::SigningAlg::Es256)
        .unwrap()
        .kid
        .clone();
    let page = console.get("/admin/cles").await;
    assert!(page.body.contains(&before));
    let csrf = page.field("csrf").unwrap();
    let done = console
        .post("/admin/cles", &[("csrf", &csrf), ("alg", "ES256")])
        .await;
    assert_eq!(done.status, 303);
    let page = console.get(done.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Nouvelle clé active"));
    assert!(
        page.body.contains("retiring"),
        "the old key stays published"
    );

    // Agents: create (password shown once, on the page), disable, refuse bad input.
    let page = console.get("/admin/agents").await;
    let csrf = page.field("csrf").unwrap();
    let made = console
        .post(
            "/admin/agents",
            &[
                ("csrf", &csrf),
                ("username", "n.clerk"),
                ("name", "Nina"),
                ("role", "clerk"),
                ("office", "LYON02"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let password = after(&made, "une seule fois) : ");
    assert!(password.len() >= 32);
    let bad = console
        .post(
            "/admin/agents",
            &[
                ("csrf", &csrf),
                ("username", "x"),
                ("name", "X"),
                ("role", "clerk"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    let mut nina = Browser::new(&base);
    log_in(&mut nina, "n.clerk", &password, None).await;
    assert_eq!(nina.get("/").await.status, 200);
    console
        .post("/admin/agents/n.clerk/desactiver", &[("csrf", &csrf)])
        .await;
    assert!(
        nina.get("/")
            .await
            .location
            .unwrap()
            .ends_with("/connexion"),
        "a disabled agent's session ends"
    );

    // Clients: register (secret shown once), rotate, remove.
    let page = console.get("/admin/clients").await;
    let csrf = page.field("csrf").unwrap();
    let made = console
        .post(
            "/admin/clients",
            &[
                ("csrf", &csrf),
                ("client_id", "mairie-lyon"),
                ("name", "Mairie de Lyon"),
                ("redirect_uri", "https://demarches.lyon.fr/cb"),
                ("auth_method", "client_secret_basic"),
                ("max_acr", "eidas2"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let secret = after(&made, "à transmettre au fournisseur) : ");
    assert!(credentials_ok(&app, "mairie-lyon", &secret).await);
    let bad = console
        .post(
            "/admin/clients",
            &[
                ("csrf", &csrf),
                ("client_id", "x"),
                ("name", "X"),
                ("redirect_uri", "http://evil.example/cb"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("loopback"), "{}", bad.body);
    let rotated = console
        .post("/admin/clients/mairie-lyon/secret", &[("csrf", &csrf)])
        .await;
    let new_secret = after(&rotated, "à transmettre au fournisseur) : ");
    assert_ne!(new_secret, secret);
    let limit = std::time::Duration::from_secs(5);
    assert!(
        idp_tests::eventually(limit, || async {
            credentials_ok(&app, "mairie-lyon", &new_secret).await
        })
        .await
    );
    console
        .post("/admin/clients/mairie-lyon/supprimer", &[("csrf", &csrf)])
        .await;
    assert!(
        idp_tests::eventually(limit, || async {
            !credentials_ok(&app, "mairie-lyon", &new_secret).await
        })
        .await
    );
    // Every change made from these pages is attributed to the admin who made it.
    let actions: Vec<String> = app
        .core
        .db
        .read(|conn| idp_server::store::audit::recent(conn, 100))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor == "agent:a.ops")
        .map(|e| e.action)
        .collect();
    for action in [
        "keys.rotate",
        "agents.add",
        "agents.disable",
        "clients.add",
        "clients.rotate_secret",
        "clients.remove",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
    let verified = app
        .core
        .db
        .read(idp_server::store::audit::verify)
        .await
        .unwrap();
    assert!(matches!(
        verified,
        idp_server::store::audit::ChainStatus::Intact { .. }
    ));
}

/// Whether the token endpoint accepts these client credentials (a bogus code
/// gets invalid_grant past a successful client authentication).
async fn credentials_ok(app: &TestApp, client_id: &str, secret: &str) -> bool {
    let (_, _, body) = idp_tests::oidc::post_form(
        app,
        "/token",
        &[("grant_type", "authorization_code"), ("code", "x")],
        Some((client_id, secret)),
    )
    .await;
    body["error"] == "invalid_grant"
}

/// Every console post is bound to the session's own token: a missing, empty
/// or other session's token is refused before anything happens.
async fn posts_without_the_session_token_change_nothing(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    let ops = admin(
        &env,
        &[
            "--json", "agents", "add", "a.root", "--name", "Root", "--role", "admin",
        ],
    )
    .await;
    let other = admin(
        &env,
        &[
            "--json", "agents", "add", "a.other", "--name", "Other", "--role", "admin",
        ],
    )
    .await;
    let mut console = Browser::new(&base);
    log_in(
        &mut console,
        "a.root",
        ops["initial_password"].as_str().unwrap(),
        None,
    )
    .await;
    let mut second = Browser::new(&base);
    log_in(
        &mut second,
        "a.other",
        other["initial_password"].as_str().unwrap(),
        None,
    )
    .await;
    let foreign = second.get("/admin/agents").await.field("csrf").unwrap();
    let mine = console.get("/admin/agents").await.field("csrf").unwrap();
    assert_ne!(foreign, mine, "each session has its own token");

    for token in [None, Some(""), Some(foreign.as_str())] {
        let mut fields = vec![
            ("username", "x.forged"),
            ("name", "Forged"),
            ("role", "admin"),
        ];
        if let Some(t) = token {
            fields.push(("csrf", t));
        }
        let page = console.post("/admin/agents", &fields).await;
        assert_eq!(page.status, 303, "{token:?}: {}", page.body);
        assert!(page.location.as_deref().unwrap().ends_with("/admin/agents"));
        // The counter answers a forged decision with its own page.
        let counter = console
            .post(
                "/guichet",
                &[("csrf", token.unwrap_or("")), ("decision", "verified")],
            )
            .await;
        assert_eq!(counter.status, 400, "{token:?}");
        assert!(
            counter.body.contains("Formulaire expiré"),
            "{}",
            counter.body
        );
    }
    let roster = console.get("/admin/agents").await;
    assert!(!roster.body.contains("x.forged"), "no agent was created");
    // The real token works.
    let made = console
        .post(
            "/admin/agents",
            &[
                ("csrf", &mine),
                ("username", "x.real"),
                ("name", "Real"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    assert!(made.body.contains("Agent x.real créé"), "{}", made.body);
}

/// What agents type (names, searches) reaches the pages escaped by the
/// templates (askama writes numeric entities).
async fn pages_escape_what_agents_typed(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    let created = admin(
        &env,
        &[
            "--json",
            "agents",
            "add",
            "a.quote",
            "--name",
            "<b>Zoé</b> & \"co\"",
            "--role",
            "admin",
        ],
    )
    .await;
    let mut console = Browser::new(&base);
    log_in(
        &mut console,
        "a.quote",
        created["initial_password"].as_str().unwrap(),
        None,
    )
    .await;
    let home = console.get("/").await;
    assert!(
        home.body
            .contains("&#60;b&#62;Zoé&#60;/b&#62; &#38; &#34;co&#34; (administration)"),
        "{}",
        home.body
    );
    assert!(!home.body.contains("<b>Zoé"), "{}", home.body);
    let roster = console.get("/admin/agents").await;
    assert!(
        roster
            .body
            .contains("<td>&#60;b&#62;Zoé&#60;/b&#62; &#38; &#34;co&#34;</td>"),
        "{}",
        roster.body
    );
    // A looked-up address that is not one is echoed back escaped in the search field.
    let search = console.get("/comptes?q=%3Cscript%3E").await;
    assert_eq!(search.status, 404, "{}", search.body);
    assert!(
        search.body.contains("value=\"&#60;script&#62;\""),
        "{}",
        search.body
    );
    assert!(!search.body.contains("<script>"), "{}", search.body);
}
