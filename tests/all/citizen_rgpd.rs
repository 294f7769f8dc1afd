//! RGPD rights (issue #16): the export of the citizen's data (no secret in
//! it), the deletion of the identity (password → email code → final
//! confirmation: everything personal erased, the audit chain still
//! verifying, the address free again, a login under way failing), and the
//! retention purge (`idp-admin purge`: exactly what is past its period,
//! idempotent, audited). On both backends.

use clap::Parser;
use diesel::prelude::*;
use idp_admin::Cli;
use idp_server::citizen::rgpd;
use idp_server::store::audit::{self, ChainStatus};
use idp_server::store::schema::{
    accounts, audit_log, consents, devices, identities, refresh_tokens, review_media,
    verification_requests,
};
use idp_server::store::{accounts as account_store, now_unix};
use idp_tests::browser::{Browser, Page};
use idp_tests::enrolment::{code_sent_to, form, messages_to};
use idp_tests::oidc::{self as kit, Citizen, code, exchange, manual_authorize};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};
use serde_json::Value;

use crate::citizen::{
    CLIENT, account_login, account_page_opens, login_with_refresh, password_works, refresh,
    sso_skips_login,
};
use crate::citizen_block::activated;

both_backends!(
    the_export_holds_the_data_and_no_secret,
    deleting_erases_the_identity_and_the_chain_still_verifies,
    deletion_refuses_wrong_passwords_and_codes,
    a_login_racing_the_deletion_does_not_survive_it,
    purge_removes_exactly_what_is_past_its_period,
);

const DAY: i64 = 24 * 3600;

async fn spawn(backend: Backend) -> (TestEnv, TestApp, String) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = kit::register_client(&app, CLIENT, &kit::client_metadata()).unwrap();
    (env, app, secret)
}

async fn admin(env: &TestEnv, args: &[&str]) -> Result<String, idp_admin::AdminError> {
    let cli =
        Cli::try_parse_from(std::iter::once("idp-admin").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    idp_admin::run_with(cli, env.config(), None, &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

fn chain_intact(app: &TestApp) {
    let status = app.core.db.read_blocking(audit::verify).unwrap();
    assert!(matches!(status, ChainStatus::Intact { .. }), "{status:?}");
}

/// The device row's key and PIN verifier, as stored.
fn device_secrets(app: &TestApp, account_id: &str) -> (String, String) {
    let id = account_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(devices::table
                .filter(devices::account_id.eq(&id))
                .select((devices::public_jwk, devices::pin_verifier))
                .first::<(String, String)>(conn)?)
        })
        .unwrap()
}

fn password_hash(app: &TestApp, account_id: &str) -> String {
    let id = account_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| account_store::by_id(conn, &id))
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap()
}

async fn the_export_holds_the_data_and_no_secret(backend: Backend) {
    let (_env, app, secret) = spawn(backend).await;
    let (citizen, _, e164, device) = activated(&app, 1).await;
    let mut rp = Browser::new(&app.base);
    login_with_refresh(&app, &mut rp, &citizen, &secret).await;
    let mut browser = Browser::new(&app.base);
    account_login(&mut browser, &citizen).await;

    let account = browser.get("/compte").await;
    assert!(
        account.body.contains("href=\"/compte/mes-donnees\""),
        "{}",
        account.body
    );
    assert!(account.body.contains("href=\"/compte/supprimer\""));
    let (status, headers, body) = browser.get_bytes("/compte/mes-donnees").await;
    assert_eq!(status, 200);
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert!(header("content-type").starts_with("application/json"));
    assert!(header("content-disposition").starts_with("attachment"));
    assert_eq!(header("cache-control"), "no-store");
    let text = String::from_utf8(body).unwrap();
    let export: Value = serde_json::from_str(&text).unwrap();

    assert_eq!(export["format"], "sesame-export/1");
    assert_eq!(export["account"]["email"], citizen.email.as_str());
    assert_eq!(export["account"]["phone"], e164.as_str());
    assert_eq!(export["account"]["state"], "active");
    assert_eq!(export["identity"]["given_name"], "Jeanne Marie");
    assert_eq!(export["identity"]["family_name"], "DURAND");
    assert_eq!(export["devices"][0]["name"], "Pixel");
    assert_eq!(export["devices"][0]["state"], "active");
    let consents = export["consents"].as_array().unwrap();
    assert!(
        consents.iter().any(|c| c["client_id"] == CLIENT),
        "{consents:?}"
    );
    let actions: Vec<&str> = export["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"device.activated"), "{actions:?}");
    assert!(actions.contains(&"login.password"), "{actions:?}");
    assert!(export["connection_history"].is_array());

    // Never a secret: the password, its hash, the device key, the PIN
    // verifier, the audit hashes.
    let (jwk, verifier) = device_secrets(&app, &citizen.account_id);
    let jwk: Value = serde_json::from_str(&jwk).unwrap();
    let hash = password_hash(&app, &citizen.account_id);
    let public = device.public_jwk();
    for secret in [
        citizen.password.as_str(),
        "$argon2",
        hash.as_str(),
        verifier.as_str(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap(),
        public["x"].as_str().unwrap(),
        "pin_verifier",
        "password_hash",
        "prev_hash",
        "public_jwk",
    ] {
        assert!(!text.contains(secret), "the export holds {secret:?}");
    }
    let last_hash: String = app
        .core
        .db
        .read_blocking(|conn| {
            Ok(audit_log::table
                .order(audit_log::seq.desc())
                .select(audit_log::hash)
                .first(conn)?)
        })
        .unwrap();
    assert!(!text.contains(&last_hash));

    // Without a session: to the login page.
    let mut stranger = Browser::new(&app.base);
    let page = stranger.get("/compte/mes-donnees").await;
    assert_eq!(page.status, 303);
    assert!(page.location.unwrap().ends_with("/compte/connexion"));
}

/// POSTs to `action` with the session's CSRF token (the same on every
/// form of the session; read from the deletion's first page, which any
/// session can open; the login page's own token for the login).
async fn post_on(browser: &mut Browser, action: &str, fields: &[(&str, &str)]) -> Page {
    let page = match action {
        "/compte/connexion" => action,
        _ => "/compte/supprimer",
    };
    let (_, csrf) = form(browser, page).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post(action, &all).await
}

fn ends_at(page: &Page, path: &str) {
    let location = page.location.clone().unwrap_or_default();
    assert!(
        location.ends_with(path),
        "{} {location} {}",
        page.status,
        page.body
    );
}

/// The whole deletion from a signed-in browser.
async fn delete_identity(app: &TestApp, browser: &mut Browser, citizen: &Citizen) {
    let page = post_on(
        browser,
        "/compte/supprimer",
        &[("password", &citizen.password)],
    )
    .await;
    ends_at(&page, "/compte/supprimer/code");
    let code = code_sent_to(app, &citizen.email).await;
    let page = post_on(browser, "/compte/supprimer/code", &[("code", &code)]).await;
    ends_at(&page, "/compte/supprimer/confirmer");
    let page = post_on(browser, "/compte/supprimer/confirmer", &[]).await;
    ends_at(&page, "/compte/supprimer/terminee");
}

fn rows_of(app: &TestApp, account_id: &str) -> [i64; 6] {
    let id = account_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok([
                accounts::table
                    .filter(accounts::id.eq(&id))
                    .count()
                    .get_result(conn)?,
                identities::table
                    .filter(identities::account_id.eq(&id))
                    .count()
                    .get_result(conn)?,
                devices::table
                    .filter(devices::account_id.eq(&id))
                    .count()
                    .get_result(conn)?,
                consents::table
                    .filter(consents::account_id.eq(&id))
                    .count()
                    .get_result(conn)?,
                refresh_tokens::table
                    .filter(refresh_tokens::account_id.eq(&id))
                    .count()
                    .get_result(conn)?,
                verification_requests::table
                    .filter(verification_requests::account_id.eq(&id))
                    .count()
                    .get_result(conn)?,
            ])
        })
        .unwrap()
}

/// The text of the login page's refusal for `email` + `password`.
async fn login_refusal(app: &TestApp, email: &str, password: &str) -> (u16, String) {
    let mut browser = Browser::new(&app.base);
    let page = post_on_login(&mut browser, email, password).await;
    let start = page.body.find("class=\"error").unwrap_or(0);
    let end = (start + 200).min(page.body.len());
    (page.status, page.body[start..end].to_owned())
}

async fn post_on_login(browser: &mut Browser, email: &str, password: &str) -> Page {
    post_on(
        browser,
        "/compte/connexion",
        &[("email", email), ("password", password)],
    )
    .await
}

async fn deleting_erases_the_identity_and_the_chain_still_verifies(backend: Backend) {
    let (env, app, secret) = spawn(backend).await;
    let (citizen, _, e164, device) = activated(&app, 2).await;
    let mut rp = Browser::new(&app.base);
    let refresh_token = login_with_refresh(&app, &mut rp, &citizen, &secret).await;
    let mut browser = Browser::new(&app.base);
    account_login(&mut browser, &citizen).await;
    let before = rows_of(&app, &citizen.account_id);
    assert!(before.iter().take(5).all(|n| *n > 0), "{before:?}");

    let page = browser.get("/compte/supprimer").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("définitive"), "{}", page.body);
    let (_, csrf) = form(&mut browser, "/compte/supprimer").await;
    delete_identity(&app, &mut browser, &citizen).await;

    // Everything personal is gone; the audit chain still verifies.
    assert_eq!(rows_of(&app, &citizen.account_id), [0; 6]);
    chain_intact(&app);
    let verified = admin(&env, &["audit", "verify"]).await.unwrap();
    assert!(verified.contains("intact"), "{verified}");
    let everything: Vec<(String, String, String)> = app
        .core
        .db
        .read_blocking(|conn| {
            Ok(audit_log::table
                .select((audit_log::actor, audit_log::subject, audit_log::details))
                .load(conn)?)
        })
        .unwrap();
    for (actor, subject, details) in &everything {
        for personal in [
            citizen.email.as_str(),
            e164.as_str(),
            "Jeanne",
            "DURAND",
            "Pixel",
        ] {
            assert!(
                !format!("{actor} {subject} {details}").contains(personal),
                "the audit log still names {personal:?}: {details}"
            );
        }
    }
    let entries = crate::citizen::entries(&app, &citizen.account_id).await;
    let erased: Vec<_> = entries
        .iter()
        .filter(|e| e.action == rgpd::ERASED)
        .collect();
    assert_eq!(erased.len(), 1);
    let details: Value = serde_json::from_str(&erased[0].details).unwrap();
    let key = &app.core.subkeys.erasure_key;
    assert_eq!(
        details["email_digest"],
        rgpd::pseudonym(key, &citizen.email).as_str()
    );
    assert_eq!(
        details["phone_digest"],
        rgpd::pseudonym(key, &e164).as_str()
    );

    // The session ended, and every token with it; the device is unknown.
    assert!(!account_page_opens(&mut browser).await);
    assert!(!sso_skips_login(&app, &mut rp).await);
    let (status, body) = refresh(&app, &secret, &refresh_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(device.challenges(0).await.is_err());

    // A second confirmation changes nothing.
    let again = browser
        .post("/compte/supprimer/confirmer", &[("csrf", &csrf)])
        .await;
    ends_at(&again, "/compte/connexion");
    let entries = crate::citizen::entries(&app, &citizen.account_id).await;
    assert_eq!(
        entries.iter().filter(|e| e.action == rgpd::ERASED).count(),
        1
    );

    // A last email; the login fails as for an unknown address; the
    // address is free for a new enrolment.
    let notices = messages_to(&app, &citizen.email).await;
    assert!(
        notices
            .iter()
            .any(|m| m.text.contains("Votre identité numérique a été supprimée")),
        "{:?}",
        notices.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(!password_works(&app, &citizen.email, &citizen.password).await);
    let deleted = login_refusal(&app, &citizen.email, &citizen.password).await;
    let unknown = login_refusal(&app, "personne@example.fr", &citizen.password).await;
    assert_eq!(deleted, unknown);
    let mail = citizen.email.clone();
    app.core
        .db
        .write_blocking(move |conn| {
            account_store::insert(
                conn,
                &account_store::NewAccount {
                    id: "new-account",
                    state: "email_verified",
                    email: &mail,
                    password_hash: None,
                    phone: None,
                },
            )
        })
        .expect("the address is free again");
    chain_intact(&app);
}

async fn deletion_refuses_wrong_passwords_and_codes(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    account_login(&mut browser, &citizen).await;

    // English second.
    browser.language = "en".to_owned();
    let page = browser.get("/compte/supprimer").await;
    assert!(
        page.body.contains("Delete my digital identity"),
        "{}",
        page.body
    );
    let page = browser.get("/compte").await;
    assert!(page.body.contains("Download my data"), "{}", page.body);
    browser.language = "fr-FR,fr;q=0.9".to_owned();

    // Without a password step, the later steps send back to the start.
    let page = browser.get("/compte/supprimer/code").await;
    ends_at(&page, "/compte/supprimer");
    let page = post_on(&mut browser, "/compte/supprimer/confirmer", &[]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("expiré"), "{}", page.body);

    let page = post_on(
        &mut browser,
        "/compte/supprimer",
        &[("password", "pas le bon")],
    )
    .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains("Le mot de passe est incorrect."),
        "{}",
        page.body
    );
    assert!(messages_to(&app, &citizen.email).await.is_empty());

    let page = post_on(
        &mut browser,
        "/compte/supprimer",
        &[("password", &citizen.password)],
    )
    .await;
    ends_at(&page, "/compte/supprimer/code");
    let page = browser.get("/compte/supprimer/confirmer").await;
    ends_at(&page, "/compte/supprimer/code");
    let right = code_sent_to(&app, &citizen.email).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let page = post_on(&mut browser, "/compte/supprimer/code", &[("code", wrong)]).await;
    assert_eq!(page.status, 400, "{}", page.body);
    // A second password submission within the minute: the cooldown.
    let page = post_on(
        &mut browser,
        "/compte/supprimer",
        &[("password", &citizen.password)],
    )
    .await;
    assert_eq!(page.status, 429, "{}", page.body);

    // Nothing was deleted by any of this.
    assert_eq!(rows_of(&app, &citizen.account_id)[..2], [1, 1]);
    assert!(account_page_opens(&mut browser).await);
    chain_intact(&app);
}

async fn a_login_racing_the_deletion_does_not_survive_it(backend: Backend) {
    let (_env, app, secret) = spawn(backend).await;
    let citizen = kit::create_citizen(&app, true);
    // A login that got its authorization code before the deletion, and
    // one whose password is being checked while it runs.
    let mut rp = Browser::new(&app.base);
    let request = manual_authorize(&app.base, CLIENT, "openid offline_access", &[]);
    let early_code = code(&mut rp, &request, &citizen).await;
    let mut racer = Browser::new(&app.base);
    let (_, csrf) = form(&mut racer, "/compte/connexion").await;
    let fields = [
        ("csrf", csrf.as_str()),
        ("email", citizen.email.as_str()),
        ("password", citizen.password.as_str()),
    ];
    let login = racer.post("/compte/connexion", &fields);
    let erase = rgpd::erase_account(&app.core, &citizen.account_id, "test");
    let (page, erased) = tokio::join!(login, erase);
    assert_eq!(erased.unwrap().as_deref(), Some(citizen.email.as_str()));
    // Whatever the racing login answered, it opens nothing now.
    assert_ne!(page.status, 500, "{}", page.body);
    assert!(!account_page_opens(&mut racer).await);
    let (status, body) = exchange(&app, &early_code, &request.verifier, (CLIENT, &secret)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert!(!sso_skips_login(&app, &mut rp).await);
    assert!(!password_works(&app, &citizen.email, &citizen.password).await);
    chain_intact(&app);
}

/// Sets the account's last change `days` ago.
fn age_account(app: &TestApp, account_id: &str, days: i64) {
    let id = account_id.to_owned();
    app.core
        .db
        .write_blocking(move |conn| {
            diesel::update(accounts::table.filter(accounts::id.eq(&id)))
                .set(accounts::updated_at.eq(now_unix() - days * DAY))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
}

/// A verification request of the account with one photo, decided `days`
/// ago (or pending when `None`).
fn request_with_media(app: &TestApp, account_id: &str, id: &str, decided_days: Option<i64>) {
    let (account, id) = (account_id.to_owned(), id.to_owned());
    app.core
        .db
        .write_blocking(move |conn| {
            let now = now_unix();
            diesel::insert_into(verification_requests::table)
                .values((
                    verification_requests::id.eq(&id),
                    verification_requests::account_id.eq(&account),
                    verification_requests::method.eq("remote"),
                    verification_requests::status.eq(if decided_days.is_some() {
                        "verified"
                    } else {
                        "pending"
                    }),
                    verification_requests::created_at.eq(now - 200 * DAY),
                    verification_requests::expires_at.eq(now + DAY),
                    verification_requests::decided_at.eq(decided_days.map(|d| now - d * DAY)),
                ))
                .execute(conn)?;
            idp_server::store::enrolment::put_media(
                conn,
                &id,
                "document_front",
                "image/jpeg",
                3,
                b"abc",
            )
        })
        .unwrap();
}

fn refresh_token_expired(app: &TestApp, account_id: &str, hash: &str, days: i64) {
    let (account, hash) = (account_id.to_owned(), hash.to_owned());
    app.core
        .db
        .write_blocking(move |conn| {
            idp_server::store::refresh_tokens::insert(
                conn,
                &idp_server::store::refresh_tokens::NewRefreshToken {
                    token_hash: &hash,
                    family_id: &hash,
                    account_id: &account,
                    client_id: CLIENT,
                    grant_data: "{}",
                    expires_at: now_unix() - days * DAY,
                },
            )
        })
        .unwrap();
}

fn count_media(app: &TestApp, request_id: &str) -> i64 {
    let id = request_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(review_media::table
                .filter(review_media::request_id.eq(&id))
                .count()
                .get_result(conn)?)
        })
        .unwrap()
}

fn refresh_token_exists(app: &TestApp, hash: &str) -> bool {
    let hash = hash.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(&hash))
                .count()
                .get_result::<i64>(conn)?
                == 1)
        })
        .unwrap()
}

async fn purge_removes_exactly_what_is_past_its_period(backend: Backend) {
    let (env, app, _) = spawn(backend).await;
    // Defaults: media 30 days after the decision, abandoned enrolments 90
    // days, expired refresh tokens 30 days.
    let abandoned = kit::create_citizen(&app, false);
    age_account(&app, &abandoned.account_id, 100);
    let recent = kit::create_citizen(&app, false);
    age_account(&app, &recent.account_id, 80);
    let verified = kit::create_citizen(&app, true);
    age_account(&app, &verified.account_id, 400);
    let waiting = kit::create_citizen(&app, false);
    request_with_media(&app, &waiting.account_id, "pending-request", None);
    age_account(&app, &waiting.account_id, 100);
    request_with_media(&app, &verified.account_id, "old-decision", Some(31));
    let other = kit::create_citizen(&app, true);
    request_with_media(&app, &other.account_id, "recent-decision", Some(29));
    refresh_token_expired(&app, &verified.account_id, "expired-long-ago", 31);
    refresh_token_expired(&app, &verified.account_id, "expired-lately", 29);

    let out = admin(&env, &["purge"]).await.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "verification media: 1 removed (older than 30 days)",
            "abandoned enrolments: 1 removed (older than 90 days)",
            "connection history: 0 removed (older than 365 days)",
            "expired refresh tokens: 1 removed (older than 30 days)",
        ],
        "{out}"
    );
    assert_eq!(rows_of(&app, &abandoned.account_id)[..2], [0, 0]);
    for kept in [&recent, &verified, &waiting, &other] {
        assert_eq!(rows_of(&app, &kept.account_id)[0], 1);
    }
    assert_eq!(count_media(&app, "old-decision"), 0);
    assert_eq!(count_media(&app, "recent-decision"), 1);
    assert_eq!(count_media(&app, "pending-request"), 1);
    assert!(!refresh_token_exists(&app, "expired-long-ago"));
    assert!(refresh_token_exists(&app, "expired-lately"));
    let audit_count = || {
        app.core
            .db
            .read_blocking(|conn| Ok(audit_log::table.count().get_result::<i64>(conn)?))
            .unwrap()
    };
    let after_first = audit_count();
    let purged = crate::citizen::entries(&app, &abandoned.account_id).await;
    assert_eq!(purged[0].action, "account.purged");
    let summary = crate::citizen::entries(&app, "retention").await;
    assert_eq!(summary.len(), 1);
    let details: Value = serde_json::from_str(&summary[0].details).unwrap();
    assert_eq!(details["removed"]["verification_media"], 1);
    assert_eq!(details["removed"]["abandoned_enrolments"], 1);

    // A second run removes nothing and writes nothing.
    let json = admin(&env, &["--json", "purge"]).await.unwrap();
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["total"], 0, "{json}");
    let again = admin(&env, &["purge"]).await.unwrap();
    assert!(again.lines().all(|l| l.contains(": 0 removed")), "{again}");
    assert_eq!(audit_count(), after_first);
    let verified_chain = admin(&env, &["audit", "verify"]).await.unwrap();
    assert!(verified_chain.contains("intact"), "{verified_chain}");
}
