//! Identity verification by clerks (face to face) and reviewers (online), by
//! CLI and service, on both backends.

use clap::Parser;
use idp_admin::Cli;
use idp_server::domain::account::RefusalCategory;
use idp_server::outcome::Split;
use idp_server::store::{accounts, enrolment as rows};
use idp_server::verification::{self, Agent, Decision, Place, Refusal};
use idp_tests::browser::Browser;
use idp_tests::enrolment::{Person, enrol_until_choice, messages_to, submit};
use idp_tests::oidc::{self as kit, REDIRECT_URI};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

both_backends!(
    clerk_verifies_a_reference_and_the_citizen_gets_an_activation_code,
    verification_refusals,
    two_clerks_deciding_at_once_exactly_one_succeeds,
    reviewer_decides_an_online_request,
    agents_cli,
);

async fn admin(env: &TestEnv, args: &[&str]) -> Result<String, idp_admin::AdminError> {
    let cli =
        Cli::try_parse_from(std::iter::once("idp-admin").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    idp_admin::run_with(cli, env.config(), None, &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

async fn reference_for(app: &TestApp, person: &Person) -> (String, String) {
    idp_tests::enrolment::face_to_face_reference(app, person).await
}

fn agent(role: idp_server::domain::agent::Role, office: Option<&str>) -> Agent {
    Agent {
        id: uuid::Uuid::new_v4().to_string(),
        username: format!(
            "{}-{}",
            role.as_str(),
            &uuid::Uuid::new_v4().simple().to_string()[..4]
        ),
        role,
        office: office.map(str::to_owned),
    }
}

async fn clerk_verifies_a_reference_and_the_citizen_gets_an_activation_code(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(21);
    let (reference, account_id) = reference_for(&app, &person).await;
    admin(
        &env,
        &[
            "agents",
            "add",
            "m.durand",
            "--name",
            "Marc Durand",
            "--role",
            "clerk",
            "--office",
            "lyon01",
        ],
    )
    .await
    .unwrap();

    let out = admin(
        &env,
        &[
            "verify",
            "--reference",
            &reference.to_lowercase(),
            "--office",
            "LYON01",
            "--agent",
            "m.durand",
            "--decision",
            "verified",
        ],
    )
    .await
    .unwrap();
    assert!(out.contains("account is now verified"), "{out}");
    let id = account_id.clone();
    let (account, identity, request) = app
        .core
        .db
        .read(move |conn| {
            Ok((
                accounts::by_id(conn, &id)?.unwrap(),
                accounts::identity(conn, &id)?.unwrap(),
                rows::latest_request(conn, &id)?.unwrap(),
            ))
        })
        .await
        .unwrap();
    assert_eq!(account.state.as_str(), "verified");
    assert!(identity.verified_at.is_some());
    assert_eq!(
        identity.verification_method.map(|m| m.as_str()),
        Some("face_to_face")
    );
    assert_eq!(
        (
            request.status.as_str(),
            request.decided_by.as_deref(),
            request.office.as_deref()
        ),
        ("verified", Some("m.durand"), Some("office:LYON01"))
    );

    // The activation code goes by SMS and email, and only its hash is stored.
    let sms = messages_to(&app, &person.mobile).await;
    let text = &sms
        .iter()
        .find(|m| m.text.contains("activation"))
        .expect("activation SMS")
        .text;
    assert!(text.contains("14 jours"), "{text}");
    // Both say where the app is (#17), at the public URL of the deployment
    // that issued the code (here the CLI's configuration).
    let app_url = format!("{}/app", env.config().server.public_url);
    assert!(text.contains(&format!("Ouvrez {app_url} ")), "{text}");
    let emails = messages_to(&app, &person.email).await;
    let email = emails
        .iter()
        .find(|m| m.subject.as_deref() == Some("Votre identité est vérifiée"))
        .expect("activation email");
    assert!(
        email.text.contains(&format!("ouvrez {app_url} ")),
        "{}",
        email.text
    );
    let id = account_id.clone();
    let code_row = app
        .core
        .db
        .read(move |conn| idp_server::store::agents::activation(conn, &id))
        .await
        .unwrap()
        .unwrap();
    assert!(code_row.expires_at - code_row.created_at >= 14 * 86_400 - 5);
    assert!(!text.contains(&code_row.code_hash));

    // The verified identity's claims now reach relying parties (eidas1 login).
    let secret = kit::register_client(&app, "rp", &kit::client_metadata()).unwrap();
    let client = idp_tests::rp::client(&app.base, "rp", Some(&secret), REDIRECT_URI).await;
    let request = idp_tests::rp::authorize(&client, &["identite_pivot"], None);
    let citizen = kit::Citizen {
        account_id: account_id.clone(),
        email: person.email.clone(),
        password: person.password.clone(),
    };
    let params = kit::walk(
        &mut Browser::new(&app.base),
        request.url.as_str(),
        Some(&citizen),
    )
    .await
    .params();
    let (status, _, tokens) = kit::post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", request.verifier.secret()),
        ],
        Some(("rp", &secret)),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let userinfo: serde_json::Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["family_name"], "Dupont");
    assert_eq!(userinfo["birthplace"], "69123");
    let verified = admin(&env, &["audit", "verify"]).await.unwrap();
    assert!(verified.contains("intact"), "{verified}");
}

async fn verification_refusals(backend: Backend) {
    use idp_server::domain::agent::Role;
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let (reference, account_id) = reference_for(&app, &Person::new(22)).await;
    let clerk = agent(Role::Clerk, Some("LYON01"));
    let decide = |agent: Agent, reference: String, office: &'static str, decision: Decision| {
        let core = app.core.clone();
        async move {
            verification::decide_face_to_face(
                &core,
                &agent,
                &reference,
                Place::Office(office.into()),
                decision,
            )
            .await
            .split()
            .unwrap()
            .map(|o| o.state)
        }
    };
    assert_eq!(
        decide(clerk.clone(), "ABC".into(), "LYON01", Decision::Verified).await,
        Err(Refusal::ReferenceMalformed)
    );
    assert_eq!(
        decide(
            clerk.clone(),
            "ZZZZZZZZ".into(),
            "LYON01",
            Decision::Verified
        )
        .await,
        Err(Refusal::NotFound)
    );
    assert_eq!(
        decide(
            clerk.clone(),
            reference.clone(),
            "PARIS07",
            Decision::Verified
        )
        .await,
        Err(Refusal::Office)
    );
    assert_eq!(
        decide(
            agent(Role::Reviewer, None),
            reference.clone(),
            "LYON01",
            Decision::Verified
        )
        .await,
        Err(Refusal::Role)
    );
    assert_eq!(
        decide(
            clerk.clone(),
            reference.clone(),
            "LYON01",
            Decision::Rejected {
                category: RefusalCategory::Other,
                reason: " ".into()
            }
        )
        .await,
        Err(Refusal::ReasonRequired)
    );
    // Nothing changed by the refusals.
    let id = account_id.clone();
    assert_eq!(
        app.core
            .db
            .read(move |conn| accounts::by_id(conn, &id))
            .await
            .unwrap()
            .unwrap()
            .state
            .as_str(),
        "awaiting_verification_face_to_face"
    );
    // Rejected with a reason; then the reference is spent.
    let rejected = decide(
        clerk.clone(),
        reference.clone(),
        "LYON01",
        Decision::Rejected {
            category: RefusalCategory::Person,
            reason: "photo ne correspond pas".into(),
        },
    )
    .await;
    assert_eq!(rejected.map(|s| s.as_str()), Ok("rejected"));
    assert_eq!(
        decide(
            clerk.clone(),
            reference.clone(),
            "LYON01",
            Decision::Verified
        )
        .await,
        Err(Refusal::AlreadyDecided)
    );
    let id = account_id.clone();
    let identity = app
        .core
        .db
        .read(move |conn| accounts::identity(conn, &id))
        .await
        .unwrap()
        .unwrap();
    assert!(
        identity.verified_at.is_none(),
        "rejected identities stay unverified"
    );

    // An expired reference.
    let (reference, account_id) = reference_for(&app, &Person::new(23)).await;
    let id = account_id.clone();
    app.core
        .db
        .write(move |conn| {
            use diesel::prelude::*;
            use idp_server::store::schema::verification_requests as v;
            diesel::update(v::table.filter(v::account_id.eq(&id)))
                .set(v::expires_at.eq(1))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        decide(clerk, reference, "LYON01", Decision::Verified).await,
        Err(Refusal::Expired)
    );
}

async fn two_clerks_deciding_at_once_exactly_one_succeeds(backend: Backend) {
    use idp_server::domain::agent::Role;
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let (reference, account_id) = reference_for(&app, &Person::new(24)).await;
    let results = futures_util::future::join_all((0..6).map(|i| {
        let core = app.core.clone();
        let reference = reference.clone();
        async move {
            let decision = if i % 2 == 0 {
                Decision::Verified
            } else {
                Decision::Rejected {
                    category: RefusalCategory::Other,
                    reason: "doute".into(),
                }
            };
            verification::decide_face_to_face(
                &core,
                &agent(Role::Clerk, Some("LYON01")),
                &reference,
                Place::Office("LYON01".into()),
                decision,
            )
            .await
            .split()
            .unwrap()
        }
    }))
    .await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| *r.as_ref().unwrap_err() == Refusal::AlreadyDecided)
    );
    let id = account_id.clone();
    let state = app
        .core
        .db
        .read(move |conn| accounts::by_id(conn, &id))
        .await
        .unwrap()
        .unwrap()
        .state;
    assert!(
        state.as_str() == "verified" || state.as_str() == "rejected",
        "{state}"
    );
    let entries = app
        .core
        .db
        .read(|conn| idp_server::store::audit::recent(conn, 100))
        .await
        .unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action.starts_with("verification."))
            .count(),
        1,
        "one decision, one entry"
    );
}

async fn reviewer_decides_an_online_request(backend: Backend) {
    use idp_server::domain::agent::Role;
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(25);
    let mut browser = enrol_until_choice(&app, &person, "passport").await;
    submit(
        &mut browser,
        "/inscription/verification",
        &[("method", "remote")],
    )
    .await;
    let (_, csrf) = idp_tests::enrolment::form(&mut browser, "/inscription/en-ligne").await;
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.resize(1000, 1);
    browser
        .post_multipart(
            "/inscription/en-ligne/photos",
            &[("csrf", &csrf)],
            vec![("front", "a.jpg", jpeg.clone()), ("back", "b.jpg", jpeg)],
        )
        .await;
    let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3];
    webm.resize(1000, 2);
    browser
        .post_multipart(
            "/inscription/en-ligne/video",
            &[("csrf", &csrf)],
            vec![("video", "v.webm", webm)],
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
    assert_eq!(account.state.as_str(), "awaiting_verification_remote");
    let id = account.id.clone();
    let request = app
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await
        .unwrap()
        .unwrap();

    let clerk = agent(Role::Clerk, Some("LYON01"));
    assert_eq!(
        verification::decide_remote(&app.core, &clerk, &request.id, Decision::Verified)
            .await
            .split()
            .unwrap()
            .err(),
        Some(Refusal::Role)
    );
    // A face-to-face decision cannot target an online request.
    let outcome = verification::decide_remote(
        &app.core,
        &agent(Role::Reviewer, None),
        &request.id,
        Decision::Verified,
    )
    .await
    .split()
    .unwrap()
    .unwrap();
    assert_eq!(outcome.state.as_str(), "verified");
    let id = account.id.clone();
    let identity = app
        .core
        .db
        .read(move |conn| accounts::identity(conn, &id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        identity.verification_method.map(|m| m.as_str()),
        Some("remote")
    );
    assert!(
        messages_to(&app, &person.mobile)
            .await
            .iter()
            .any(|m| m.text.contains("activation"))
    );
}

async fn agents_cli(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let created: serde_json::Value = serde_json::from_str(
        &admin(
            &env,
            &[
                "--json",
                "agents",
                "add",
                "r.petit",
                "--name",
                "Rose Petit",
                "--role",
                "reviewer",
            ],
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert!(created["initial_password"].as_str().unwrap().len() >= 32);
    for (args, needle) in [
        (
            vec!["agents", "add", "c.one", "--name", "C", "--role", "clerk"],
            "needs --office",
        ),
        (
            vec!["agents", "add", "c.two", "--name", "C", "--role", "boss"],
            "unknown role",
        ),
        (
            vec![
                "agents", "add", "r.petit", "--name", "R", "--role", "reviewer",
            ],
            "already exists",
        ),
        (vec!["agents", "disable", "nobody"], "no agent nobody"),
        (
            vec![
                "verify",
                "--reference",
                "ABCDEFGH",
                "--office",
                "LYON01",
                "--agent",
                "r.petit",
                "--decision",
                "maybe",
            ],
            "verified or rejected",
        ),
    ] {
        let err = admin(&env, &args).await.unwrap_err().to_string();
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let listed = admin(&env, &["agents", "list"]).await.unwrap();
    assert!(
        listed.contains("r.petit") && listed.contains("reviewer") && listed.contains("no-totp"),
        "{listed}"
    );
    // A disabled agent cannot verify.
    admin(
        &env,
        &[
            "agents", "add", "m.clerk", "--name", "M", "--role", "clerk", "--office", "LYON01",
        ],
    )
    .await
    .unwrap();
    let (reference, _) = reference_for(&app, &Person::new(26)).await;
    admin(&env, &["agents", "disable", "m.clerk"])
        .await
        .unwrap();
    let err = admin(
        &env,
        &[
            "verify",
            "--reference",
            &reference,
            "--office",
            "LYON01",
            "--agent",
            "m.clerk",
            "--decision",
            "verified",
        ],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("no active agent"), "{err}");
    admin(&env, &["agents", "enable", "m.clerk"]).await.unwrap();
    let out = admin(&env, &["agents", "reset-totp", "m.clerk"])
        .await
        .unwrap();
    assert!(out.contains("TOTP reset"), "{out}");
    let out = admin(
        &env,
        &[
            "verify",
            "--reference",
            &reference,
            "--office",
            "LYON01",
            "--agent",
            "m.clerk",
            "--decision",
            "verified",
            "--at-home",
        ],
    )
    .await
    .unwrap();
    assert!(out.contains("verified"), "{out}");
}
