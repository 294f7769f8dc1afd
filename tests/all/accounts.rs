//! `idp-admin accounts …`: operators look accounts up, suspend them (no login,
//! no refresh), lift the suspension and reissue activation codes, on both
//! backends.

use clap::Parser;
use idp_admin::Cli;
use idp_server::store::audit::{self, AuditRow};
use idp_server::store::{accounts, consents, devices, enrolment as rows};
use idp_tests::browser::Browser;
use idp_tests::enrolment::{Person, enrol_until_choice, messages_to, submit};
use idp_tests::oidc::{self as kit, Outcome, REDIRECT_URI, manual_authorize, post_form};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

both_backends!(
    show_suspend_unsuspend_and_reissue,
    refusals_leave_nothing_behind,
    bulk_inserts_store_every_row_or_none
);

/// The document number `enrol_until_choice` declares for an identity card.
const DOCUMENT_NUMBER: &str = "X4RTBPFW4";

async fn admin(env: &TestEnv, args: &[&str]) -> Result<String, idp_admin::AdminError> {
    let cli =
        Cli::try_parse_from(std::iter::once("idp-admin").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    idp_admin::run_with(cli, env.config(), None, &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

async fn admin_json(env: &TestEnv, args: &[&str]) -> serde_json::Value {
    let all: Vec<&str> = std::iter::once("--json")
        .chain(args.iter().copied())
        .collect();
    let out = admin(env, &all).await.unwrap();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Enrols `person` through the pages up to a face-to-face reference; returns
/// (reference, account id).
async fn face_to_face(app: &TestApp, person: &Person) -> (String, String) {
    let mut browser = enrol_until_choice(app, person, "identity_card").await;
    submit(
        &mut browser,
        "/inscription/verification",
        &[("method", "face_to_face")],
    )
    .await;
    let email = person.email.clone();
    let account = app
        .core
        .db
        .read(move |conn| accounts::by_email(conn, &email))
        .await
        .unwrap()
        .unwrap();
    let id = account.id.clone();
    let request = app
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await
        .unwrap()
        .unwrap();
    (request.reference.unwrap(), account.id)
}

/// Enrols and has a clerk verify the person with `idp-admin verify`.
async fn verified(env: &TestEnv, app: &TestApp, person: &Person) -> String {
    let (reference, account_id) = face_to_face(app, person).await;
    let clerk = format!("clerk.{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    admin(
        env,
        &[
            "agents",
            "add",
            &clerk,
            "--name",
            "Marc Durand",
            "--role",
            "clerk",
            "--office",
            "LYON01",
        ],
    )
    .await
    .unwrap();
    let out = admin(
        env,
        &[
            "verify",
            "--reference",
            &reference,
            "--office",
            "LYON01",
            "--agent",
            &clerk,
            "--decision",
            "verified",
        ],
    )
    .await
    .unwrap();
    assert!(out.contains("account is now verified"), "{out}");
    account_id
}

async fn state(app: &TestApp, account_id: &str) -> String {
    let id = account_id.to_owned();
    app.core
        .db
        .read(move |conn| accounts::by_id(conn, &id))
        .await
        .unwrap()
        .unwrap()
        .state
        .as_str()
        .to_owned()
}

async fn entries(app: &TestApp, account_id: &str) -> Vec<AuditRow> {
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

fn activation_sms(sms: &[idp_server::notify::OutboxEntry]) -> usize {
    sms.iter()
        .filter(|m| m.text.contains("Code d'activation"))
        .count()
}

async fn show_suspend_unsuspend_and_reissue(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(41);
    let account_id = verified(&env, &app, &person).await;

    // show, by email (any case) and by phone (national form), text and JSON.
    let text = admin(&env, &["accounts", "show", &person.email.to_uppercase()])
        .await
        .unwrap();
    for needle in [
        account_id.as_str(),
        person.email.as_str(),
        "verified",
        "Camille Anne Dupont",
        "1990-04-12",
        "69123",
        "99100",
        "face_to_face verified, reference",
        "by clerk.",
        "office:LYON01",
        "code pending until",
        "verification.verified",
        "activation.code_issued",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let national = format!("0{}", &person.mobile[3..]);
    let by_phone = admin(&env, &["accounts", "show", &national]).await.unwrap();
    assert!(by_phone.contains(&account_id), "{by_phone}");
    let shown = admin_json(&env, &["accounts", "show", &person.mobile]).await;
    assert_eq!(shown["id"], account_id.as_str());
    assert_eq!(shown["email"], person.email.as_str());
    assert_eq!(shown["state"], "verified");
    let phone = shown["phone"].as_str().unwrap();
    assert!(
        phone.contains("**") && !phone.contains(&person.mobile[4..9]),
        "{phone}"
    );
    assert_eq!(shown["identity"]["family_name"], "Dupont");
    assert_eq!(shown["identity"]["birthplace"], "69123");
    assert_eq!(shown["identity"]["verification_method"], "face_to_face");
    assert!(shown["identity"]["verified_at"].is_i64());
    assert_eq!(shown["latest_request"]["method"], "face_to_face");
    assert_eq!(shown["latest_request"]["status"], "verified");
    assert_eq!(shown["latest_request"]["office"], "office:LYON01");
    assert!(shown["latest_request"]["decided_by"].is_string());
    assert_eq!(shown["activation_code"]["pending"], true);
    assert!(shown["activation_code"]["expires_at"].as_i64().unwrap() > 0);
    let audit_shown = shown["audit"].as_array().unwrap();
    assert!(!audit_shown.is_empty() && audit_shown.len() <= 20);
    assert!(
        audit_shown
            .iter()
            .any(|e| e["action"] == "verification.verified")
    );
    // Never the document number, in either form.
    for out in [&text, &by_phone, &shown.to_string()] {
        assert!(!out.contains(DOCUMENT_NUMBER), "{out}");
    }

    // A session with a refresh token, taken before the suspension.
    let secret = kit::register_client(&app, "rp", &kit::client_metadata()).unwrap();
    let citizen = kit::Citizen {
        account_id: account_id.clone(),
        email: person.email.clone(),
        password: person.password.clone(),
    };
    let request = manual_authorize(&app.base, "rp", "openid email offline_access", &[]);
    let mut sso = Browser::new(&app.base);
    let code = kit::code(&mut sso, &request, &citizen).await;
    let (status, _, tokens) = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &request.verifier),
        ],
        Some(("rp", &secret)),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    // suspend needs a reason.
    let missing = Cli::try_parse_from(["idp-admin", "accounts", "suspend", &person.email]);
    assert!(missing.is_err(), "--reason is required");
    let err = admin(
        &env,
        &["accounts", "suspend", &person.email, "--reason", "  "],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("--reason"), "{err}");
    assert_eq!(state(&app, &account_id).await, "verified");

    let out = admin_json(
        &env,
        &[
            "accounts",
            "suspend",
            &person.email,
            "--reason",
            "usurpation signalée",
        ],
    )
    .await;
    assert_eq!(out["state"], "suspended");
    assert_eq!(out["previous_state"], "verified");
    assert_eq!(state(&app, &account_id).await, "suspended");
    let log = entries(&app, &account_id).await;
    let entry = log
        .iter()
        .find(|e| e.action == "accounts.suspend")
        .expect("suspension audited");
    assert!(entry.actor.starts_with("cli:"), "{}", entry.actor);
    let details: serde_json::Value = serde_json::from_str(&entry.details).unwrap();
    assert_eq!(details["reason"], "usurpation signalée");
    assert_eq!(details["previous_state"], "verified");

    // A suspended account cannot log in: its SSO session no longer counts…
    let request = manual_authorize(&app.base, "rp", "openid email", &[]);
    match kit::walk(&mut sso, &request.url, None).await {
        Outcome::Page(page) => assert!(page.body.contains("name=\"password\""), "{}", page.body),
        _ => panic!("a suspended account's SSO session was reused"),
    }
    // …and its password is refused…
    let request = manual_authorize(&app.base, "rp", "openid email", &[]);
    match kit::walk(&mut Browser::new(&app.base), &request.url, Some(&citizen)).await {
        Outcome::Page(page) => {
            assert_eq!(page.status, 403, "{}", page.body);
            assert!(page.body.contains("suspendu"), "{}", page.body);
        }
        _ => panic!("a suspended account logged in"),
    }
    // …nor refresh its tokens.
    let (status, _, refused) = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
        Some(("rp", &secret)),
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant")),
        "{refused}"
    );

    // Suspending again: refused, nothing written.
    let before = entries(&app, &account_id).await.len();
    let err = admin(
        &env,
        &["accounts", "suspend", &person.mobile, "--reason", "encore"],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("already suspended"), "{err}");
    assert_eq!(entries(&app, &account_id).await.len(), before);
    // Reissuing is refused while suspended.
    let err = admin(&env, &["accounts", "reissue-activation", &person.email])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("this one is suspended"), "{err}");

    // unsuspend: back to the state before the suspension; login works again.
    let out = admin(&env, &["accounts", "unsuspend", &person.email])
        .await
        .unwrap();
    assert!(out.contains("back to verified"), "{out}");
    assert_eq!(state(&app, &account_id).await, "verified");
    let log = entries(&app, &account_id).await;
    assert_eq!(count(&log, "accounts.unsuspend"), 1);
    let err = admin(&env, &["accounts", "unsuspend", &person.email])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not suspended"), "{err}");
    assert_eq!(
        count(&entries(&app, &account_id).await, "accounts.unsuspend"),
        1
    );
    let request = manual_authorize(&app.base, "rp", "openid email", &[]);
    let params = kit::walk(&mut Browser::new(&app.base), &request.url, Some(&citizen))
        .await
        .params();
    assert!(params.contains_key("code"), "{params:?}");

    // reissue-activation: a second activation SMS, one more audited code.
    assert_eq!(activation_sms(&messages_to(&app, &person.mobile).await), 1);
    let issued = count(&entries(&app, &account_id).await, "activation.code_issued");
    let out = admin_json(&env, &["accounts", "reissue-activation", &person.email]).await;
    assert_eq!(out["account"], account_id.as_str());
    assert!(out["expires_at"].as_i64().unwrap() > 0);
    assert_eq!(activation_sms(&messages_to(&app, &person.mobile).await), 2);
    let log = entries(&app, &account_id).await;
    assert_eq!(count(&log, "activation.code_issued"), issued + 1);
    assert!(
        log.iter()
            .any(|e| e.action == "activation.code_issued" && e.actor.starts_with("cli:"))
    );

    let verified = admin(&env, &["audit", "verify"]).await.unwrap();
    assert!(verified.contains("intact"), "{verified}");
}

async fn refusals_leave_nothing_behind(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(42);
    enrol_until_choice(&app, &person, "identity_card").await;
    let email = person.email.clone();
    let account = app
        .core
        .db
        .read(move |conn| accounts::by_email(conn, &email))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.state.as_str(), "identity_submitted");
    let before = entries(&app, &account.id).await.len();

    let err = admin(&env, &["accounts", "reissue-activation", &person.email])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("verified, active or device_locked") && err.contains("identity_submitted"),
        "{err}"
    );
    assert_eq!(activation_sms(&messages_to(&app, &person.mobile).await), 0);
    let err = admin(&env, &["accounts", "unsuspend", &person.email])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not suspended"), "{err}");
    assert_eq!(entries(&app, &account.id).await.len(), before);

    // The identity is shown (unverified), with no request yet.
    let shown = admin_json(&env, &["accounts", "show", &person.email]).await;
    assert_eq!(shown["state"], "identity_submitted");
    assert!(shown["identity"]["verified_at"].is_null());
    assert!(shown["latest_request"].is_null());
    assert_eq!(shown["activation_code"]["pending"], false);
    assert!(!shown.to_string().contains(DOCUMENT_NUMBER));

    // Suspension works from any state and is lifted back to it.
    admin(
        &env,
        &["accounts", "suspend", &person.email, "--reason", "doublon"],
    )
    .await
    .unwrap();
    admin(&env, &["accounts", "unsuspend", &person.email])
        .await
        .unwrap();
    assert_eq!(state(&app, &account.id).await, "identity_submitted");

    // Unknown or malformed identifiers: one clear line.
    for (who, needle) in [
        ("nobody@example.fr", "no account has the email address"),
        ("06 12 34 99 99", "no account has the phone number"),
        (
            "not-an-account",
            "neither an email address nor a French mobile",
        ),
        ("@", "not a valid email address"),
    ] {
        let err = admin(&env, &["accounts", "show", who])
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{who}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

fn bulk_identity(account_id: &str) -> accounts::IdentityRow {
    accounts::IdentityRow {
        account_id: account_id.to_owned(),
        given_name: "Camille".into(),
        family_name: "VRAC".into(),
        preferred_username: None,
        birthdate: "1980-01-01".into(),
        gender: "female".into(),
        birthplace: "75056".into(),
        birthcountry: "99100".into(),
        verified_at: Some(1),
        verification_method: Some(idp_server::domain::account::VerificationMethod::FaceToFace),
    }
}

/// The multi-row inserts the benchmark seeds with (one statement per table on
/// PostgreSQL, one per row on SQLite): every row lands, and a batch with a
/// bad row leaves nothing behind.
async fn bulk_inserts_store_every_row_or_none(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    kit::register_client(&app, "bulk-client", &kit::client_metadata());
    let ids: Vec<String> = (0..3).map(|i| format!("bulk-account-{i}")).collect();
    let written = {
        let ids = ids.clone();
        app.core
            .db
            .write(move |conn| {
                let emails: Vec<String> = ids.iter().map(|id| format!("{id}@vrac.test")).collect();
                let phones: Vec<String> = (0..3).map(|i| format!("+3361000000{i}")).collect();
                let new: Vec<accounts::NewAccount<'_>> = (0..3)
                    .map(|i| accounts::NewAccount {
                        id: &ids[i],
                        state: "active",
                        email: &emails[i],
                        password_hash: None,
                        phone: Some(&phones[i]),
                    })
                    .collect();
                accounts::insert_many(conn, &new)?;
                let identities: Vec<_> = ids.iter().map(|id| bulk_identity(id)).collect();
                accounts::insert_identities(conn, &identities)?;
                let device_ids: Vec<String> = ids.iter().map(|id| format!("{id}-device")).collect();
                let new_devices: Vec<devices::NewDevice<'_>> = (0..3)
                    .map(|i| devices::NewDevice {
                        id: &device_ids[i],
                        account_id: &ids[i],
                        name: "Vrac",
                        public_jwk: "{}",
                        pin_verifier: "v",
                    })
                    .collect();
                devices::insert_many(conn, &new_devices)?;
                let account_ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                consents::grant_new(
                    conn,
                    &account_ids,
                    "bulk-client",
                    &[
                        "openid".to_owned(),
                        "profile".to_owned(),
                        "openid".to_owned(),
                    ],
                )?;
                Ok(())
            })
            .await
    };
    written.unwrap();
    for (i, id) in ids.iter().enumerate() {
        let id = id.clone();
        let (account, identity, device, consent) = app
            .core
            .db
            .read(move |conn| {
                let (account, identity, _) = accounts::with_identity(conn, &id)?.unwrap();
                let device = devices::by_id(conn, &format!("{id}-device"))?.unwrap();
                let consent = consents::granted(conn, &id, "bulk-client")?;
                Ok((account, identity, device, consent))
            })
            .await
            .unwrap();
        assert_eq!(account.email, format!("bulk-account-{i}@vrac.test"));
        assert_eq!(
            account.phone.as_deref(),
            Some(format!("+3361000000{i}").as_str())
        );
        assert_eq!(identity.unwrap().family_name, "VRAC");
        assert_eq!(
            (device.account_id.as_str(), device.state.as_str()),
            (account.id.as_str(), "active")
        );
        assert_eq!(
            consent,
            Some(vec!["openid".to_owned(), "profile".to_owned()])
        );
    }

    // The second row repeats an existing id: the whole batch is refused.
    let refused = app
        .core
        .db
        .write(|conn| {
            let new = [
                accounts::NewAccount {
                    id: "bulk-new",
                    state: "active",
                    email: "bulk-new@vrac.test",
                    password_hash: None,
                    phone: None,
                },
                accounts::NewAccount {
                    id: "bulk-account-0",
                    state: "active",
                    email: "again@vrac.test",
                    password_hash: None,
                    phone: None,
                },
            ];
            accounts::insert_many(conn, &new)
        })
        .await;
    assert!(refused.is_err());
    let left = app
        .core
        .db
        .read(|conn| accounts::by_id(conn, "bulk-new"))
        .await
        .unwrap();
    assert!(left.is_none(), "a refused batch left a row behind");
}
