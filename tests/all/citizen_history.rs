//! The connection history (issue #16): every login to a partner site is
//! recorded once, in its outcome's transaction (approved by password or on
//! the app, refused, reported, expired), shown newest first on
//! `/compte/historique` and to the app; and the citizen's own block from
//! `/compte` (password + email code, without the phone). Both backends.

use diesel::prelude::*;
use idp_server::ephemeral::EphemeralStore;
use idp_server::store::schema::login_history;
use idp_tests::authenticator::{API, Authenticator};
use idp_tests::browser::{Browser, Page};
use idp_tests::enrolment::{code_sent_to, form, messages_to};
use idp_tests::oidc::Citizen;
use idp_tests::{Backend, TestApp, both_backends};
use serde_json::Value;

use crate::citizen_block::{
    CLIENT, access_token, account_state, activated, audit_count, device_states, spawn, status_of,
    userinfo_status, waiting_for,
};

both_backends!(
    a_login_on_the_sso_session_is_recorded,
    the_history_is_exported_erased_and_purged,
    every_outcome_is_recorded_once_and_shown_newest_first,
    an_expiry_is_recorded_once_whoever_sees_it,
    the_history_is_paginated,
    a_citizen_blocks_their_identity_with_password_and_email_code,
    the_block_password_goes_through_the_attempt_limit,
    wrong_block_codes_are_counted_and_a_blocked_identity_cannot_be_blocked_again,
);

const PIN: &str = "2580";

/// The account's history rows: (outcome, acr), newest first.
fn outcomes(app: &TestApp, account_id: &str) -> Vec<(String, String)> {
    let id = account_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(login_history::table
                .filter(login_history::account_id.eq(&id))
                .order(login_history::at_ms.desc())
                .select((login_history::outcome, login_history::acr))
                .load::<(String, String)>(conn)?)
        })
        .unwrap()
}

/// A pending challenge seen by `device` once a browser waits for `phone`,
/// with the browser, its tx and the number shown.
async fn challenge_for(
    app: &TestApp,
    device: &Authenticator,
    phone: &str,
) -> (Value, Browser, String, i64) {
    let (browser, tx, page) = waiting_for(app, phone).await;
    let number = idp_tests::phone::shown_number(&page.body);
    let found = device.challenges(5).await.unwrap();
    (found[0].clone(), browser, tx, number)
}

async fn account_login(browser: &mut Browser, citizen: &Citizen) {
    let (_, csrf) = form(browser, "/compte/connexion").await;
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

/// The `data-outcome` of each login listed on a history page, in order.
fn listed(page: &Page) -> Vec<String> {
    page.body
        .split("data-outcome=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

async fn every_outcome_is_recorded_once_and_shown_newest_first(backend: Backend) {
    let (_env, app, secret) = spawn(backend).await;
    let (citizen, national, _, device) = activated(&app, 31).await;
    // The citizen's own space is not a partner: not in the history.
    let mut space = Browser::new(&app.base);
    account_login(&mut space, &citizen).await;
    assert!(outcomes(&app, &citizen.account_id).is_empty());

    // A password login to the partner (eidas1).
    access_token(&app, &secret, &citizen).await;
    // An approval on the app (eidas2).
    let (challenge, _b1, _, number) = challenge_for(&app, &device, &national).await;
    let partner = challenge["client_name"].as_str().unwrap().to_owned();
    device.approve(&challenge, PIN, number).await.unwrap();
    // A refusal, then a fraud report.
    let (challenge, _b2, _, _) = challenge_for(&app, &device, &national).await;
    device.decide(&challenge, "deny", None, None).await.unwrap();
    let (challenge, mut reported, tx, _) = challenge_for(&app, &device, &national).await;
    device
        .decide(&challenge, "fraud", None, None)
        .await
        .unwrap();
    // A decision sent again changes nothing, nor does the browser reading it.
    device
        .decide(&challenge, "fraud", None, None)
        .await
        .expect_err("already decided");
    assert_eq!(status_of(&mut reported, &tx).await, "denied");

    let expected = [
        ("fraud_reported", "eidas2"),
        ("refused", "eidas2"),
        ("approved", "eidas2"),
        ("approved", "eidas1"),
    ];
    let rows = outcomes(&app, &citizen.account_id);
    let rows: Vec<(&str, &str)> = rows.iter().map(|(o, a)| (o.as_str(), a.as_str())).collect();
    assert_eq!(rows, expected);

    // The page, newest first, with the partner's name, the approximate
    // address and the way back to the account; linked from /compte.
    let account = space.get("/compte").await;
    assert!(
        account.body.contains("href=\"/compte/historique\""),
        "{}",
        account.body
    );
    let page = space.get("/compte/historique").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        listed(&page),
        ["fraud_reported", "refused", "approved", "approved"]
    );
    assert!(page.body.contains(&partner), "{}", page.body);
    assert!(page.body.contains("127.0.0.x"), "{}", page.body);
    assert!(page.body.contains("Signalée"), "{}", page.body);
    assert!(!page.body.contains("?page=2"), "{}", page.body);
    // In English too.
    let mut english = space.clone();
    english.language = "en".into();
    let english = english.get("/compte/historique").await;
    assert!(
        english.body.contains("Connection history"),
        "{}",
        english.body
    );
    // Without a session: to the login.
    let anonymous = Browser::new(&app.base).get("/compte/historique").await;
    assert!(
        anonymous
            .location
            .unwrap_or_default()
            .ends_with("/compte/connexion")
    );

    // The app's "Mes connexions": the same list.
    let body = device
        .call(reqwest::Method::GET, &format!("{API}/history"), None)
        .await
        .unwrap();
    let from_app: Vec<&str> = body["logins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        from_app,
        ["fraud_reported", "refused", "approved", "approved"]
    );
    assert_eq!(body["logins"][0]["partner"], partner.as_str());
    assert_eq!(body["has_next"], false);
}

/// Moves the challenge's expiry into the past, as time would.
async fn expire_challenge(app: &TestApp, id: &str) {
    let key = idp_server::ephemeral::keys::challenge(id);
    let raw = app.core.ephemeral.get(&key).await.unwrap().unwrap();
    let mut value: Value = serde_json::from_slice(&raw).unwrap();
    value["expires_at"] = (idp_server::store::now_unix() - 1).into();
    let bytes = serde_json::to_vec(&value).unwrap();
    app.core
        .ephemeral
        .set(&key, &bytes, std::time::Duration::from_secs(300))
        .await
        .unwrap();
}

async fn an_expiry_is_recorded_once_whoever_sees_it(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, national, _, device) = activated(&app, 32).await;
    let (challenge, mut browser, tx, number) = challenge_for(&app, &device, &national).await;
    let id = challenge["id"].as_str().unwrap();
    expire_challenge(&app, id).await;
    // The browser's status, the waiting page and the device all see it at
    // once: one row, one audit entry.
    let mut second = browser.clone();
    let wait_page = format!("/login/telephone/attente?tx={tx}");
    let (a, b, c) = tokio::join!(
        status_of(&mut browser, &tx),
        second.get(&wait_page),
        device.approve(&challenge, PIN, number),
    );
    assert_eq!(a, "expired");
    assert_eq!(b.status, 200, "{}", b.body);
    let refused = c.expect_err("expired");
    assert_eq!(refused.code(), "challenge_expired", "{}", refused.body);
    assert_eq!(status_of(&mut browser, &tx).await, "expired");
    assert_eq!(
        outcomes(&app, &citizen.account_id),
        [("expired".to_owned(), "eidas2".to_owned())]
    );
    assert_eq!(audit_count(&app, &citizen.account_id, "login.expired"), 1);
    // A number without an identity expires in nobody's history.
    let (_, stranger) = crate::citizen_block::phone_number(33);
    let (mut other, other_tx, _) = waiting_for(&app, &stranger).await;
    let pointer = app
        .core
        .ephemeral
        .get(&idp_server::ephemeral::keys::phone_challenge(
            &idp_server::crypto::hmac_hex(
                &app.core.subkeys.token_hash_key,
                idp_server::domain::phone::FrenchMobile::parse(&stranger)
                    .unwrap()
                    .as_str()
                    .as_bytes(),
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    expire_challenge(&app, &String::from_utf8(pointer).unwrap()).await;
    assert_eq!(status_of(&mut other, &other_tx).await, "expired");
    let total = app
        .core
        .db
        .read_blocking(|conn| Ok(login_history::table.count().get_result::<i64>(conn)?))
        .unwrap();
    assert_eq!(total, 1);
}

async fn the_history_is_paginated(backend: Backend) {
    let (_env, app, secret) = spawn(backend).await;
    let (citizen, _, _, device) = activated(&app, 34).await;
    for _ in 0..3 {
        access_token(&app, &secret, &citizen).await;
    }
    let id = citizen.account_id.clone();
    app.core
        .db
        .write_blocking(move |conn| {
            for n in 0..20 {
                idp_server::store::login_history::insert(
                    conn,
                    &idp_server::store::login_history::NewLogin {
                        id: format!("old-{n}"),
                        account_id: id.clone(),
                        client_id: "formation".into(),
                        client_name: format!("Ancien {n}"),
                        at_ms: 1_000 + n,
                        acr: "eidas1".into(),
                        ip: "192.0.2.x".into(),
                        user_agent: "test".into(),
                        outcome: idp_server::domain::history::LoginResult::Approved,
                    },
                )?;
            }
            Ok(())
        })
        .unwrap();
    let mut space = Browser::new(&app.base);
    account_login(&mut space, &citizen).await;
    let first = space.get("/compte/historique").await;
    assert_eq!(listed(&first).len(), 20);
    assert!(first.body.contains("?page=2"), "{}", first.body);
    assert!(!first.body.contains("Ancien 2<"), "{}", first.body);
    let second = space.get("/compte/historique?page=2").await;
    assert_eq!(listed(&second).len(), 3);
    assert!(second.body.contains("Ancien 0<"), "{}", second.body);
    assert!(second.body.contains("?page=1"), "{}", second.body);
    assert!(!second.body.contains("?page=3"), "{}", second.body);
    // Past the end: an empty page; nonsense: refused.
    assert_eq!(
        listed(&space.get("/compte/historique?page=9").await).len(),
        0
    );
    assert_eq!(space.get("/compte/historique?page=-1").await.status, 400);
    let body = device
        .call(reqwest::Method::GET, &format!("{API}/history?page=2"), None)
        .await
        .unwrap();
    assert_eq!(body["logins"].as_array().unwrap().len(), 3);
    assert_eq!(body["page"], 2);
}

/// Whether `page` redirects to `path`.
fn ends(page: &Page, path: &str) -> bool {
    page.location.as_deref().is_some_and(|l| l.ends_with(path))
}

/// Posts `fields` to the form at `path` (reading its CSRF token first).
async fn post_form_at(browser: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Page {
    let (_, csrf) = form(browser, path).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post(path, &all).await
}

async fn a_citizen_blocks_their_identity_with_password_and_email_code(backend: Backend) {
    let (_env, app, secret) = spawn(backend).await;
    let (citizen, national, e164, device) = activated(&app, 35).await;
    let token = access_token(&app, &secret, &citizen).await;
    let (mut waiting, tx, _) = waiting_for(&app, &national).await;
    let mut space = Browser::new(&app.base);
    account_login(&mut space, &citizen).await;
    let account = space.get("/compte").await;
    assert!(
        account.body.contains("href=\"/compte/bloquer\""),
        "{}",
        account.body
    );

    // The password, then the code sent by email (no phone involved).
    let sent = post_form_at(
        &mut space,
        "/compte/bloquer",
        &[("password", &citizen.password)],
    )
    .await;
    assert!(ends(&sent, "/compte/bloquer/code"), "{}", sent.body);
    let code = code_sent_to(&app, &citizen.email).await;
    assert_eq!(account_state(&app, &citizen.account_id), "active");
    let before = messages_to(&app, &citizen.email).await.len();
    let done = post_form_at(&mut space, "/compte/bloquer/code", &[("code", &code)]).await;
    assert!(ends(&done, "/compte/bloquer/termine"), "{}", done.body);
    let notice = space.get("/compte/bloquer/termine").await;
    assert_eq!(notice.status, 200);
    assert!(notice.body.contains("bloquée"), "{}", notice.body);

    // Blocked, by the citizen: devices revoked, the app refused, the
    // approval cancelled, sessions and tokens ended, email + SMS.
    assert_eq!(account_state(&app, &citizen.account_id), "blocked");
    assert_eq!(device_states(&app, &citizen.account_id), ["revoked"]);
    let id = citizen.account_id.clone();
    let entries = app
        .core
        .db
        .read_blocking(move |conn| {
            idp_server::store::audit::for_subject_action(
                conn,
                &id,
                idp_server::citizen::block::BLOCKED,
                10,
            )
        })
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, format!("account:{}", citizen.account_id));
    let refused = device.challenges(0).await.expect_err("revoked");
    assert_eq!((refused.status, refused.code()), (403, "device_revoked"));
    assert_eq!(status_of(&mut waiting, &tx).await, "cancelled");
    assert_eq!(userinfo_status(&app, &token).await, 401);
    let account = space.get("/compte").await;
    assert!(
        account
            .location
            .unwrap_or_default()
            .ends_with("/compte/connexion"),
        "the session ended"
    );
    let mails = messages_to(&app, &citizen.email).await;
    assert_eq!(mails.len(), before + 1);
    assert!(
        mails[0]
            .subject
            .as_deref()
            .unwrap_or("")
            .contains("bloquée")
    );
    let sms = messages_to(&app, &e164).await;
    assert!(sms[0].text.contains("bloquée"), "{}", sms[0].text);

    // The page says so after a new login, and offers no second block.
    account_login(&mut space, &citizen).await;
    let account = space.get("/compte").await;
    assert!(account.body.contains("bloquée"), "{}", account.body);
    assert!(
        !account.body.contains("href=\"/compte/bloquer\""),
        "{}",
        account.body
    );
    let again = space.get("/compte/bloquer").await;
    assert_eq!(again.status, 200);
    assert!(
        again.body.contains("ne peut pas être bloquée"),
        "{}",
        again.body
    );
    assert_eq!(audit_count(&app, &citizen.account_id, "account.blocked"), 1);
}

async fn the_block_password_goes_through_the_attempt_limit(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, _, _, _device) = activated(&app, 36).await;
    let mut space = Browser::new(&app.base);
    account_login(&mut space, &citizen).await;
    for _ in 0..5 {
        let wrong = post_form_at(
            &mut space,
            "/compte/bloquer",
            &[("password", "not my password")],
        )
        .await;
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        assert!(wrong.body.contains("incorrect"), "{}", wrong.body);
    }
    // Over the limit, even the right password is not checked, and no code
    // is sent.
    let limited = post_form_at(
        &mut space,
        "/compte/bloquer",
        &[("password", &citizen.password)],
    )
    .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.headers.contains_key("retry-after"));
    let mails = messages_to(&app, &citizen.email).await;
    assert!(
        mails
            .iter()
            .all(|m| !m.subject.as_deref().unwrap_or("").contains("bloquer")),
        "{mails:?}"
    );
    // Without a code step started, the code page sends back to the start.
    let code = space.get("/compte/bloquer/code").await;
    assert!(ends(&code, "/compte/bloquer"), "{:?}", code.location);
    assert_eq!(account_state(&app, &citizen.account_id), "active");
}

/// Lets a new block code be sent at once (as the minute's cooldown would).
async fn end_cooldown(app: &TestApp, email: &str) {
    let hash = idp_server::crypto::hmac_hex(
        &app.core.subkeys.token_hash_key,
        format!("block-identity:{email}").as_bytes(),
    );
    let keys = idp_server::ephemeral::keys::otp(&hash);
    app.core.ephemeral.delete(&keys.cooldown).await.unwrap();
}

async fn wrong_block_codes_are_counted_and_a_blocked_identity_cannot_be_blocked_again(
    backend: Backend,
) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, _, _, device) = activated(&app, 37).await;
    let mut space = Browser::new(&app.base);
    account_login(&mut space, &citizen).await;
    post_form_at(
        &mut space,
        "/compte/bloquer",
        &[("password", &citizen.password)],
    )
    .await;
    let code = code_sent_to(&app, &citizen.email).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for remaining in (1..=4).rev() {
        let page = post_form_at(&mut space, "/compte/bloquer/code", &[("code", wrong)]).await;
        assert_eq!(page.status, 400);
        assert!(
            page.body.contains(&format!("reste {remaining} essai")),
            "{}",
            page.body
        );
    }
    let fifth = post_form_at(&mut space, "/compte/bloquer/code", &[("code", wrong)]).await;
    assert!(fifth.body.contains("Trop d&#39;essais"), "{}", fifth.body);
    let late = post_form_at(&mut space, "/compte/bloquer/code", &[("code", &code)]).await;
    assert_eq!(late.status, 400, "{}", late.body);
    assert_eq!(account_state(&app, &citizen.account_id), "active");
    assert_eq!(device.devices().await.unwrap().len(), 1);
    // A new code within the minute: the cooldown.
    let soon = post_form_at(
        &mut space,
        "/compte/bloquer",
        &[("password", &citizen.password)],
    )
    .await;
    assert_eq!(soon.status, 429, "{}", soon.body);

    // A new code later: it blocks, and the same form sent twice is harmless.
    end_cooldown(&app, &citizen.email).await;
    post_form_at(
        &mut space,
        "/compte/bloquer",
        &[("password", &citizen.password)],
    )
    .await;
    let code = code_sent_to(&app, &citizen.email).await;
    let (_, csrf) = form(&mut space, "/compte/bloquer/code").await;
    let fields = [("csrf", csrf.as_str()), ("code", code.as_str())];
    let mut twin = space.clone();
    let (first, second) = tokio::join!(
        space.post("/compte/bloquer/code", &fields),
        twin.post("/compte/bloquer/code", &fields),
    );
    for page in [&first, &second] {
        assert!(
            page.status == 303 || page.status == 400,
            "{} {}",
            page.status,
            page.body
        );
    }
    assert!(first.status == 303 || second.status == 303);
    assert_eq!(account_state(&app, &citizen.account_id), "blocked");
    assert_eq!(audit_count(&app, &citizen.account_id, "account.blocked"), 1);

    // An identity that is not verified cannot be blocked from its space.
    let enrolling = idp_tests::oidc::create_citizen(&app, false);
    let mut other = Browser::new(&app.base);
    account_login(&mut other, &enrolling).await;
    let page = other.get("/compte/bloquer").await;
    assert!(
        page.body.contains("ne peut pas être bloquée"),
        "{}",
        page.body
    );
    let posted = browser_post_without_page(&mut other, &enrolling).await;
    assert_eq!(posted.status, 403, "{}", posted.body);
}

/// Posts the password form of `/compte/bloquer` with the session's token
/// taken from `/compte` (the block page shows no form for this account).
async fn browser_post_without_page(browser: &mut Browser, citizen: &Citizen) -> Page {
    let account = browser.get("/compte").await;
    let csrf = account.field("csrf").expect("the account page's token");
    browser
        .post(
            "/compte/bloquer",
            &[("csrf", &csrf), ("password", &citizen.password)],
        )
        .await
}

/// The history in the citizen's RGPD rights: in the data export, gone with
/// the identity, and purged by age (`[retention] connection_history_days`).
async fn the_history_is_exported_erased_and_purged(backend: Backend) {
    use idp_server::store::login_history::{NewLogin, page};
    let (_env, app, secret) = spawn(backend).await;
    let (citizen, _, _, _device) = activated(&app, 35).await;
    access_token(&app, &secret, &citizen).await;
    let (other, _, _, _other_device) = activated(&app, 36).await;
    access_token(&app, &secret, &other).await;
    // One more of `other`'s, older than the retention period.
    let (old_id, days) = (
        other.account_id.clone(),
        i64::from(app.core.config.retention.connection_history_days),
    );
    app.core
        .db
        .write_blocking(move |conn| {
            let long_ago = (idp_server::store::now_unix() - (days + 1) * 86_400) * 1000;
            idp_server::store::login_history::insert(
                conn,
                &NewLogin {
                    id: "old".into(),
                    account_id: old_id,
                    client_id: CLIENT.into(),
                    client_name: "Ancien".into(),
                    at_ms: long_ago,
                    acr: "eidas1".into(),
                    ip: "192.0.2.x".into(),
                    user_agent: "test".into(),
                    outcome: idp_server::domain::history::LoginResult::Approved,
                },
            )
        })
        .unwrap();

    let export = idp_server::citizen::rgpd::export(&app.core, &citizen.account_id)
        .await
        .unwrap()
        .unwrap();
    let exported = serde_json::to_value(&export).unwrap();
    let logins = exported["connection_history"].as_array().unwrap();
    assert_eq!(logins.len(), 1, "{exported}");
    assert_eq!(logins[0]["client_id"], CLIENT);
    assert_eq!(logins[0]["outcome"], "approved");

    idp_server::citizen::rgpd::erase_account(&app.core, &citizen.account_id, "test")
        .await
        .unwrap()
        .unwrap();
    let rows = |account: String| {
        app.core
            .db
            .read_blocking(move |conn| page(conn, &account, 0, 100))
            .unwrap()
            .len()
    };
    assert_eq!(rows(citizen.account_id.clone()), 0);
    assert_eq!(rows(other.account_id.clone()), 2);

    let now = idp_server::store::now_unix();
    let purged = idp_server::citizen::retention::purge(&app.core, now, "test")
        .await
        .unwrap();
    assert_eq!(purged.connection_history, 1);
    assert_eq!(rows(other.account_id.clone()), 1);
    let again = idp_server::citizen::retention::purge(&app.core, now, "test")
        .await
        .unwrap();
    assert_eq!(again.connection_history, 0);
}

/// A partner login that reuses the browser's SSO session, without a new
/// authentication, is in the history too, at the session's level.
async fn a_login_on_the_sso_session_is_recorded(backend: Backend) {
    use idp_server::store::login_history::page;
    let (_env, app, _secret) = spawn(backend).await;
    let citizen = idp_tests::oidc::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    for _ in 0..2 {
        let request = idp_tests::oidc::manual_authorize(&app.base, CLIENT, "openid profile", &[]);
        idp_tests::oidc::code(&mut browser, &request, &citizen).await;
    }
    let account = citizen.account_id.clone();
    let rows = app
        .core
        .db
        .read_blocking(move |conn| page(conn, &account, 0, 10))
        .unwrap();
    assert_eq!(
        rows.len(),
        2,
        "the password login, then the one on its session"
    );
    for row in &rows {
        assert_eq!(
            (row.client_id.as_str(), row.acr.as_str()),
            (CLIENT, "eidas1")
        );
        assert_eq!(row.outcome.as_str(), "approved");
    }
}
