//! The agents' console, #17: the initial password replaced at first login
//! and later from "Mon compte" (other sessions end), the clerk's search for
//! a lost reference (open face-to-face requests only, audited, limited),
//! the decision form shown again with what was entered, the success notice
//! naming the citizen and the reference, and today's decisions on the home
//! page.

use idp_server::store::audit::{self, AuditRow};
use idp_tests::browser::{Browser, Page};
use idp_tests::enrolment::{Person, enrol_until_choice, face_to_face_reference, form};
use idp_tests::{Backend, TestApp, both_backends};

use super::console::{admin, log_in, password_and_code, spawn_console};

both_backends!(
    agents_replace_the_initial_password_before_anything_else,
    clerks_find_a_lost_reference_within_limits,
    counter_forms_come_back_as_entered_and_the_home_page_lists_today,
);

const NEW: &str = "Girafe-Bleue-Sous-Le-Pont";
const LATER: &str = "Chemin-Des-Vignes-Rouges";

async fn audit_of(app: &TestApp, action: &'static str) -> Vec<AuditRow> {
    app.core
        .db
        .read(|conn| audit::recent(conn, 500))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

async fn add_agent(env: &idp_tests::TestEnv, username: &str, role: &str) -> String {
    let mut args = vec![
        "--json",
        "agents",
        "add",
        username,
        "--name",
        "Claire Martin",
        "--role",
        role,
    ];
    if role == "clerk" {
        args.extend(["--office", "LYON01"]);
    }
    let created = admin(env, &args).await;
    created["initial_password"].as_str().unwrap().to_owned()
}

async fn change(console: &mut Browser, current: &str, new: &str, confirm: &str) -> Page {
    let page = console.get("/mon-compte").await;
    let csrf = page.field("csrf").unwrap();
    console
        .post(
            "/mon-compte",
            &[
                ("csrf", &csrf),
                ("current", current),
                ("new", new),
                ("confirm", confirm),
            ],
        )
        .await
}

fn sent_to_my_account(page: &Page) -> bool {
    page.status == 303
        && page
            .location
            .as_deref()
            .is_some_and(|l| l.ends_with("/mon-compte"))
}

async fn agents_replace_the_initial_password_before_anything_else(backend: Backend) {
    let env = idp_tests::TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    let initial = add_agent(&env, "c.martin", "clerk").await;

    let mut console = Browser::new(&base);
    password_and_code(&mut console, "c.martin", &initial, None).await;
    // Nothing but "Mon compte" opens until the initial password is replaced.
    for path in ["/", "/guichet", "/guichet/recherche", "/cle"] {
        assert!(sent_to_my_account(&console.get(path).await), "{path}");
    }
    let page = console.get("/mon-compte").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Choisissez votre mot de passe"),
        "{}",
        page.body
    );

    // Another browser half logged in (password done) with the initial password.
    let mut other = Browser::new(&base);
    let (_, csrf) = form(&mut other, "/connexion").await;
    let step = other
        .post(
            "/connexion",
            &[
                ("csrf", &csrf),
                ("username", "c.martin"),
                ("password", &initial),
            ],
        )
        .await;
    assert!(step.location.as_deref().unwrap().ends_with("/totp"));
    assert_eq!(other.get("/totp").await.status, 200);

    // Refusals keep the flag and say why.
    for (current, new, confirm, why) in [
        (
            initial.as_str(),
            NEW,
            "Girafe-Bleue-Sous-Le-Pon",
            "différents",
        ),
        (initial.as_str(), "court", "court", "12 caractères"),
        (
            initial.as_str(),
            "c.martin-azerty-2026",
            "c.martin-azerty-2026",
            "trop simple",
        ),
        ("pas-le-bon", NEW, NEW, "actuel incorrect"),
        (
            initial.as_str(),
            initial.as_str(),
            initial.as_str(),
            "différent de l",
        ),
    ] {
        let page = change(&mut console, current, new, confirm).await;
        assert_eq!(page.status, 400, "{why}: {}", page.body);
        assert!(page.body.contains(why), "{why}: {}", page.body);
        assert!(sent_to_my_account(&console.get("/guichet").await), "{why}");
    }
    assert!(audit_of(&app, "agents.password_changed").await.is_empty());

    let page = change(&mut console, &initial, NEW, NEW).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Mot de passe changé"), "{}", page.body);
    // This browser goes on (its session renewed), the other session ended.
    assert_eq!(console.get("/guichet").await.status, 200);
    assert!(
        other
            .get("/totp")
            .await
            .location
            .as_deref()
            .is_some_and(|l| l.ends_with("/connexion")),
        "the other session ended"
    );
    let entries = audit_of(&app, "agents.password_changed").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].subject, "c.martin");
    assert!(
        entries[0].details.contains(r#""first_login":true"#),
        "{}",
        entries[0].details
    );
    assert!(!entries[0].details.contains(NEW));

    // The initial password no longer opens a session; the new one does.
    let mut again = Browser::new(&base);
    let (_, csrf) = form(&mut again, "/connexion").await;
    let old = again
        .post(
            "/connexion",
            &[
                ("csrf", &csrf),
                ("username", "c.martin"),
                ("password", &initial),
            ],
        )
        .await;
    assert_eq!(old.status, 400);
    let new = again
        .post(
            "/connexion",
            &[("csrf", &csrf), ("username", "c.martin"), ("password", NEW)],
        )
        .await;
    assert!(new.location.as_deref().unwrap().ends_with("/totp"));

    // Later, from "Mon compte" (linked from the home page).
    assert!(console.get("/").await.body.contains("href=\"/mon-compte\""));
    let page = console.get("/mon-compte").await;
    assert!(page.body.contains("Mot de passe actuel"), "{}", page.body);
    let page = change(&mut console, NEW, LATER, LATER).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        again
            .get("/totp")
            .await
            .location
            .as_deref()
            .is_some_and(|l| l.ends_with("/connexion")),
        "the session opened with the previous password ended"
    );
    let entries = audit_of(&app, "agents.password_changed").await;
    assert_eq!(entries.len(), 2);
    assert!(entries[0].details.contains(r#""first_login":false"#));
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    format!("/guichet/recherche?{}", q.finish())
}

async fn clerks_find_a_lost_reference_within_limits(backend: Backend) {
    let env = idp_tests::TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    // Two people with the same declared identity: one with an open
    // face-to-face request, one who stopped at the choice of method.
    let waiting = Person::new(41);
    let (reference, _) = face_to_face_reference(&app, &waiting).await;
    let stopped = Person::new(42);
    enrol_until_choice(&app, &stopped, "passport").await;

    let password = add_agent(&env, "c.martin", "clerk").await;
    let mut clerk = Browser::new(&base);
    log_in(&mut clerk, "c.martin", &password, None).await;

    let lookup = clerk.get("/guichet").await;
    assert!(lookup.body.contains("href=\"/guichet/recherche\""));
    let page = clerk.get("/guichet/recherche").await;
    assert_eq!(page.status, 200);

    // By name (case and accents ignored) and birth date: the open request only.
    let page = clerk
        .get(&query(&[("nom", "DUPONT"), ("naissance", "1990-04-12")]))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.body.matches("href=\"/guichet?reference=").count(),
        1,
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("/guichet?reference={reference}"))
    );
    assert!(
        page.body
            .contains("Camille Anne Dupont, né(e) le 12/04/1990")
    );
    // Nothing else personal: no email, phone or document number.
    assert!(!page.body.contains(&waiting.email) && !page.body.contains("X4RTBPFW4"));
    let wrong_date = clerk
        .get(&query(&[("nom", "Dupont"), ("naissance", "1990-04-13")]))
        .await;
    assert!(
        wrong_date
            .body
            .contains("Aucune demande en cours ne correspond")
    );

    // By email: the account with the open request; not the other one.
    let page = clerk.get(&query(&[("courriel", &waiting.email)])).await;
    assert!(
        page.body
            .contains(&format!("/guichet?reference={reference}")),
        "{}",
        page.body
    );
    let page = clerk.get(&query(&[("courriel", &stopped.email)])).await;
    assert!(
        page.body.contains("Aucune demande en cours ne correspond"),
        "{}",
        page.body
    );

    // A name without a date, or nothing usable: refused, not a list.
    let page = clerk.get(&query(&[("nom", "Dupont")])).await;
    assert_eq!(page.status, 400);
    assert!(
        page.body
            .contains("Indiquez le nom de naissance et la date")
    );

    // Every search is audited, without what was typed.
    let entries = audit_of(&app, "counter.search").await;
    assert_eq!(entries.len(), 4, "the refused one is not a search");
    for e in &entries {
        assert_eq!(e.actor, "agent:c.martin");
        assert!(
            !e.details.contains("Dupont") && !e.details.contains("example.fr"),
            "{}",
            e.details
        );
    }
    assert!(
        entries
            .iter()
            .any(|e| e.details.contains(r#""by":"email""#) && e.details.contains(r#""found":1"#))
    );

    // More than 5 people with an open request: none shown, narrow it down.
    for n in 0..5 {
        let sql = [
            format!(
                "INSERT INTO accounts (id, state, email, created_at, updated_at) \
                 VALUES ('twin-{n}', 'identity_submitted', 'twin{n}@example.fr', 0, 0)"
            ),
            format!(
                "INSERT INTO identities (account_id, given_name, family_name, birthdate, gender, \
                 birthplace, birthcountry) VALUES ('twin-{n}', 'Camille', 'Dupont', '1990-04-12', \
                 'female', '69123', '99100')"
            ),
            format!(
                "INSERT INTO verification_requests (id, account_id, method, reference, status, \
                 created_at, expires_at) VALUES ('twin-request-{n}', 'twin-{n}', 'face_to_face', \
                 'TWIN000{n}', 'pending', 0, 4000000000)"
            ),
        ];
        app.core
            .db
            .write(move |conn| {
                use diesel::RunQueryDsl;
                for statement in &sql {
                    diesel::sql_query(statement.as_str()).execute(conn)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
    let page = clerk
        .get(&query(&[("nom", "Dupont"), ("naissance", "1990-04-12")]))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("Plus de 5 personnes correspondent"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("/guichet?reference="),
        "no list: {}",
        page.body
    );

    // Searches are counted per agent: past the hourly budget, refused.
    let budget = idp_server::agents::desk::SEARCHES.max as usize;
    let mut last = 0;
    for _ in entries.len() + 1..=budget {
        last = clerk
            .get(&query(&[("courriel", &stopped.email)]))
            .await
            .status;
    }
    assert_eq!(last, 400);
    let page = clerk.get(&query(&[("courriel", &stopped.email)])).await;
    assert!(page.body.contains("Trop de recherches"), "{}", page.body);
    assert_eq!(audit_of(&app, "counter.search").await.len(), budget);

    // A reviewer does not search face-to-face requests.
    let reviewer = add_agent(&env, "r.leroy", "reviewer").await;
    let mut other = Browser::new(&base);
    log_in(&mut other, "r.leroy", &reviewer, None).await;
    assert_eq!(other.get("/guichet/recherche?nom=Dupont").await.status, 403);
}

async fn counter_forms_come_back_as_entered_and_the_home_page_lists_today(backend: Backend) {
    let env = idp_tests::TestEnv::new(backend);
    let app = env.spawn().await;
    let base = spawn_console(&app).await;
    let first = Person::new(43);
    let (verified, _) = face_to_face_reference(&app, &first).await;
    let second = Person::new(44);
    let (refused, _) = face_to_face_reference(&app, &second).await;
    let password = add_agent(&env, "c.martin", "clerk").await;
    let mut clerk = Browser::new(&base);
    log_in(&mut clerk, "c.martin", &password, None).await;
    let home = clerk.get("/").await;
    assert!(
        home.body.contains("Aucune décision aujourd'hui."),
        "{}",
        home.body
    );

    let view = clerk.get(&format!("/guichet?reference={verified}")).await;
    let csrf = view.field("csrf").unwrap();
    // Two checks of three, a reason and a category typed: all come back.
    let page = clerk
        .post(
            "/guichet",
            &[
                ("csrf", &csrf),
                ("reference", &verified),
                ("decision", "verified"),
                ("place", "home"),
                ("check_document", "yes"),
                ("check_data", "yes"),
                ("category", "information"),
                ("reason", "à revoir"),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("Cochez les trois contrôles"));
    assert!(
        page.body.contains(&format!("Référence {verified}")),
        "the request again"
    );
    for shown in [
        r#"name="check_document" value="yes" checked>"#,
        r#"name="check_data" value="yes" checked>"#,
        r#"<option value="information" selected>"#,
        r#"value="à revoir">"#,
        r#"name="place" value="home" checked>"#,
    ] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    assert!(
        !page
            .body
            .contains(r#"name="check_photo" value="yes" checked>"#)
    );

    // A refusal without its reason: the category stays.
    let view = clerk.get(&format!("/guichet?reference={refused}")).await;
    let page = clerk
        .post(
            "/guichet",
            &[
                ("csrf", &csrf),
                ("reference", &refused),
                ("decision", "rejected"),
                ("category", "person"),
                ("reason", " "),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("Indiquez le motif du refus."));
    assert!(
        page.body.contains(r#"<option value="person" selected>"#),
        "{}",
        page.body
    );
    assert!(view.body.contains(&format!("Référence {refused}")));

    // Decided: the notice names the citizen and the reference.
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("reference", verified.as_str()),
        ("decision", "verified"),
        ("place", "office"),
        ("check_document", "yes"),
        ("check_photo", "yes"),
        ("check_data", "yes"),
    ];
    let page = clerk.post("/guichet", &fields).await;
    assert!(
        page.body.contains(&format!(
            "Identité vérifiée : Camille Anne Dupont, référence {verified}."
        )),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"role="status" class="success""#));
    fields = vec![
        ("csrf", csrf.as_str()),
        ("reference", refused.as_str()),
        ("decision", "rejected"),
        ("category", "document"),
        ("reason", "pièce illisible"),
    ];
    let page = clerk.post("/guichet", &fields).await;
    assert!(
        page.body.contains(&format!(
            "Demande refusée : Camille Anne Dupont, référence {refused}."
        )),
        "{}",
        page.body
    );

    // Today's decisions on the home page; not another clerk's.
    let home = clerk.get("/").await;
    assert!(
        home.body.contains(&format!("<td>{verified}</td>")),
        "{}",
        home.body
    );
    assert!(
        home.body.contains(&format!("<td>{refused}</td>")),
        "{}",
        home.body
    );
    assert!(
        home.body.contains("Vérifiée (au guichet)") && home.body.contains("Refusée (au guichet)")
    );
    assert!(
        home.body.contains("<td>Camille Anne Dupont</td>"),
        "{}",
        home.body
    );
    let colleague = add_agent(&env, "n.clerk", "clerk").await;
    let mut other = Browser::new(&base);
    log_in(&mut other, "n.clerk", &colleague, None).await;
    let theirs = other.get("/").await;
    assert!(!theirs.body.contains(&verified) && !theirs.body.contains(&refused));
}
