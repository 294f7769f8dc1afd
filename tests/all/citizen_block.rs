//! Blocking a digital identity (issue #16, lost or stolen phone): every
//! device revoked, pending approval cancelled, tokens ended, the citizen
//! told by email and SMS; eidas2 refused (the phone page answering as for
//! any number) until a new activation code moves the account back to
//! verified. Service, console and CLI, on both backends.

use diesel::prelude::*;
use idp_server::citizen::block::{BlockRefusal, Blocked, block_identity};
use idp_server::outcome::ServiceError;
use idp_server::store::schema::{accounts, audit_log, devices};
use idp_tests::authenticator::Authenticator;
use idp_tests::browser::{Browser, Page};
use idp_tests::enrolment::{code_sent_to, messages_to};
use idp_tests::oidc::{Citizen, create_citizen, manual_authorize, register_client};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};
use serde_json::Value;

const PIN: &str = "2580";
pub const CLIENT: &str = "formation";

both_backends!(
    blocking_revokes_everything_and_a_new_code_unblocks,
    only_a_verified_identity_can_be_blocked,
    support_blocks_from_the_console,
    operators_block_from_the_cli,
    the_account_page_says_the_identity_is_blocked,
    fraud_reports_tell_the_citizen_and_three_pause_approvals,
);

pub fn phone_number(n: u32) -> (String, String) {
    let national = format!("06 {:02} {:02} {:02} {:02}", 10 + n % 89, n % 97, 42, 18);
    let e164 = format!("+336{:02}{:02}4218", 10 + n % 89, n % 97);
    (national, e164)
}

pub async fn spawn(backend: Backend) -> (TestEnv, TestApp, String) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = register_client(&app, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    (env, app, secret)
}

/// A citizen with phone number `n` and an activated app.
pub async fn activated(app: &TestApp, n: u32) -> (Citizen, String, String, Authenticator) {
    let (national, e164) = phone_number(n);
    let (citizen, code) = idp_tests::oidc::verified_with_activation_code(app, &e164).await;
    let device = activate(app, &citizen, &code).await;
    (citizen, national, e164, device)
}

pub async fn activate(app: &TestApp, citizen: &Citizen, code: &str) -> Authenticator {
    let mut device = Authenticator::new(app.http.clone(), &app.base, &app.base).unwrap();
    let body = device
        .activate(&citizen.email, &citizen.password, code, PIN, "Pixel")
        .await
        .expect("activation");
    assert_eq!(body["account_state"], "active");
    device
}

pub fn account_state(app: &TestApp, account_id: &str) -> String {
    let id = account_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(accounts::table
                .filter(accounts::id.eq(&id))
                .select(accounts::state)
                .first::<String>(conn)?)
        })
        .unwrap()
}

pub fn device_states(app: &TestApp, account_id: &str) -> Vec<String> {
    let id = account_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(devices::table
                .filter(devices::account_id.eq(&id))
                .select(devices::state)
                .load::<String>(conn)?)
        })
        .unwrap()
}

pub fn audit_count(app: &TestApp, account_id: &str, action: &str) -> i64 {
    let (id, action) = (account_id.to_owned(), action.to_owned());
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(audit_log::table
                .filter(audit_log::action.eq(&action))
                .filter(audit_log::subject.eq(&id))
                .count()
                .get_result(conn)?)
        })
        .unwrap()
}

/// An access token from an eidas1 (password) login.
pub async fn access_token(app: &TestApp, secret: &str, citizen: &Citizen) -> String {
    let request = manual_authorize(&app.base, CLIENT, "openid profile", &[]);
    let mut browser = Browser::new(&app.base);
    let code = idp_tests::oidc::code(&mut browser, &request, citizen).await;
    let (status, body) =
        idp_tests::oidc::exchange(app, &code, &request.verifier, (CLIENT, secret)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

pub async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A browser at the waiting page of an eidas2 login for `phone`: (browser,
/// tx, page).
pub async fn waiting_for(app: &TestApp, phone: &str) -> (Browser, String, Page) {
    let (mut browser, tx, csrf) =
        idp_tests::phone::on_phone_page(&app.base, CLIENT, "openid").await;
    let page = idp_tests::phone::submit_phone(&mut browser, &tx, &csrf, phone).await;
    (browser, tx, page)
}

pub async fn status_of(browser: &mut Browser, tx: &str) -> String {
    let page = browser.get(&format!("/login/telephone/etat?tx={tx}")).await;
    let body: Value = serde_json::from_str(&page.body).unwrap();
    body["state"].as_str().unwrap().to_owned()
}

/// The waiting page without what differs between any two logins (tx,
/// number, CSRF token, remaining time).
pub fn normalised(page: &Page, tx: &str) -> String {
    let number = idp_tests::phone::shown_number(&page.body);
    let mut body = page
        .body
        .replace(tx, "TX")
        .replace(&format!(">{number}<"), ">NN<")
        .replace(&format!("<strong>{number}</strong>"), "<strong>NN</strong>");
    if let Some(csrf) = page.field("csrf") {
        body = body.replace(&csrf, "CSRF");
    }
    body.split("expire").next().unwrap().to_owned()
}

/// After a block, an eidas2 login for `phone` looks exactly like one for a
/// number without an identity, and no device hears of it.
pub async fn eidas2_looks_unknown(app: &TestApp, phone: &str, stranger: &str) {
    let (mut known, known_tx, known_page) = waiting_for(app, phone).await;
    let (mut other, other_tx, other_page) = waiting_for(app, stranger).await;
    assert_eq!(known_page.status, other_page.status);
    assert_eq!(
        normalised(&known_page, &known_tx),
        normalised(&other_page, &other_tx)
    );
    assert_eq!(status_of(&mut known, &known_tx).await, "pending");
    assert_eq!(status_of(&mut other, &other_tx).await, "pending");
    let id = phone.to_owned();
    let approver = app
        .core
        .db
        .read_blocking(move |conn| {
            let e164 = idp_server::domain::phone::FrenchMobile::parse(&id)
                .unwrap()
                .as_str()
                .to_owned();
            idp_server::store::accounts::approver_by_phone(conn, &e164)
        })
        .unwrap();
    assert_eq!(approver, None);
}

async fn blocking_revokes_everything_and_a_new_code_unblocks(backend: Backend) {
    let (_env, app, secret) = spawn(backend).await;
    let (citizen, national, e164, device) = activated(&app, 21).await;
    let (stranger, _) = phone_number(22);
    let token = access_token(&app, &secret, &citizen).await;
    assert_eq!(userinfo_status(&app, &token).await, 200);
    // A login waiting for an approval when the identity is blocked.
    let (mut browser, tx, _) = waiting_for(&app, &national).await;
    assert_eq!(device.challenges(5).await.unwrap().len(), 1);
    let sent_before = messages_to(&app, &citizen.email).await.len();

    let blocked = block_identity(&app.core, &citizen.account_id, "test:support").await;
    assert_eq!(
        blocked.unwrap(),
        Blocked::Now {
            from: idp_server::domain::account::AccountState::Active,
            devices: 1
        }
    );
    assert_eq!(account_state(&app, &citizen.account_id), "blocked");
    assert_eq!(device_states(&app, &citizen.account_id), ["revoked"]);
    assert_eq!(audit_count(&app, &citizen.account_id, "account.blocked"), 1);
    // The pending approval is cancelled, the device can no longer call the
    // API, the access token stops.
    assert_eq!(status_of(&mut browser, &tx).await, "cancelled");
    let refused = device.challenges(0).await.expect_err("revoked");
    assert_eq!(
        (refused.status, refused.code()),
        (403, "device_revoked"),
        "{}",
        refused.body
    );
    assert_eq!(userinfo_status(&app, &token).await, 401);
    // Told by email and SMS.
    let mails = messages_to(&app, &citizen.email).await;
    assert_eq!(mails.len(), sent_before + 1);
    assert!(
        mails[0]
            .subject
            .as_deref()
            .unwrap_or("")
            .contains("bloquée"),
        "{:?}",
        mails[0]
    );
    let sms = messages_to(&app, &e164).await;
    assert!(sms[0].text.contains("bloquée"), "{}", sms[0].text);
    // eidas2 is refused exactly as for a number without an identity.
    eidas2_looks_unknown(&app, &national, &stranger).await;

    // Blocking again changes nothing and sends nothing.
    let again = block_identity(&app.core, &citizen.account_id, "test:support").await;
    assert_eq!(again.unwrap(), Blocked::Already);
    assert_eq!(audit_count(&app, &citizen.account_id, "account.blocked"), 1);
    assert_eq!(
        messages_to(&app, &citizen.email).await.len(),
        sent_before + 1
    );

    // Suspended then lifted: blocked again, not active.
    let row = idp_server::support::by_id(&app.core.db, &citizen.account_id)
        .await
        .unwrap();
    idp_server::support::suspend(&app.core.db, &row, "test:support", "enquête")
        .await
        .unwrap();
    let row = idp_server::support::by_id(&app.core.db, &citizen.account_id)
        .await
        .unwrap();
    idp_server::support::unsuspend(&app.core.db, &row, "test:support", None)
        .await
        .unwrap();
    assert_eq!(account_state(&app, &citizen.account_id), "blocked");

    // A new activation code by the normal route unblocks it (verified), and
    // a new activation makes it active again.
    let row = idp_server::support::by_id(&app.core.db, &citizen.account_id)
        .await
        .unwrap();
    idp_server::support::reissue_activation(&app.core, &row, "test:support")
        .await
        .unwrap();
    assert_eq!(account_state(&app, &citizen.account_id), "verified");
    let code = code_sent_to(&app, &e164).await;
    let phone = activate(&app, &citizen, &code).await;
    assert_eq!(account_state(&app, &citizen.account_id), "active");
    let (_browser, _tx, _) = waiting_for(&app, &national).await;
    assert_eq!(phone.challenges(5).await.unwrap().len(), 1);
}

async fn only_a_verified_identity_can_be_blocked(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let enrolling = create_citizen(&app, false);
    let refused = block_identity(&app.core, &enrolling.account_id, "test:support").await;
    assert!(
        matches!(
            refused,
            Err(ServiceError::Refused(BlockRefusal::NotBlockable(
                idp_server::domain::account::AccountState::IdentitySubmitted
            )))
        ),
        "{refused:?}"
    );
    assert_eq!(
        account_state(&app, &enrolling.account_id),
        "identity_submitted"
    );
    assert_eq!(
        audit_count(&app, &enrolling.account_id, "account.blocked"),
        0
    );
    // A verified identity without an app can be (nothing to revoke).
    let verified = create_citizen(&app, true);
    let blocked = block_identity(&app.core, &verified.account_id, "test:support").await;
    assert_eq!(
        blocked.unwrap(),
        Blocked::Now {
            from: idp_server::domain::account::AccountState::Verified,
            devices: 0
        }
    );
}

async fn admin(env: &TestEnv, args: &[&str]) -> String {
    use clap::Parser;
    let cli =
        idp_admin::Cli::try_parse_from(std::iter::once("idp-admin").chain(args.iter().copied()))
            .unwrap();
    let mut out = Vec::new();
    idp_admin::run_with(cli, env.config(), None, &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// The console on a free port, sharing the app's core; an administrator
/// logged in (password then TOTP enrolment).
async fn console_as_admin(env: &TestEnv, app: &TestApp) -> Browser {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = idp_admin::console::server(app.core.clone(), listener)
        .await
        .unwrap();
    tokio::spawn(server);
    let created = admin(
        env,
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
    let created: Value = serde_json::from_str(&created).unwrap();
    let password = created["initial_password"].as_str().unwrap();
    let mut console = Browser::new(&base);
    idp_tests::console::log_in_new_agent(&mut console, "a.support", password).await;
    console
}

async fn support_blocks_from_the_console(backend: Backend) {
    let (env, app, secret) = spawn(backend).await;
    let (citizen, national, e164, device) = activated(&app, 23).await;
    let (stranger, _) = phone_number(24);
    let token = access_token(&app, &secret, &citizen).await;
    let mut console = console_as_admin(&env, &app).await;
    let q: String = url::form_urlencoded::byte_serialize(citizen.email.as_bytes()).collect();
    let shown = console.get(&format!("/comptes?q={q}")).await;
    assert!(
        shown.body.contains("Bloquer l&#39;identité"),
        "{}",
        shown.body
    );
    let csrf = shown.field("csrf").unwrap();
    let block = format!("/comptes/{}/bloquer", citizen.account_id);
    // Without the session's token: nothing happens.
    assert_eq!(console.post(&block, &[]).await.status, 400);
    assert_eq!(account_state(&app, &citizen.account_id), "active");

    let (mut browser, tx, _) = waiting_for(&app, &national).await;
    assert_eq!(device.challenges(5).await.unwrap().len(), 1);
    let page = console.post(&block, &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let after = console.get(page.location.as_deref().unwrap()).await;
    assert!(after.body.contains("Identité bloquée"), "{}", after.body);
    assert!(after.body.contains("account.blocked"), "{}", after.body);
    // Blocked: no block button any more, a new activation code offered.
    assert!(!after.body.contains("/bloquer\""), "{}", after.body);
    assert!(after.body.contains("/activation\""), "{}", after.body);
    assert_eq!(account_state(&app, &citizen.account_id), "blocked");
    assert_eq!(device_states(&app, &citizen.account_id), ["revoked"]);
    assert_eq!(status_of(&mut browser, &tx).await, "cancelled");
    assert_eq!(userinfo_status(&app, &token).await, 401);
    let entry = app
        .core
        .db
        .read_blocking({
            let id = citizen.account_id.clone();
            move |conn| idp_server::store::audit::latest_for_subject(conn, &id, "account.blocked")
        })
        .unwrap()
        .unwrap();
    assert_eq!(entry.actor, "agent:a.support");
    assert!(
        messages_to(&app, &citizen.email).await[0]
            .subject
            .as_deref()
            .unwrap_or("")
            .contains("bloquée")
    );
    assert!(messages_to(&app, &e164).await[0].text.contains("bloquée"));
    eidas2_looks_unknown(&app, &national, &stranger).await;

    // A new activation code from the console unblocks it; a new activation works.
    let page = console
        .post(
            &format!("/comptes/{}/activation", citizen.account_id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(account_state(&app, &citizen.account_id), "verified");
    let code = code_sent_to(&app, &e164).await;
    let phone = activate(&app, &citizen, &code).await;
    let (_browser, _tx, _) = waiting_for(&app, &national).await;
    assert_eq!(phone.challenges(5).await.unwrap().len(), 1);
}

async fn operators_block_from_the_cli(backend: Backend) {
    let (env, app, secret) = spawn(backend).await;
    let (citizen, national, e164, device) = activated(&app, 25).await;
    let (stranger, _) = phone_number(26);
    let token = access_token(&app, &secret, &citizen).await;
    let out = admin(&env, &["accounts", "block", &citizen.email]).await;
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&format!(
            "{}: identity blocked (1 device(s) revoked",
            citizen.email
        )),
        "{out}"
    );
    assert_eq!(account_state(&app, &citizen.account_id), "blocked");
    assert_eq!(device_states(&app, &citizen.account_id), ["revoked"]);
    assert_eq!(
        device.challenges(0).await.unwrap_err().code(),
        "device_revoked"
    );
    assert_eq!(userinfo_status(&app, &token).await, 401);
    assert!(messages_to(&app, &e164).await[0].text.contains("bloquée"));
    eidas2_looks_unknown(&app, &national, &stranger).await;
    // By phone number, again: already blocked, nothing changes.
    let again = admin(&env, &["accounts", "block", &national]).await;
    assert_eq!(
        again.trim(),
        format!("{}: already blocked; nothing changed", citizen.email)
    );
    assert_eq!(audit_count(&app, &citizen.account_id, "account.blocked"), 1);
    let json = admin(&env, &["--json", "accounts", "block", &citizen.email]).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["already_blocked"], true);
    assert_eq!(json["state"], "blocked");
    // reissue-activation unblocks; a new activation works.
    admin(&env, &["accounts", "reissue-activation", &citizen.email]).await;
    assert_eq!(account_state(&app, &citizen.account_id), "verified");
    let code = code_sent_to(&app, &e164).await;
    activate(&app, &citizen, &code).await;
    assert_eq!(account_state(&app, &citizen.account_id), "active");
}

/// Logs in to `/compte` with the password (eidas1): the account page.
pub async fn account_page(app: &TestApp, citizen: &Citizen) -> (Browser, Page) {
    let mut browser = Browser::new(&app.base);
    let (_, csrf) = idp_tests::enrolment::form(&mut browser, "/compte/connexion").await;
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
    assert_eq!(page.status, 303, "{}", page.body);
    let page = browser.get("/compte").await;
    assert_eq!(page.status, 200, "{}", page.body);
    (browser, page)
}

async fn the_account_page_says_the_identity_is_blocked(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, _, _, _device) = activated(&app, 27).await;
    let (_, page) = account_page(&app, &citizen).await;
    assert!(!page.body.contains("Identité bloquée"), "{}", page.body);
    block_identity(&app.core, &citizen.account_id, "test:support")
        .await
        .unwrap();
    let (_, page) = account_page(&app, &citizen).await;
    assert!(page.body.contains("Identité bloquée"), "{}", page.body);
    assert!(page.body.contains("bureau de poste"), "{}", page.body);
}

async fn fraud_reports_tell_the_citizen_and_three_pause_approvals(backend: Backend) {
    let env = TestEnv::new(backend);
    let mut config = env.config();
    config.login.approvals_per_phone = 100;
    config.login.phone_ip_limit = 100;
    let app = env.spawn_with(config).await;
    register_client(&app, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    let (citizen, national, e164, device) = activated(&app, 28).await;
    let (stranger, _) = phone_number(30);
    for report in 1..=3 {
        let (mut browser, tx, _) = waiting_for(&app, &national).await;
        let found = device.challenges(5).await.unwrap();
        assert_eq!(found.len(), 1, "report {report}");
        let decided = device.decide(&found[0], "fraud", None, None).await.unwrap();
        assert_eq!(decided["status"], "fraud_reported");
        // The browser learns only that the login was refused.
        assert_eq!(status_of(&mut browser, &tx).await, "denied");
        // The citizen is told what was attempted, when, from where, and
        // where to block the identity.
        let partner = found[0]["client_name"].as_str().unwrap();
        let mail = &messages_to(&app, &citizen.email).await[0];
        assert!(mail.text.contains(partner), "{}", mail.text);
        assert!(mail.text.contains("127.0.0.x"), "{}", mail.text);
        assert!(
            mail.text.contains(&format!("{}/compte", app.base)),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("heure de Paris"), "{}", mail.text);
        assert_eq!(
            mail.text.contains("suspendues"),
            report == 3,
            "{}",
            mail.text
        );
        let sms = &messages_to(&app, &e164).await[0];
        assert!(sms.text.contains(partner), "{}", sms.text);
        let expected = if report < 3 {
            "active"
        } else {
            "approvals_paused"
        };
        assert_eq!(account_state(&app, &citizen.account_id), expected);
    }
    assert_eq!(
        audit_count(&app, &citizen.account_id, "login.fraud_reported"),
        3
    );
    assert_eq!(
        audit_count(&app, &citizen.account_id, "account.approvals_paused"),
        1
    );
    // Support lists the three reports (partner, approximate place).
    let reports = idp_server::support::fraud_reports(&app.core.db, &citizen.account_id)
        .await
        .unwrap();
    assert_eq!(reports.len(), 3);
    assert!(
        reports
            .iter()
            .all(|r| r.place == "127.0.0.x" && !r.partner.is_empty())
    );
    let mut console = console_as_admin(&env, &app).await;
    let q: String = url::form_urlencoded::byte_serialize(citizen.email.as_bytes()).collect();
    let shown = console.get(&format!("/comptes?q={q}")).await;
    assert_eq!(
        shown.body.matches("<td>127.0.0.x</td>").count(),
        3,
        "{}",
        shown.body
    );
    assert!(
        shown
            .body
            .contains(&format!("<td>{}</td>", reports[0].partner))
    );
    // Paused: a new login looks like one for an unknown number, the device
    // hears nothing.
    eidas2_looks_unknown(&app, &national, &stranger).await;
    assert!(device.challenges(0).await.unwrap().is_empty());

    // The citizen takes back control from /compte after a password login.
    let (mut browser, page) = account_page(&app, &citizen).await;
    assert!(page.body.contains("suspendues"), "{}", page.body);
    assert!(page.body.contains("/compte/reprendre"), "{}", page.body);
    let csrf = page.field("csrf").unwrap();
    assert_eq!(browser.post("/compte/reprendre", &[]).await.status, 400);
    assert_eq!(account_state(&app, &citizen.account_id), "approvals_paused");
    let resumed = browser.post("/compte/reprendre", &[("csrf", &csrf)]).await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    assert!(
        resumed.body.contains("de nouveau approuver"),
        "{}",
        resumed.body
    );
    assert!(
        !resumed.body.contains("/compte/reprendre"),
        "{}",
        resumed.body
    );
    assert_eq!(account_state(&app, &citizen.account_id), "active");
    // Twice: nothing more is written.
    browser.post("/compte/reprendre", &[("csrf", &csrf)]).await;
    assert_eq!(
        audit_count(&app, &citizen.account_id, "account.approvals_resumed"),
        1
    );
    let (_browser, _tx, _) = waiting_for(&app, &national).await;
    assert_eq!(device.challenges(5).await.unwrap().len(), 1);
}
