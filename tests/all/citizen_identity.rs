//! The identity after a decision (#16): a refused verification is told to
//! the citizen (email + SMS, the category, never the agent), `/compte`
//! offers "Corriger mes informations", and the corrected identity starts a
//! new request while the refused one stays in the history. On both backends.

use idp_server::domain::account::{AccountState, RefusalCategory, RequestStatus};
use idp_server::domain::agent::Role;
use idp_server::ephemeral::EphemeralStore;
use idp_server::outcome::Split;
use idp_server::store::{accounts, enrolment as rows};
use idp_server::verification::{self, Agent, Decision, Place};
use idp_tests::browser::Browser;
use idp_tests::enrolment::{
    Person, enrol_until_choice, form, identity_fields, messages_to, submit,
};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

both_backends!(
    a_refusal_is_told_and_the_corrected_identity_starts_a_new_request,
    a_corrected_identity_submitted_twice_opens_one_request,
    expiring_documents_are_listed_and_reminded_once,
    an_expired_document_refuses_eidas2_but_not_eidas1,
);

fn clerk() -> Agent {
    Agent {
        id: uuid::Uuid::new_v4().to_string(),
        username: "clerk-dupuis".to_owned(),
        role: Role::Clerk,
        office: Some("LYON01".to_owned()),
    }
}

/// A citizen at the counter: the browser (logged in) and the account id.
async fn face_to_face(app: &TestApp, person: &Person) -> (Browser, String) {
    let mut browser = enrol_until_choice(app, person, "identity_card").await;
    let page = submit(
        &mut browser,
        "/inscription/verification",
        &[("method", "face_to_face")],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let email = person.email.clone();
    let account = app
        .core
        .db
        .read(move |conn| accounts::by_email(conn, &email))
        .await
        .unwrap()
        .unwrap();
    (browser, account.id)
}

async fn requests(app: &TestApp, account_id: &str) -> Vec<rows::RequestRow> {
    let id = account_id.to_owned();
    app.core
        .db
        .read(move |conn| {
            use diesel::prelude::*;
            use idp_server::store::schema::verification_requests as v;
            Ok(v::table
                .filter(v::account_id.eq(&id))
                .order(v::created_at.asc())
                .load::<rows::RequestRow>(conn)?)
        })
        .await
        .unwrap()
}

async fn state(app: &TestApp, account_id: &str) -> AccountState {
    let id = account_id.to_owned();
    app.core
        .db
        .read(move |conn| accounts::state(conn, &id))
        .await
        .unwrap()
}

async fn decide(app: &TestApp, reference: &str, decision: Decision) -> AccountState {
    verification::decide_face_to_face(
        &app.core,
        &clerk(),
        reference,
        Place::Office("LYON01".into()),
        decision,
    )
    .await
    .split()
    .unwrap()
    .unwrap()
    .state
}

async fn refuse(app: &TestApp, account_id: &str) -> String {
    let reference = requests(app, account_id).await[0]
        .reference
        .clone()
        .unwrap();
    let refused = Decision::Rejected {
        category: RefusalCategory::Information,
        reason: "Nom mal orthographié, vu avec M. Dupuis".into(),
    };
    assert_eq!(
        decide(app, &reference, refused).await,
        AccountState::Rejected
    );
    reference
}

/// Corrects the given names from `/compte`, then asks for a face-to-face
/// verification again.
async fn correct(app: &TestApp, browser: &mut Browser) {
    let fields = identity_fields(&[("given_names", "Camille Annie")]);
    let page = submit(browser, "/inscription/identite", &fields).await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/recapitulatif").as_str()),
        "{}",
        page.body
    );
    // The review confirmed twice with the same form (a double click).
    let (_, csrf) = form(browser, "/inscription/recapitulatif").await;
    for _ in 0..2 {
        let page = browser
            .post("/inscription/recapitulatif", &[("csrf", &csrf)])
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
}

async fn a_refusal_is_told_and_the_corrected_identity_starts_a_new_request(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(161);
    let (mut browser, account_id) = face_to_face(&app, &person).await;
    let old_reference = refuse(&app, &account_id).await;

    // Told by email and SMS, in the category's words, never the agent's.
    for to in [&person.email, &person.mobile] {
        let messages = messages_to(&app, to).await;
        let notice = messages
            .iter()
            .find(|m| m.text.contains("refusée"))
            .unwrap_or_else(|| panic!("no refusal notice to {to}: {messages:?}"));
        assert!(
            notice.text.contains(RefusalCategory::Information.french()),
            "{}",
            notice.text
        );
        assert!(notice.text.contains("/compte"), "{}", notice.text);
        for secret in ["Dupuis", "clerk-", "orthographié"] {
            assert!(!notice.text.contains(secret), "{}", notice.text);
        }
    }

    // `/compte` says why and offers the correction.
    let page = browser.get("/compte").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Corriger mes informations"),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"/inscription/identite\""));
    assert!(
        page.body.contains("ne correspondent pas à la pièce"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("Dupuis"),
        "the agent's words stay inside"
    );

    // The form reopens with the previous values, even once the draft of
    // the first enrolment has expired.
    let draft = idp_server::ephemeral::keys::enrolment_draft(&account_id);
    app.core.ephemeral.delete(&draft).await.unwrap();
    let page = browser.get("/inscription/identite").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.field("family_name").as_deref(), Some("Dupont"));
    assert_eq!(page.field("given_names").as_deref(), Some("Camille Anne"));
    assert_eq!(page.field("document_number").as_deref(), Some("X4RTBPFW4"));
    assert_eq!(page.field("expires_on").as_deref(), Some("2032-02-28"));
    assert_eq!(page.field("birthdate").as_deref(), Some("1990-04-12"));

    correct(&app, &mut browser).await;
    let page = submit(
        &mut browser,
        "/inscription/verification",
        &[("method", "face_to_face")],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);

    // A new request with a new reference; the refused one is kept, refused.
    let all = requests(&app, &account_id).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let (old, new) = (&all[0], &all[1]);
    assert_eq!(old.status, RequestStatus::Rejected);
    assert_eq!(old.reason_category, Some(RefusalCategory::Information));
    assert_eq!(old.reference.as_deref(), Some(old_reference.as_str()));
    assert_eq!(new.status, RequestStatus::Pending);
    let new_reference = new.reference.clone().unwrap();
    assert_ne!(new_reference, old_reference);
    let page = browser.get("/compte").await;
    assert!(page.body.contains(&new_reference), "{}", page.body);
    assert!(!page.body.contains("Corriger mes informations"));

    // The counter verifies the new reference, with the corrected names.
    assert_eq!(
        decide(&app, &new_reference, Decision::Verified).await,
        AccountState::Verified
    );
    let id = account_id.clone();
    let identity = app
        .core
        .db
        .read(move |conn| accounts::identity(conn, &id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.given_name, "Camille Annie");
    assert!(identity.verified_at.is_some());
}

async fn a_corrected_identity_submitted_twice_opens_one_request(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(162);
    let (mut browser, account_id) = face_to_face(&app, &person).await;
    refuse(&app, &account_id).await;
    correct(&app, &mut browser).await;
    assert_eq!(
        state(&app, &account_id).await,
        AccountState::IdentitySubmitted
    );
    let (_, csrf) = form(&mut browser, "/inscription/verification").await;
    for _ in 0..2 {
        let fields = [("csrf", csrf.as_str()), ("method", "face_to_face")];
        let page = browser.post("/inscription/verification", &fields).await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
    let all = requests(&app, &account_id).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(
        all.iter()
            .filter(|r| r.status == RequestStatus::Pending)
            .count(),
        1
    );
    // The account awaits the one new request.
    assert!(matches!(
        state(&app, &account_id).await,
        AccountState::AwaitingVerification(_)
    ));
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

fn in_days(days: u64) -> String {
    let mut day = idp_server::enrol::today();
    for _ in 0..days {
        day = day.succ_opt().unwrap();
    }
    day.format("%Y-%m-%d").to_string()
}

async fn expiring_documents_are_listed_and_reminded_once(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    // Verified at the counter; the card expires in 10 days.
    let person = Person::new(163);
    let (_, account_id) = face_to_face(&app, &person).await;
    // Another one, whose request is still pending, is not listed.
    let (_, pending) = face_to_face(&app, &Person::new(164)).await;
    let reference = requests(&app, &account_id).await[0]
        .reference
        .clone()
        .unwrap();
    decide(&app, &reference, Decision::Verified).await;
    let expires_on = in_days(10);
    set_expiry(&app, &account_id, &expires_on).await;
    set_expiry(&app, &pending, &expires_on).await;

    let listed = admin(&env, &["accounts", "expiring", "--days", "30"]).await;
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains(&expires_on) && listed.contains(&person.email));
    assert!(listed.contains("not reminded"), "{listed}");
    let sooner = admin(&env, &["accounts", "expiring", "--days", "5"]).await;
    assert!(sooner.trim().is_empty(), "{sooner}");

    let sent: serde_json::Value = serde_json::from_str(
        &admin(
            &env,
            &["--json", "accounts", "expiring", "--days", "30", "--notify"],
        )
        .await,
    )
    .unwrap();
    assert_eq!(sent.as_array().map(Vec::len), Some(1), "{sent}");
    assert_eq!(sent[0]["account_id"], account_id.as_str());
    assert_eq!(sent[0]["expires_on"], expires_on.as_str());
    assert!(sent[0]["reminded_at"].is_i64());
    assert_eq!(reminders(&app, &person.email).await, 1);
    // A second run (tomorrow's cron) sends nothing more.
    let again = admin(&env, &["accounts", "expiring", "--days", "30", "--notify"]).await;
    assert!(again.contains("0 reminder(s) sent"), "{again}");
    assert_eq!(reminders(&app, &person.email).await, 1);
    let listed = admin(&env, &["accounts", "expiring", "--days", "30"]).await;
    assert!(listed.contains("reminded "), "{listed}");
    let audit = app
        .core
        .db
        .read(move |conn| {
            use diesel::prelude::*;
            use idp_server::store::schema::audit_log as l;
            Ok(l::table
                .filter(l::subject.eq(&account_id))
                .filter(l::action.eq("document.expiry_reminded"))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(audit, 1);
}

async fn reminders(app: &TestApp, to: &str) -> usize {
    messages_to(app, to)
        .await
        .iter()
        .filter(|m| m.subject.as_deref() == Some("Votre pièce d'identité arrive à expiration"))
        .count()
}

async fn set_expiry(app: &TestApp, account_id: &str, expires_on: &str) {
    let (id, day) = (account_id.to_owned(), expires_on.to_owned());
    app.core
        .db
        .write(move |conn| {
            use diesel::prelude::*;
            use idp_server::store::schema::documents as d;
            diesel::update(d::table.filter(d::account_id.eq(&id)))
                .set(d::expires_on.eq(&day))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn an_expired_document_refuses_eidas2_but_not_eidas1(backend: Backend) {
    use crate::citizen_block::{
        access_token, account_page, activated, spawn, status_of, waiting_for,
    };
    let (_env, app, secret) = spawn(backend).await;
    let (citizen, national, _, device) = activated(&app, 41).await;
    // The identity's document, valid until yesterday.
    let (id, yesterday) = (
        citizen.account_id.clone(),
        idp_server::enrol::today()
            .pred_opt()
            .unwrap()
            .format("%Y-%m-%d")
            .to_string(),
    );
    let sealed = app
        .core
        .subkeys
        .kek
        .seal(b"X4RTBPFW4", format!("document:{id}").as_bytes())
        .unwrap();
    app.core
        .db
        .write(move |conn| {
            rows::put_document(
                conn,
                &rows::NewDocument {
                    account_id: &id,
                    kind: "identity_card",
                    number_hash: "h",
                    number_sealed: &sealed,
                    issued_on: "2016-01-01",
                    expires_on: &yesterday,
                },
            )
        })
        .await
        .unwrap();
    // The phone page answers as for any number; the device is asked and
    // approves; only then does the browser learn why it cannot log in.
    let (mut browser, tx, waiting) = waiting_for(&app, &national).await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    let found = device.challenges(5).await.unwrap();
    assert_eq!(found.len(), 1);
    let number = idp_tests::phone::shown_number(&waiting.body);
    device.approve(&found[0], "2580", number).await.unwrap();
    assert_eq!(status_of(&mut browser, &tx).await, "document_expired");
    let end = browser
        .get(&format!("/login/telephone/attente?tx={tx}"))
        .await;
    assert_eq!(end.status, 200, "{}", end.body);
    assert!(end.body.contains("identité a expiré"), "{}", end.body);
    assert!(
        end.body.contains("Corriger mes informations"),
        "{}",
        end.body
    );
    assert!(!end.body.contains("/login/telephone?tx="), "no retry");
    // eidas1 (password) still works, but the identity no longer counts as
    // verified for a new login: no identity claims.
    let token = access_token(&app, &secret, &citizen).await;
    let userinfo: serde_json::Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        userinfo["sub"].as_str().map(str::is_empty),
        Some(false),
        "{userinfo}"
    );
    assert!(userinfo.get("family_name").is_none(), "{userinfo}");

    // `/compte` says so and reopens the identity form for the new document;
    // confirming it asks for a new verification (a new reference).
    let (mut browser, page) = account_page(&app, &citizen).await;
    assert!(page.body.contains("a expiré le"), "{}", page.body);
    assert!(
        page.body.contains("Corriger mes informations"),
        "{}",
        page.body
    );
    let form = browser.get("/inscription/identite").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(form.field("family_name").as_deref(), Some("DURAND"));
    assert_eq!(form.field("document_number").as_deref(), Some("X4RTBPFW4"));
    let fields = identity_fields(&[
        ("family_name", "Durand"),
        ("given_names", "Jeanne Marie"),
        ("birthdate", "1985-02-28"),
        ("birth_commune", "2A004"),
        ("document_number", "Y5STCQGX5"),
        ("expires_on", "2036-01-01"),
    ]);
    let page = submit(&mut browser, "/inscription/identite", &fields).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = submit(&mut browser, "/inscription/recapitulatif", &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        state(&app, &citizen.account_id).await,
        AccountState::IdentitySubmitted
    );
    let page = submit(
        &mut browser,
        "/inscription/verification",
        &[("method", "face_to_face")],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let all = requests(&app, &citizen.account_id).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].status, RequestStatus::Pending);
}
