//! The authenticator app and the eidas2 login (issue: device API, approval
//! with number matching, PIN, lock, activation, cross-replica wake-ups).
//! The device side is `idp_tests::authenticator`, the engine of
//! `idp-authenticator`; the relying party is the `openidconnect` crate.

use std::collections::HashMap;
use std::time::Duration;

use diesel::prelude::*;
use idp_server::store::schema::{accounts, audit_log, devices};
use idp_tests::authenticator::{ApiError, Authenticator};
use idp_tests::browser::{Browser, Page};
use idp_tests::enrolment::{code_sent_to, messages_to};
use idp_tests::oidc::{Citizen, create_citizen, manual_authorize, register_client};
use idp_tests::{Backend, TestApp, TestEnv, both_backends, rp};
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

const PIN: &str = "2580";
const CLIENT: &str = "formation";

both_backends!(
    eidas2_login_with_the_openidconnect_rp,
    activation_rules,
    request_signatures_are_checked,
    decision_errors_change_nothing_they_should_not,
    three_wrong_pins_lock_until_reactivation,
    wrong_numbers_are_counted_apart_and_lock_on_their_own,
    parallel_wrong_pins_cannot_pass_the_count,
    one_pending_approval_per_account_and_rate_limits,
    unknown_numbers_look_like_known_ones,
    superseding_looks_the_same_for_known_and_unknown_numbers,
    a_new_login_racing_a_wrong_pin_leaves_one_pending,
    denial_fraud_and_expiry_end_on_clear_pages,
    device_list_rename_revoke,
    events_reach_device_and_browser,
    operators_revoke_devices_from_the_cli,
    per_ip_limits_count_clients_behind_a_trusted_proxy,
);

fn phone_number(n: u32) -> (String, String) {
    let national = format!("06 {:02} {:02} {:02} {:02}", 10 + n % 89, n % 97, 42, 17);
    let e164 = format!("+336{:02}{:02}4217", 10 + n % 89, n % 97);
    (national, e164)
}

/// A verified citizen with phone number `n` and an activation code; returns the code.
async fn verified(app: &TestApp, n: u32) -> (Citizen, String, String) {
    let (national, e164) = phone_number(n);
    let (citizen, code) = idp_tests::oidc::verified_with_activation_code(app, &e164).await;
    (citizen, national, code)
}

fn authenticator(app: &TestApp) -> Authenticator {
    Authenticator::new(app.http.clone(), &app.base, &app.base).unwrap()
}

/// A verified citizen with an activated authenticator.
async fn activated(app: &TestApp, n: u32) -> (Citizen, String, Authenticator) {
    let (citizen, phone, code) = verified(app, n).await;
    let mut device = authenticator(app);
    let body = device
        .activate(&citizen.email, &citizen.password, &code, PIN, "Pixel")
        .await
        .expect("activation");
    assert_eq!(body["account_state"], "active");
    (citizen, phone, device)
}

async fn spawn(backend: Backend) -> (TestEnv, TestApp, String) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = register_client(&app, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    (env, app, secret)
}

fn account_state(app: &TestApp, account_id: &str) -> String {
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

fn pin_failures(app: &TestApp, device_id: &str) -> (i32, String) {
    let id = device_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(devices::table
                .filter(devices::id.eq(&id))
                .select((devices::pin_failures, devices::state))
                .first::<(i32, String)>(conn)?)
        })
        .unwrap()
}

/// (wrong PINs, wrong numbers) counted on the device.
fn failure_counts(app: &TestApp, device_id: &str) -> (i32, i32) {
    let id = device_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(devices::table
                .filter(devices::id.eq(&id))
                .select((devices::pin_failures, devices::number_failures))
                .first::<(i32, i32)>(conn)?)
        })
        .unwrap()
}

/// A new phone login for `phone` whose app is locked: the browser's first
/// page after the number is already the end page (no number to pick).
async fn blocked_login(app: &TestApp, phone: &str) -> (Browser, String, Page) {
    let request = manual_authorize(
        &app.base,
        CLIENT,
        "openid profile",
        &[("acr_values", "eidas2")],
    );
    let mut browser = Browser::new(&app.base);
    let (tx, csrf) = idp_tests::phone::open_phone_page(&mut browser, &request.url).await;
    let page = idp_tests::phone::submit_phone(&mut browser, &tx, &csrf, phone).await;
    (browser, tx, page)
}

fn audit_count(app: &TestApp, action: &str) -> i64 {
    let action = action.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(audit_log::table
                .filter(audit_log::action.eq(&action))
                .count()
                .get_result(conn)?)
        })
        .unwrap()
}

/// A browser at the waiting page of an eidas2 login for `phone`.
struct Waiting {
    browser: Browser,
    tx: String,
    number: i64,
    page: Page,
}

fn shown_number(page: &Page) -> i64 {
    idp_tests::phone::shown_number(&page.body)
}

/// Opens `authorize_url` in `browser` and types `phone` on the phone page.
async fn wait_in(mut browser: Browser, authorize_url: &str, phone: &str) -> Waiting {
    let (tx, csrf) = idp_tests::phone::open_phone_page(&mut browser, authorize_url).await;
    let waiting = idp_tests::phone::submit_phone(&mut browser, &tx, &csrf, phone).await;
    Waiting {
        number: shown_number(&waiting),
        browser,
        tx,
        page: waiting,
    }
}

async fn wait_for_login(app: &TestApp, phone: &str) -> Waiting {
    let request = manual_authorize(
        &app.base,
        CLIENT,
        "openid profile",
        &[("acr_values", "eidas2")],
    );
    wait_in(Browser::new(&app.base), &request.url, phone).await
}

impl Waiting {
    /// Reloads the waiting page (what SSE, polling or the refresh do).
    async fn reload(&mut self) -> Page {
        self.browser
            .get(&format!("/login/telephone/attente?tx={}", self.tx))
            .await
    }

    async fn state(&mut self) -> String {
        let page = self
            .browser
            .get(&format!("/login/telephone/etat?tx={}", self.tx))
            .await;
        let body: Value = serde_json::from_str(&page.body).unwrap();
        body["state"].as_str().unwrap().to_owned()
    }

    /// After approval: the consent page (approved), then the redirect's parameters.
    async fn finish(&mut self) -> HashMap<String, String> {
        let mut page = self.reload().await;
        for _ in 0..5 {
            let location = page.location.clone().expect("a redirect");
            if location.starts_with("http://127.0.0.1:9/") {
                return url::Url::parse(&location)
                    .unwrap()
                    .query_pairs()
                    .into_owned()
                    .collect();
            }
            let form = self.browser.get(&location).await;
            assert!(location.contains("/consent?"), "{location}: {}", form.body);
            let (tx, csrf) = (form.field("tx").unwrap(), form.field("csrf").unwrap());
            page = self
                .browser
                .post(
                    "/consent",
                    &[("tx", &tx), ("csrf", &csrf), ("decision", "approve")],
                )
                .await;
        }
        panic!("no redirect to the client")
    }
}

async fn one_challenge(device: &Authenticator) -> Value {
    let mut found = device.challenges(5).await.expect("challenges");
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

fn wrong_number(challenge: &Value, right: i64) -> i64 {
    challenge["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .find(|n| *n != right)
        .unwrap()
}

fn expect_error(result: Result<Value, ApiError>, status: u16, code: &str) -> ApiError {
    let error = result.expect_err("an error");
    assert_eq!(
        (error.status, error.code()),
        (status, code),
        "{}",
        error.body
    );
    error
}

// ------------------------------------------------------------------ journey

async fn eidas2_login_with_the_openidconnect_rp(backend: Backend) {
    let (_env, app, secret) = spawn(backend).await;
    let (citizen, phone, device) = activated(&app, 1).await;
    assert_eq!(account_state(&app, &citizen.account_id), "active");

    let client = rp::client(
        &app.base,
        CLIENT,
        Some(&secret),
        idp_tests::oidc::REDIRECT_URI,
    )
    .await;
    let request = rp::authorize(&client, &["profile", "birth"], Some("eidas2"));
    let mut waiting = wait_in(Browser::new(&app.base), request.url.as_str(), &phone).await;
    assert!(
        waiting
            .page
            .body
            .contains("Sur votre téléphone, choisissez le nombre")
    );
    assert_eq!(waiting.state().await, "pending");

    let challenge = one_challenge(&device).await;
    assert_eq!(challenge["client_name"], format!("Service {CLIENT}"));
    assert_eq!(challenge["browser"]["ip"], "127.0.0.x");
    let numbers: Vec<i64> = challenge["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    assert_eq!(numbers.len(), 3);
    assert!(numbers.contains(&waiting.number));
    let approved = device
        .approve(&challenge, PIN, waiting.number)
        .await
        .expect("approval");
    assert_eq!(approved["status"], "approved");
    assert_eq!(waiting.state().await, "approved");
    // A second approval of the same challenge is refused.
    expect_error(
        device.approve(&challenge, PIN, waiting.number).await,
        409,
        "challenge_decided",
    );

    let params = waiting.finish().await;
    assert_eq!(
        params.get("state").map(String::as_str),
        Some(request.state.secret().as_str())
    );
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&rp::http())
        .await
        .expect("token exchange");
    let claims = token
        .id_token()
        .expect("ID token")
        .claims(&client.id_token_verifier(), &request.nonce)
        .expect("ID token verifies")
        .clone();
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("eidas2")
    );
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(amr, ["pop", "pin", "mfa"]);
    // The identity is released to the relying party at this level.
    let userinfo: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["family_name"], "DURAND");
    assert_eq!(userinfo["birthdate"], "1985-02-28");
    assert_eq!(audit_count(&app, "login.device"), 1);
    // The approval is used once: reloading the waiting page does not log in again.
    let again = waiting.reload().await;
    assert_eq!((again.status, again.location.as_deref()), (400, None));
    assert!(again.body.contains("a expiré"), "{}", again.body);
}

// ------------------------------------------------------------------ activation

async fn activation_rules(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, _, code) = verified(&app, 2).await;
    let mut device = authenticator(&app);

    // Bad PINs and keys are refused before anything is counted.
    for (pin, error) in [
        ("123", "invalid_pin"),
        ("12345", "invalid_pin"),
        ("1234", "weak_pin"),
        ("0000", "weak_pin"),
    ] {
        expect_error(
            device
                .activate(&citizen.email, &citizen.password, &code, pin, "x")
                .await,
            400,
            error,
        );
    }
    let raw = app
        .http
        .post(app.url("/api/device/v1/activation"))
        .json(&serde_json::json!({
            "email": citizen.email, "password": citizen.password, "activation_code": code,
            "pin": PIN, "public_key": {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    expect_error(
        device
            .activate(&citizen.email, "wrong password!", &code, PIN, "x")
            .await,
        401,
        "invalid_credentials",
    );
    assert_eq!(account_state(&app, &citizen.account_id), "verified");

    // Five wrong codes void it; the right one then no longer works.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..=4).rev() {
        let error = expect_error(
            device
                .activate(&citizen.email, &citizen.password, wrong, PIN, "x")
                .await,
            400,
            "invalid_activation_code",
        );
        assert_eq!(error.body["attempts_left"], left);
    }
    expect_error(
        device
            .activate(&citizen.email, &citizen.password, wrong, PIN, "x")
            .await,
        403,
        "activation_code_void",
    );
    expect_error(
        device
            .activate(&citizen.email, &citizen.password, &code, PIN, "x")
            .await,
        403,
        "activation_code_void",
    );
    assert_eq!(account_state(&app, &citizen.account_id), "verified");

    // A fresh code from the operator works; it is single use.
    assert!(
        idp_server::verification::issue_activation_code(&app.core, &citizen.account_id, "cli:test")
            .await
            .unwrap()
    );
    let (_, e164) = phone_number(2);
    let fresh = code_sent_to(&app, &e164).await;
    device
        .activate(&citizen.email, &citizen.password, &fresh, PIN, "Pixel")
        .await
        .expect("activation");
    assert_eq!(account_state(&app, &citizen.account_id), "active");
    let mails = messages_to(&app, &citizen.email).await;
    assert!(
        mails.iter().any(
            |m| m.subject.as_deref() == Some("Application Sésame activée")
                && m.text.contains("« Pixel »")
        ),
        "{mails:?}"
    );
    let mut second = authenticator(&app);
    expect_error(
        second
            .activate(&citizen.email, &citizen.password, &fresh, PIN, "x")
            .await,
        404,
        "no_activation_code",
    );

    // An expired code is refused.
    let id = citizen.account_id.clone();
    assert!(
        idp_server::verification::issue_activation_code(&app.core, &id, "cli:test")
            .await
            .unwrap()
    );
    let expired = code_sent_to(&app, &e164).await;
    app.core
        .db
        .write_blocking(move |conn| {
            use idp_server::store::schema::activation_codes as c;
            diesel::update(c::table.filter(c::account_id.eq(&id)))
                .set(c::expires_at.eq(idp_server::store::now_unix() - 1))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
    expect_error(
        second
            .activate(&citizen.email, &citizen.password, &expired, PIN, "x")
            .await,
        410,
        "activation_code_expired",
    );

    // An account that is not verified cannot activate.
    let unverified = create_citizen(&app, false);
    expect_error(
        second
            .activate(&unverified.email, &unverified.password, "123456", PIN, "x")
            .await,
        409,
        "not_activatable",
    );
}

// ------------------------------------------------------------------ signatures

async fn request_signatures_are_checked(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (_, _, device) = activated(&app, 3).await;
    let path = "/api/device/v1/challenges";
    let send = |auth: Option<String>| {
        let mut request = app.http.get(app.url(path));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let now = idp_server::store::now_unix();
    let claims = |iat: i64, htu: &str, htm: &str| serde_json::json!({"htm": htm, "htu": htu, "iat": iat, "jti": uuid::Uuid::new_v4().to_string()});
    let htu = format!("{}{path}", app.base);

    let (status, body) = send(None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_device_request"))
    );
    let (status, _) = send(Some("Bearer abc".into())).await;
    assert_eq!(status, 401);

    let good = device.sign("device-request+jwt", &claims(now, &htu, "GET"));
    assert_eq!(send(Some(format!("Device {good}"))).await.0, 200);
    // The same proof again is a replay.
    let (status, body) = send(Some(format!("Device {good}"))).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("replayed"),
        "{body}"
    );

    for (proof, why) in [
        (
            device.sign("device-request+jwt", &claims(now - 300, &htu, "GET")),
            "expired",
        ),
        (
            device.sign(
                "device-request+jwt",
                &claims(now, &format!("{}/api/device/v1/devices", app.base), "GET"),
            ),
            "htu",
        ),
        (
            device.sign("device-request+jwt", &claims(now, &htu, "POST")),
            "htm",
        ),
        (
            device.sign("device-decision+jwt", &claims(now, &htu, "GET")),
            "typ",
        ),
    ] {
        let (status, body) = send(Some(format!("Device {proof}"))).await;
        assert_eq!(status, 401, "{why}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(why),
            "{why}: {body}"
        );
    }

    // Signed by another key under this device's id.
    let mut impostor = authenticator(&app);
    impostor.device_id = device.device_id.clone();
    let forged = impostor.sign("device-request+jwt", &claims(now, &htu, "GET"));
    let (status, body) = send(Some(format!("Device {forged}"))).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("signature"),
        "{body}"
    );
    // An unknown device id.
    impostor.device_id = Some(uuid::Uuid::new_v4().to_string());
    let unknown = impostor.sign("device-request+jwt", &claims(now, &htu, "GET"));
    let (status, body) = send(Some(format!("Device {unknown}"))).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("unknown device"),
        "{body}"
    );
    // Long-poll bounds.
    expect_error(
        device
            .call(
                reqwest::Method::GET,
                "/api/device/v1/challenges?wait=31",
                None,
            )
            .await,
        400,
        "invalid_request",
    );
}

// ------------------------------------------------------------------ decisions

async fn decision_errors_change_nothing_they_should_not(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (_, phone, device) = activated(&app, 4).await;
    let (_, other_phone, other) = activated(&app, 5).await;
    let device_id = device.device_id.clone().unwrap();

    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;
    let id = challenge["id"].as_str().unwrap();

    // Another account's device cannot decide it (and sees nothing).
    assert!(other.challenges(0).await.unwrap().is_empty());
    let mut other_waiting = wait_for_login(&app, &other_phone).await;
    let others = one_challenge(&other).await;
    expect_error(
        other.approve(&challenge, PIN, waiting.number).await,
        403,
        "foreign_challenge",
    );
    // Nonce and challenge id are part of the signed decision.
    let bad_nonce = device.decision(
        id,
        "not-the-nonce",
        "approve",
        Some(PIN),
        Some(waiting.number),
    );
    expect_error(
        device.post_decision(id, bad_nonce).await,
        400,
        "nonce_mismatch",
    );
    let moved = device.decision(
        others["id"].as_str().unwrap(),
        challenge["nonce"].as_str().unwrap(),
        "approve",
        Some(PIN),
        Some(waiting.number),
    );
    expect_error(
        device.post_decision(id, moved).await,
        401,
        "invalid_device_request",
    );
    expect_error(
        device
            .post_decision(
                "no-such-challenge",
                device.decision("no-such-challenge", "n", "deny", None, None),
            )
            .await,
        404,
        "unknown_challenge",
    );
    // PINs of 3 or 5 digits: refused, not counted.
    for pin in ["123", "12345", "12a4"] {
        expect_error(
            device.approve(&challenge, pin, waiting.number).await,
            400,
            "invalid_pin",
        );
    }
    assert_eq!(pin_failures(&app, &device_id), (0, "active".into()));
    assert_eq!(waiting.state().await, "pending");

    // A wrong PIN counts and leaves the challenge pending.
    let error = expect_error(
        device.approve(&challenge, "9182", waiting.number).await,
        403,
        "wrong_pin",
    );
    assert_eq!(error.body["attempts_left"], 2);
    assert_eq!(waiting.state().await, "pending");
    // The right PIN resets the count.
    device
        .approve(&challenge, PIN, waiting.number)
        .await
        .expect("approval");
    assert_eq!(pin_failures(&app, &device_id).0, 0);
    expect_error(
        device.approve(&challenge, PIN, waiting.number).await,
        409,
        "challenge_decided",
    );

    // A wrong number counts as a failure and cancels the login.
    let wrong = wrong_number(&others, other_waiting.number);
    let error = expect_error(
        other.approve(&others, PIN, wrong).await,
        403,
        "wrong_number",
    );
    assert_eq!(error.body["attempts_left"], 2);
    assert_eq!(other_waiting.state().await, "wrong_number");
    expect_error(
        other.approve(&others, PIN, other_waiting.number).await,
        409,
        "challenge_decided",
    );
    let page = other_waiting.reload().await;
    assert!(
        page.body.contains("data-status=\"wrong_number\""),
        "{}",
        page.body
    );
}

// ------------------------------------------------------------------ lock

async fn three_wrong_pins_lock_until_reactivation(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, phone, mut device) = activated(&app, 6).await;
    let device_id = device.device_id.clone().unwrap();
    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;
    for left in [2, 1] {
        let e = expect_error(
            device.approve(&challenge, "9182", waiting.number).await,
            403,
            "wrong_pin",
        );
        assert_eq!(e.body["attempts_left"], left);
    }
    expect_error(
        device.approve(&challenge, "9182", waiting.number).await,
        403,
        "device_locked",
    );
    assert_eq!(pin_failures(&app, &device_id), (3, "locked".into()));
    assert_eq!(account_state(&app, &citizen.account_id), "device_locked");
    assert_eq!(waiting.state().await, "locked");
    let page = waiting.reload().await;
    assert!(
        page.body.contains("data-status=\"locked\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Trois codes secrets erronés"),
        "{}",
        page.body
    );
    assert_eq!(audit_count(&app, "device.locked"), 1);
    // The citizen is told by email, with what locked the app.
    let mails = messages_to(&app, &citizen.email).await;
    assert!(
        mails.iter().any(
            |m| m.subject.as_deref().is_some_and(|s| s.contains("bloquée"))
                && m.text.contains("Trois codes secrets erronés")
        ),
        "{mails:?}"
    );
    // A new login is told at once that the app is locked (no 2-minute wait).
    let (_, _, page) = blocked_login(&app, &phone).await;
    assert!(
        page.body.contains("data-status=\"blocked\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("trois codes secrets erronés"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("match-number"), "{}", page.body);
    // The locked device can do nothing, even with the right PIN.
    expect_error(
        device.challenges(0).await.map(Value::from),
        403,
        "device_locked",
    );

    // A new login by phone no longer reaches a device; re-activation with a new code does.
    let (_, e164) = phone_number(6);
    device
        .request_code(&citizen.email, &citizen.password)
        .await
        .expect("new code");
    let code = code_sent_to(&app, &e164).await;
    let mut fresh = authenticator(&app);
    fresh
        .activate(&citizen.email, &citizen.password, &code, "1357", "Nouveau")
        .await
        .expect("re-activation");
    assert_eq!(account_state(&app, &citizen.account_id), "active");
    assert_eq!(pin_failures(&app, &device_id).1, "revoked");
    device.device_id = Some(device_id);
    expect_error(
        device.challenges(0).await.map(Value::from),
        403,
        "device_revoked",
    );

    let mut again = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&fresh).await;
    fresh
        .approve(&challenge, "1357", again.number)
        .await
        .expect("approval");
    let params = again.finish().await;
    assert!(params.contains_key("code"), "{params:?}");
}

async fn wrong_numbers_are_counted_apart_and_lock_on_their_own(backend: Backend) {
    // Eight logins of one number: more than the approvals' rate limit.
    let (_env, app) = spawn_unthrottled(backend).await;
    let (citizen, phone, device) = activated(&app, 8).await;
    let device_id = device.device_id.clone().unwrap();

    // One wrong PIN, then a wrong number: two counts, one of each.
    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;
    let e = expect_error(
        device.approve(&challenge, "9182", waiting.number).await,
        403,
        "wrong_pin",
    );
    assert_eq!(e.body["attempts_left"], 2);
    let wrong = wrong_number(&challenge, waiting.number);
    let e = expect_error(
        device.approve(&challenge, PIN, wrong).await,
        403,
        "wrong_number",
    );
    assert_eq!(e.body["attempts_left"], 2);
    assert_eq!(failure_counts(&app, &device_id), (1, 1));
    assert_eq!(waiting.state().await, "wrong_number");
    // A wrong number with a wrong PIN counts as a wrong number only.
    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;
    let wrong = wrong_number(&challenge, waiting.number);
    let e = expect_error(
        device.approve(&challenge, "9182", wrong).await,
        403,
        "wrong_number",
    );
    assert_eq!(e.body["attempts_left"], 1);
    assert_eq!(failure_counts(&app, &device_id), (1, 2));
    assert_eq!(waiting.state().await, "wrong_number");
    // An approval resets both counts.
    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;
    device
        .approve(&challenge, PIN, waiting.number)
        .await
        .expect("approval");
    assert_eq!(failure_counts(&app, &device_id), (0, 0));
    assert!(waiting.finish().await.contains_key("code"));

    // Two wrong PINs and two wrong numbers leave the device active: four
    // failures, but neither count reached three.
    for _ in 0..2 {
        let mut waiting = wait_for_login(&app, &phone).await;
        let challenge = one_challenge(&device).await;
        expect_error(
            device.approve(&challenge, "9182", waiting.number).await,
            403,
            "wrong_pin",
        );
        let wrong = wrong_number(&challenge, waiting.number);
        expect_error(
            device.approve(&challenge, PIN, wrong).await,
            403,
            "wrong_number",
        );
        assert_eq!(waiting.state().await, "wrong_number");
    }
    assert_eq!(failure_counts(&app, &device_id), (2, 2));
    assert_eq!(pin_failures(&app, &device_id).1, "active");
    assert_eq!(audit_count(&app, "login.wrong_number"), 4);
    assert_eq!(audit_count(&app, "login.pin_failure"), 3);

    // The third wrong number in a row locks, and says so.
    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;
    let wrong = wrong_number(&challenge, waiting.number);
    let e = expect_error(
        device.approve(&challenge, PIN, wrong).await,
        403,
        "device_locked",
    );
    assert_eq!(e.body["lock_reason"], "wrong_numbers");
    assert_eq!(failure_counts(&app, &device_id), (2, 3));
    assert_eq!(pin_failures(&app, &device_id).1, "locked");
    assert_eq!(account_state(&app, &citizen.account_id), "device_locked");
    assert_eq!(waiting.state().await, "locked_wrong_numbers");
    let page = waiting.reload().await;
    assert!(
        page.body.contains("data-status=\"locked_wrong_numbers\"")
            && page.body.contains("Trois erreurs de nombre"),
        "{}",
        page.body
    );
    // Every later call of the device says why it is locked.
    let e = expect_error(
        device.challenges(0).await.map(Value::from),
        403,
        "device_locked",
    );
    assert_eq!(e.body["lock_reason"], "wrong_numbers");
    let mails = messages_to(&app, &citizen.email).await;
    assert!(
        mails.iter().any(|m| m
            .text
            .contains("le nombre choisi n'était pas celui affiché")
            && !m.text.contains("codes secrets erronés")),
        "{mails:?}"
    );
    // The citizen's space lists the device as locked by wrong numbers.
    let (_, space) = crate::citizen_block::account_page(&app, &citizen).await;
    assert!(
        space.body.contains("bloqué (erreurs de nombre)"),
        "{}",
        space.body
    );
    // A new login ends at once, saying the app is locked and how to unlock it.
    let (mut browser, tx, page) = blocked_login(&app, &phone).await;
    assert!(
        page.body.contains("data-status=\"blocked_wrong_numbers\"")
            && page.body.contains("trois erreurs de nombre")
            && page
                .body
                .contains("activation (avec votre adresse électronique"),
        "{}",
        page.body
    );
    let status = browser.get(&format!("/login/telephone/etat?tx={tx}")).await;
    assert!(
        status.body.contains("blocked_wrong_numbers"),
        "{}",
        status.body
    );
}

async fn parallel_wrong_pins_cannot_pass_the_count(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, phone, device) = activated(&app, 7).await;
    let device_id = device.device_id.clone().unwrap();
    let waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;

    // Ten wrong PINs at once on the same challenge: one decision at a time.
    let attempts = (0..10).map(|_| device.approve(&challenge, "9182", waiting.number));
    let results = futures_util::future::join_all(attempts).await;
    let codes: Vec<String> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .map_or_else(|e| e.code().to_owned(), |_| "approved".into())
        })
        .collect();
    let counted = codes
        .iter()
        .filter(|c| *c == "wrong_pin" || *c == "device_locked")
        .count();
    assert!(
        codes
            .iter()
            .all(|c| ["wrong_pin", "device_locked", "challenge_decided"].contains(&c.as_str())),
        "{codes:?}"
    );
    let (failures, _) = pin_failures(&app, &device_id);
    assert_eq!(failures as usize, counted.min(3), "{codes:?}");
    assert!(failures <= 3);

    // The counter itself under ten parallel transactions (as from ten
    // replicas): exactly three wrong PINs are counted, then nothing.
    let (other, _, other_device) = activated(&app, 8).await;
    let other_id = other_device.device_id.clone().unwrap();
    let tasks = (0..10).map(|_| {
        let (db, id) = (app.core.db.clone(), other_id.clone());
        tokio::spawn(async move {
            db.write(move |conn| idp_server::store::devices::count_pin_failure(conn, &id))
                .await
                .unwrap()
        })
    });
    let counts: Vec<Option<i32>> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut seen: Vec<i32> = counts.iter().flatten().copied().collect();
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 3], "{counts:?}");
    assert_eq!(counts.iter().filter(|c| c.is_none()).count(), 7);
    let _ = (citizen, other);
}

// ------------------------------------------------------------------ limits

async fn one_pending_approval_per_account_and_rate_limits(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (_, phone, device) = activated(&app, 9).await;
    let mut first = wait_for_login(&app, &phone).await;
    let old = one_challenge(&device).await;
    let mut second = wait_for_login(&app, &phone).await;
    assert_eq!(first.state().await, "cancelled");
    let page = first.reload().await;
    assert!(
        page.body.contains("data-status=\"cancelled\""),
        "{}",
        page.body
    );
    expect_error(
        device.approve(&old, PIN, first.number).await,
        409,
        "challenge_decided",
    );
    let current = one_challenge(&device).await;
    assert_ne!(current["id"], old["id"]);
    device
        .approve(&current, PIN, second.number)
        .await
        .expect("approval");
    assert_eq!(second.state().await, "approved");

    // Five approval requests per 15 minutes per number: the 6th is refused.
    for _ in 0..3 {
        wait_for_login(&app, &phone).await;
    }
    let request = manual_authorize(&app.base, CLIENT, "openid", &[("acr_values", "eidas2")]);
    let mut browser = Browser::new(&app.base);
    let start = browser.get(&request.url).await;
    let form = browser.get(start.location.as_deref().unwrap()).await;
    let (tx, csrf) = (form.field("tx").unwrap(), form.field("csrf").unwrap());
    let refused = browser
        .post(
            "/login/telephone",
            &[("tx", &tx), ("csrf", &csrf), ("phone", &phone)],
        )
        .await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.headers.contains_key("retry-after"));
    // A malformed number gets a French explanation, not a challenge.
    let bad = browser
        .post(
            "/login/telephone",
            &[("tx", &tx), ("csrf", &csrf), ("phone", "01 23")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("numéro de mobile français"),
        "{}",
        bad.body
    );
    // A forged form is refused.
    let forged = browser
        .post(
            "/login/telephone",
            &[("tx", &tx), ("csrf", "forged"), ("phone", &phone)],
        )
        .await;
    assert_eq!(forged.status, 400);
}

async fn unknown_numbers_look_like_known_ones(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (_, phone, device) = activated(&app, 10).await;
    let (unknown, _) = phone_number(11);
    let mut known = wait_for_login(&app, &phone).await;
    let mut stranger = wait_for_login(&app, &unknown).await;
    // Same page, same status, a number either way.
    assert_eq!(known.page.status, stranger.page.status);
    let strip = |p: &Page, w: &Waiting| {
        p.body
            .replace(&w.tx, "TX")
            .replace(&format!(">{}<", w.number), ">NN<")
            .replace(
                &format!("<strong>{}</strong>", w.number),
                "<strong>NN</strong>",
            )
    };
    let (a, b) = (strip(&known.page, &known), strip(&stranger.page, &stranger));
    let csrf = |p: &str| {
        p.split("name=\"csrf\" value=\"")
            .nth(1)
            .map(|s| s[..s.find('"').unwrap()].to_owned())
    };
    let normalise = |p: &str| {
        let mut p = p.to_owned();
        if let Some(c) = csrf(&p) {
            p = p.replace(&c, "CSRF");
        }
        // The remaining time may differ by a second.
        p.split("expire").next().unwrap().to_owned()
    };
    assert_eq!(normalise(&a), normalise(&b));
    assert_eq!(stranger.state().await, "pending");
    assert_eq!(known.state().await, "pending");
    let _ = one_challenge(&device).await;
}

/// The app with the per-number and per-IP limits out of the way, for tests
/// that log in many times from one address.
async fn spawn_unthrottled(backend: Backend) -> (TestEnv, TestApp) {
    let env = TestEnv::new(backend);
    let mut config = env.config();
    config.login.approvals_per_phone = 100_000;
    config.login.phone_ip_limit = 100_000;
    config.oidc.authorize_ip_limit = 100_000;
    let app = env.spawn_with(config).await;
    register_client(&app, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    (env, app)
}

/// A browser on the phone page of a new eidas2 login: (browser, tx, csrf).
async fn on_phone_page(app: &TestApp) -> (Browser, String, String) {
    idp_tests::phone::on_phone_page(&app.base, CLIENT, "openid").await
}

async fn status_of(browser: &mut Browser, tx: &str) -> String {
    let page = browser.get(&format!("/login/telephone/etat?tx={tx}")).await;
    let body: Value = serde_json::from_str(&page.body).unwrap();
    body["state"].as_str().unwrap().to_owned()
}

/// A second login for the same number cancels the first one whether or not
/// the number has an identity, and the phone page takes as long either way:
/// neither the first browser's status nor the timing tells them apart.
/// Timing: over 20 interleaved pairs of phone-page submissions, the median of
/// the paired differences must be within 5 ms (the difference between the
/// two paths is one extra key swap in the same Redis transaction; a database
/// lookup runs for both).
async fn superseding_looks_the_same_for_known_and_unknown_numbers(backend: Backend) {
    let (_env, app) = spawn_unthrottled(backend).await;
    let (_, known, _device) = activated(&app, 12).await;
    let (unknown, _) = phone_number(13);
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    for round in 0..21 {
        for (phone, times) in [(&known, &mut known_times), (&unknown, &mut unknown_times)] {
            let (mut first, tx1, csrf1) = on_phone_page(&app).await;
            let posted = first
                .post(
                    "/login/telephone",
                    &[("tx", &tx1), ("csrf", &csrf1), ("phone", phone)],
                )
                .await;
            assert_eq!(posted.status, 303, "{}", posted.body);
            let (mut second, tx2, csrf2) = on_phone_page(&app).await;
            let started = std::time::Instant::now();
            let posted = second
                .post(
                    "/login/telephone",
                    &[("tx", &tx2), ("csrf", &csrf2), ("phone", phone)],
                )
                .await;
            let took = started.elapsed();
            assert_eq!(posted.status, 303, "{}", posted.body);
            // The first round warms caches and connections.
            if round > 0 {
                times.push(took);
            }
            assert_eq!(status_of(&mut first, &tx1).await, "cancelled", "{phone}");
            assert_eq!(status_of(&mut second, &tx2).await, "pending", "{phone}");
        }
    }
    idp_tests::assert_same_time("phone page", &known_times, &unknown_times);
}

/// "One pending approval per account" holds when a wrong-PIN decision on the
/// current challenge and a new login for the account arrive together: the
/// older challenge always ends cancelled and can no longer be approved.
async fn a_new_login_racing_a_wrong_pin_leaves_one_pending(backend: Backend) {
    let (_env, app) = spawn_unthrottled(backend).await;
    let (_, phone, device) = activated(&app, 14).await;
    let (mut double_pending, mut approved_old) = (0, 0);
    for _ in 0..40 {
        let mut first = wait_for_login(&app, &phone).await;
        let old = one_challenge(&device).await;
        let (mut second, tx, csrf) = on_phone_page(&app).await;
        let form = [
            ("tx", tx.as_str()),
            ("csrf", csrf.as_str()),
            ("phone", phone.as_str()),
        ];
        let (wrong, posted) = tokio::join!(
            device.approve(&old, "1357", first.number),
            second.post("/login/telephone", &form),
        );
        assert_eq!(posted.status, 303, "{}", posted.body);
        if let Err(e) = &wrong {
            assert!(
                ["wrong_pin", "challenge_decided"].contains(&e.code()),
                "{}",
                e.body
            );
        }
        if first.state().await == "pending" {
            double_pending += 1;
        }
        if device.approve(&old, PIN, first.number).await.is_ok() {
            approved_old += 1;
        }
        // The new one is the only one offered, and it can be approved (which
        // also resets the PIN failure count for the next round).
        let current = one_challenge(&device).await;
        assert_ne!(current["id"], old["id"]);
        let waiting = second.get(posted.location.as_deref().unwrap()).await;
        device
            .approve(&current, PIN, shown_number(&waiting))
            .await
            .expect("the new challenge is approved");
    }
    eprintln!("40 rounds: {double_pending} double-pending, {approved_old} superseded approved");
    assert_eq!((double_pending, approved_old), (0, 0));
}

async fn denial_fraud_and_expiry_end_on_clear_pages(backend: Backend) {
    let env = TestEnv::new(backend);
    let mut config = env.config();
    config.login.approval_ttl_secs = 2;
    let app = env.spawn_with(config).await;
    register_client(&app, CLIENT, &idp_tests::oidc::client_metadata());
    let (_, phone, device) = activated(&app, 12).await;

    // Denied: a clear page, then access_denied for the relying party.
    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;
    assert_eq!(
        device.decide(&challenge, "deny", None, None).await.unwrap()["status"],
        "denied"
    );
    let page = waiting.reload().await;
    assert!(
        page.body.contains("Vous avez refusé la connexion"),
        "{}",
        page.body
    );
    let csrf = page.field("csrf").unwrap();
    let back = waiting
        .browser
        .post(
            "/login/cancel",
            &[("tx", &waiting.tx.clone()), ("csrf", &csrf)],
        )
        .await;
    let location = url::Url::parse(back.location.as_deref().unwrap()).unwrap();
    let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params["error"], "access_denied");

    // Fraud reported: recorded, and no retry offered.
    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;
    assert_eq!(
        device
            .decide(&challenge, "fraud", None, None)
            .await
            .unwrap()["status"],
        "fraud_reported"
    );
    // The browser is told only that the login was refused: the same page
    // as a plain refusal, never that a fraud report was made.
    let page = waiting.reload().await;
    assert!(
        page.body.contains("data-status=\"denied\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Vous avez refusé la connexion"));
    assert!(!page.body.contains("signalé"), "{}", page.body);
    assert_eq!(audit_count(&app, "login.fraud_reported"), 1);

    // A decision racing the expiry: whichever wins, device and browser agree.
    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;
    let expires_ms = challenge["expires_at"].as_i64().unwrap() * 1000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    tokio::time::sleep(Duration::from_millis(
        (expires_ms - now_ms - 3).max(0) as u64
    ))
    .await;
    let raced = device.approve(&challenge, PIN, waiting.number).await;
    let seen = waiting.state().await;
    match raced {
        Ok(body) => assert_eq!(
            (body["status"].as_str(), seen.as_str()),
            (Some("approved"), "approved")
        ),
        Err(e) => assert_eq!((e.code(), seen.as_str()), ("challenge_expired", "expired")),
    }

    // Expired: the device cannot approve any more, the browser says so.
    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&device).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expect_error(
        device.approve(&challenge, PIN, waiting.number).await,
        410,
        "challenge_expired",
    );
    assert_eq!(waiting.state().await, "expired");
    let page = waiting.reload().await;
    assert!(
        page.body
            .contains("Le délai pour approuver la connexion est dépassé"),
        "{}",
        page.body
    );
    assert!(device.challenges(0).await.unwrap().is_empty());
}

// ------------------------------------------------------------------ devices

async fn device_list_rename_revoke(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, phone, first) = activated(&app, 13).await;
    let first_id = first.device_id.clone().unwrap();
    // A second device on the same account, with a new activation code.
    assert!(
        idp_server::verification::issue_activation_code(&app.core, &citizen.account_id, "test")
            .await
            .unwrap()
    );
    let (_, e164) = phone_number(13);
    let code = code_sent_to(&app, &e164).await;
    let mut second = authenticator(&app);
    second
        .activate(&citizen.email, &citizen.password, &code, "1357", "Tablette")
        .await
        .unwrap();
    let second_id = second.device_id.clone().unwrap();

    let listed = first.devices().await.unwrap();
    assert_eq!(listed.len(), 2);
    let by_id = |id: &str| listed.iter().find(|d| d["id"] == id).unwrap().clone();
    assert_eq!(by_id(&first_id)["current"], true);
    assert_eq!(by_id(&first_id)["name"], "Pixel");
    assert_eq!(by_id(&second_id)["name"], "Tablette");
    assert_eq!(by_id(&second_id)["current"], false);
    assert_eq!(by_id(&second_id)["state"], "active");

    let renamed = first.rename(&second_id, "Tablette du salon").await.unwrap();
    assert_eq!(renamed["name"], "Tablette du salon");
    expect_error(
        first.rename(&second_id, "   ").await,
        400,
        "invalid_request",
    );

    // Both devices see the challenge; either can approve (each with its own PIN).
    let mut waiting = wait_for_login(&app, &phone).await;
    let challenge = one_challenge(&second).await;
    assert_eq!(one_challenge(&first).await["id"], challenge["id"]);
    expect_error(
        second.approve(&challenge, PIN, waiting.number).await,
        403,
        "wrong_pin",
    );
    second
        .approve(&challenge, "1357", waiting.number)
        .await
        .unwrap();
    assert!(waiting.finish().await.contains_key("code"));

    first.revoke(&second_id).await.unwrap();
    expect_error(
        second.devices().await.map(Value::from),
        403,
        "device_revoked",
    );
    expect_error(first.revoke(&second_id).await, 404, "unknown_device");
    // Another account's device cannot be touched.
    let (_, _, stranger) = activated(&app, 14).await;
    expect_error(stranger.revoke(&first_id).await, 404, "unknown_device");
    expect_error(stranger.rename(&first_id, "x").await, 404, "unknown_device");
    assert_eq!(audit_count(&app, "device.revoked"), 1);
}

// ------------------------------------------------------------------ streams

/// Reads an event stream until `until` appears (or 10 s pass).
async fn read_stream(mut response: reqwest::Response, until: &'static str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(until) {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    seen
}

async fn events_reach_device_and_browser(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (_, phone, device) = activated(&app, 15).await;
    // The device's event stream is open before the login starts.
    let proof = device.request_proof("GET", "/api/device/v1/challenges/events");
    let stream = app
        .http
        .get(app.url("/api/device/v1/challenges/events"))
        .header("Authorization", format!("Device {proof}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let reader = tokio::spawn(read_stream(stream, "\n\n"));
    // Long-poll too, started before the challenge exists.
    let poll = {
        let (http, base) = (app.http.clone(), app.base.clone());
        let saved = device.save();
        tokio::spawn(async move {
            let _ = base;
            Authenticator::load(http, &saved)
                .unwrap()
                .challenges(20)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut waiting = wait_for_login(&app, &phone).await;
    let events = reader.await.unwrap();
    assert!(events.starts_with("event: challenge\ndata: {"), "{events}");
    let polled = poll.await.unwrap().unwrap();
    assert_eq!(polled.len(), 1);
    assert!(events.contains(polled[0]["id"].as_str().unwrap()));

    // The browser's stream says pending, then approved.
    let browser_stream = waiting
        .browser
        .get_stream(&format!("/login/telephone/evenements?tx={}", waiting.tx))
        .await;
    let watcher = tokio::spawn(read_stream(browser_stream, "data: approved"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    device
        .approve(&polled[0], PIN, waiting.number)
        .await
        .unwrap();
    let seen = watcher.await.unwrap();
    assert!(seen.contains("event: state\ndata: pending"), "{seen}");
    assert!(seen.contains("event: state\ndata: approved"), "{seen}");
    assert!(waiting.finish().await.contains_key("code"));
}

// ------------------------------------------------------------------ replicas

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_and_device_on_two_replicas() {
    if !Backend::PostgresRedis.available() {
        return;
    }
    let env = TestEnv::new(Backend::PostgresRedis);
    let a = env.spawn().await;
    let b = env.spawn_replica(&a.base).await;
    assert_ne!(a.base, b.base);
    let secret = register_client(&a, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    let (citizen, phone, code) = verified(&a, 16).await;
    // The device talks to replica B only, signing for the public URL (A's).
    let mut device = Authenticator::new(b.http.clone(), &b.base, &a.base).unwrap();
    device
        .activate(&citizen.email, &citizen.password, &code, PIN, "B")
        .await
        .unwrap();

    // The device waits on B before the browser starts on A: the wake-up
    // crosses replicas over pub/sub.
    let saved = device.save();
    let http = b.http.clone();
    let poll = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let found = Authenticator::load(http, &saved)
            .unwrap()
            .challenges(20)
            .await;
        (found, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = rp::client(
        &a.base,
        CLIENT,
        Some(&secret),
        idp_tests::oidc::REDIRECT_URI,
    )
    .await;
    let request = rp::authorize(&client, &["profile"], Some("eidas2"));
    let mut waiting = wait_in(Browser::new(&a.base), request.url.as_str(), &phone).await;
    let browser_stream = waiting
        .browser
        .get_stream(&format!("/login/telephone/evenements?tx={}", waiting.tx))
        .await;
    let watcher = tokio::spawn(read_stream(browser_stream, "data: approved"));
    let (found, waited) = poll.await.unwrap();
    let found = found.unwrap();
    assert_eq!(found.len(), 1);
    // Woken by the message, not by the 5-second re-read.
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    device
        .approve(&found[0], PIN, waiting.number)
        .await
        .unwrap();
    let seen = watcher.await.unwrap();
    assert!(seen.contains("data: approved"), "{seen}");
    let params = waiting.finish().await;
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&rp::http())
        .await
        .expect("token exchange");
    let claims = token
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &request.nonce)
        .unwrap()
        .clone();
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("eidas2")
    );
    assert_eq!(claims.issuer().as_str(), a.base);
}

// ------------------------------------------------------------------ operators

async fn admin(env: &TestEnv, args: &[&str]) -> Result<String, idp_admin::AdminError> {
    use clap::Parser;
    let cli =
        idp_admin::Cli::try_parse_from(std::iter::once("idp-admin").chain(args.iter().copied()))
            .unwrap();
    let mut out = Vec::new();
    idp_admin::run_with(cli, env.config(), None, &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

async fn operators_revoke_devices_from_the_cli(backend: Backend) {
    let (env, app, _) = spawn(backend).await;
    let (citizen, phone, device) = activated(&app, 17).await;
    let device_id = device.device_id.clone().unwrap();
    let shown: Value = serde_json::from_str(
        &admin(&env, &["--json", "accounts", "show", &citizen.email])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(shown["state"], "active");
    assert_eq!(shown["devices"][0]["id"], device_id.as_str());
    assert_eq!(shown["devices"][0]["state"], "active");
    let text = admin(&env, &["accounts", "show", &citizen.email])
        .await
        .unwrap();
    assert!(
        text.contains(&device_id) && text.contains("\"Pixel\""),
        "{text}"
    );

    let err = admin(
        &env,
        &[
            "accounts",
            "revoke-device",
            &citizen.email,
            "--device",
            "nope",
            "--reason",
            "perdu",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("no device nope on this account"), "{err}");
    let err = admin(
        &env,
        &[
            "accounts",
            "revoke-device",
            &citizen.email,
            "--device",
            &device_id,
            "--reason",
            " ",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("reason"), "{err}");
    assert!(device.devices().await.is_ok());

    let out = admin(
        &env,
        &[
            "--json",
            "accounts",
            "revoke-device",
            &phone,
            "--device",
            &device_id,
            "--reason",
            "téléphone perdu",
        ],
    )
    .await
    .unwrap();
    assert!(out.contains("\"revoked\""), "{out}");
    expect_error(
        device.devices().await.map(Value::from),
        403,
        "device_revoked",
    );
    // A login by phone reaches no device any more.
    let mut waiting = wait_for_login(&app, &phone).await;
    assert_eq!(waiting.state().await, "pending");
    let entry = app
        .core
        .db
        .read(|conn| idp_server::store::audit::recent(conn, 20))
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == "device.revoked")
        .unwrap();
    assert!(entry.actor.starts_with("cli:"), "{}", entry.actor);
    assert!(entry.details.contains("téléphone perdu"));
    // An operator can send a code for another phone of an active account.
    let out = admin(&env, &["accounts", "reissue-activation", &citizen.email])
        .await
        .unwrap();
    assert!(out.contains("new activation code sent"), "{out}");
}

async fn per_ip_limits_count_clients_behind_a_trusted_proxy(backend: Backend) {
    let env = TestEnv::new(backend);
    let mut config = env.config();
    config.login.phone_ip_limit = 2;
    config.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let app = env.spawn_with(config).await;
    register_client(&app, CLIENT, &idp_tests::oidc::client_metadata());
    let request = manual_authorize(&app.base, CLIENT, "openid", &[("acr_values", "eidas2")]);
    let mut browser = Browser::new(&app.base);
    let start = browser.get(&request.url).await;
    let form = browser.get(start.location.as_deref().unwrap()).await;
    let (tx, csrf) = (form.field("tx").unwrap(), form.field("csrf").unwrap());
    let mut statuses = Vec::new();
    for from in [
        "198.51.100.1",
        "198.51.100.1",
        "198.51.100.1",
        "198.51.100.2",
        "1.2.3.4, 198.51.100.2",
    ] {
        let page = browser
            .post_with(
                "/login/telephone",
                &[("tx", &tx), ("csrf", &csrf), ("phone", "01 23")],
                &[("X-Forwarded-For", from)],
            )
            .await;
        statuses.push(page.status);
    }
    // Two per client address: the third from .1 is throttled, .2 has its
    // own count, and a forged left-hand entry does not change who it is.
    assert_eq!(statuses, [400, 400, 429, 400, 400]);
}

// ------------------------------------------------------------------ footprint

/// What one complete eidas2 login leaves in the in-process store once its
/// tokens are issued (issue #19: a finished login keeps < 300 bytes until
/// its SSO session expires; the rest goes within minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_finished_login_leaves_behind() {
    let (_env, app, secret) = spawn(Backend::Embedded).await;
    let (_citizen, phone, device) = activated(&app, 40).await;
    let idp_server::ephemeral::Ephemeral::Memory(store) = &app.core.ephemeral else {
        panic!("the embedded backend uses the in-process store")
    };
    let before: std::collections::HashSet<String> =
        store.census().into_iter().map(|l| l.key).collect();

    let client = rp::client(
        &app.base,
        CLIENT,
        Some(&secret),
        idp_tests::oidc::REDIRECT_URI,
    )
    .await;
    let request = rp::authorize(&client, &["profile"], Some("eidas2"));
    let mut waiting = wait_in(Browser::new(&app.base), request.url.as_str(), &phone).await;
    let challenge = one_challenge(&device).await;
    device
        .approve(&challenge, PIN, waiting.number)
        .await
        .expect("approval");
    let params = waiting.finish().await;
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(request.verifier)
        .request_async(&rp::http())
        .await
        .expect("token exchange");
    assert!(token.id_token().is_some());

    let mut left: Vec<_> = store
        .census()
        .into_iter()
        .filter(|l| !before.contains(&l.key))
        .collect();
    left.sort_by_key(|l| std::cmp::Reverse(l.left));
    let listing: Vec<String> = left
        .iter()
        .map(|l| format!("{:>5} B {:>6} s  {}", l.bytes, l.left.as_secs(), l.key))
        .collect();
    let listing = listing.join("\n");
    // Counters per phone number and per IP are not per login: a number or
    // an address keeps one whatever the number of logins.
    let per_login = left.iter().filter(|l| !l.key.starts_with("rl:"));
    // Past the access token's life (600 s by default), only the SSO session
    // stays, which the store holds in its bytes plus 40 (table, wheel).
    let long: Vec<_> = per_login
        .clone()
        .filter(|l| l.left > Duration::from_secs(600))
        .collect();
    assert_eq!(long.len(), 1, "{listing}");
    assert!(long[0].key.starts_with("session:"), "{listing}");
    assert!(long[0].bytes + 40 < 300, "{listing}");
    // The rest lives no longer than the access token.
    let rest: usize = per_login.map(|l| l.bytes).sum();
    assert!(rest < 2048, "{listing}");
    let consumed = left.iter().find(|l| {
        l.key.starts_with("chal:")
            && !l.key.starts_with("chal:phone:")
            && !l.key.starts_with("chal:acct:")
    });
    assert!(
        consumed.is_some_and(|c| c.left <= Duration::from_secs(30)),
        "a consumed challenge is kept only while a poll may read it:\n{listing}"
    );
}
