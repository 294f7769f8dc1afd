//! Face to face (#17): the reference also goes by SMS, the reference page
//! lists the verification places of `verification.places_file` with a
//! search by postal code, a home visit by the postman is recorded with the
//! request and the console and `idp-admin requests` filter it; and a code
//! asked again before the minute re-shows its page with the seconds left.

use clap::Parser;
use idp_admin::Cli;
use idp_server::config::Config;
use idp_server::domain::phone::FrenchMobile;
use idp_server::store::{accounts, enrolment as rows};
use idp_tests::browser::{Browser, Page};
use idp_tests::enrolment::{Person, enrol_until_choice, messages_to, submit};
use idp_tests::{Backend, TestApp, TestEnv, both_backends, config_path};

both_backends!(
    the_reference_goes_by_sms_and_the_page_lists_the_places,
    a_home_visit_is_recorded_and_filtered_by_the_console_and_the_cli,
    a_code_asked_again_too_soon_shows_the_seconds_left,
);

/// The server with the shipped example list of places.
async fn spawn_with_places(env: &TestEnv) -> TestApp {
    let mut config = env.config();
    let loaded = Config::load_from(
        Some(&config_path("test.toml")),
        [places_file(&config_path("places.toml"))],
    )
    .unwrap();
    config.verification = loaded.verification;
    assert!(!config.verification.places.is_empty());
    env.spawn_with(config).await
}

fn places_file(path: &std::path::Path) -> (String, String) {
    (
        "IDP__VERIFICATION__PLACES_FILE".to_owned(),
        path.display().to_string(),
    )
}

/// A bad places file stops the start with one line naming the entry.
#[test]
fn a_bad_places_file_is_refused_at_start_up_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("places.toml");
    let good = std::fs::read_to_string(config_path("places.toml")).unwrap();
    let bad = format!(
        "{good}\n[[place]]\nname = \"Bureau de poste Brest\"\naddress = \"1 rue\"\npostal_code = \"2920\"\ntown = \"Brest\"\nhours = \"9 h\"\n"
    );
    std::fs::write(&path, bad).unwrap();
    let error = Config::load_from(Some(&config_path("test.toml")), [places_file(&path)])
        .unwrap_err()
        .to_string();
    assert!(!error.contains('\n'), "{error}");
    assert!(error.contains("verification.places_file"), "{error}");
    assert!(
        error.contains("entry 9 (\"Bureau de poste Brest\"): postal_code must be 5 digits"),
        "{error}"
    );
    let missing = dir.path().join("none.toml");
    let error = Config::load_from(Some(&config_path("test.toml")), [places_file(&missing)])
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot read"), "{error}");
}

/// The open request of `person`'s account.
async fn open_request(app: &TestApp, person: &Person) -> rows::RequestRow {
    let email = person.email.clone();
    app.core
        .db
        .read(move |conn| {
            let account = accounts::by_email(conn, &email)?.expect("account");
            rows::open_request(conn, &account.id)
        })
        .await
        .unwrap()
        .expect("an open request")
}

/// Enrols `person` and chooses `method`; returns the browser on the
/// reference page's path.
async fn choose(app: &TestApp, person: &Person, method: &str) -> Browser {
    let mut browser = enrol_until_choice(app, person, "identity_card").await;
    let choice = browser.get("/inscription/verification").await;
    assert!(
        choice
            .body
            .contains("Je ne peux pas me déplacer : un facteur vient chez moi"),
        "{}",
        choice.body
    );
    let page = submit(
        &mut browser,
        "/inscription/verification",
        &[("method", method)],
    )
    .await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/reference").as_str()),
        "{}",
        page.body
    );
    browser
}

/// The names of the places on a reference page, in their order.
fn places_on(page: &Page) -> Vec<String> {
    page.body
        .split("<h3>")
        .skip(1)
        .filter_map(|s| s.split("</h3>").next())
        .map(str::to_owned)
        .collect()
}

async fn the_reference_goes_by_sms_and_the_page_lists_the_places(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = spawn_with_places(&env).await;
    let person = Person::new(61);
    let mut browser = choose(&app, &person, "face_to_face").await;
    let request = open_request(&app, &person).await;
    let reference = request.reference.clone().unwrap();
    assert!(!request.home_visit);

    // The reference by SMS to the verified mobile, as well as by email.
    let sms = messages_to(&app, &person.mobile).await;
    let sms = sms
        .iter()
        .find(|m| m.text.contains(&reference))
        .expect("the reference by SMS");
    assert!(sms.text.contains("bureau de poste"), "{}", sms.text);
    assert!(sms.text.contains("pièce d'identité"), "{}", sms.text);
    assert!(
        messages_to(&app, &person.email)
            .await
            .iter()
            .any(|m| m.text.contains(&reference))
    );

    // The page: what to bring, the SMS, the places of the file.
    let page = browser.get("/inscription/reference").await;
    assert_eq!(page.status, 200);
    let masked = FrenchMobile::parse(&person.mobile).unwrap().masked();
    assert!(
        page.body
            .contains(&format!("aussi été envoyée par SMS au {masked}")),
        "{}",
        page.body
    );
    assert!(page.body.contains("Carte nationale d"), "{}", page.body);
    assert!(page.body.contains("ou son QR code"), "{}", page.body);
    assert!(page.body.contains("<svg"), "the QR code is on the page");
    let file = idp_server::domain::places::parse(
        &std::fs::read_to_string(config_path("places.toml")).unwrap(),
    )
    .unwrap();
    let first: Vec<String> = file.iter().take(10).map(|p| p.name.clone()).collect();
    assert_eq!(
        places_on(&page),
        first,
        "without a search, the file's order"
    );
    assert!(page.body.contains(&file[0].hours), "{}", page.body);

    // The search by postal code: the prefix first, then the département.
    let lyon = browser.get("/inscription/reference?cp=69003").await;
    assert_eq!(lyon.status, 200);
    assert_eq!(
        places_on(&lyon),
        [
            "Bureau de poste Lyon Part-Dieu",
            "Bureau de poste Lyon Bellecour",
            "Bureau de poste Villeurbanne Gratte-Ciel",
        ]
    );
    assert!(lyon.body.contains("value=\"69003\""), "the code is kept");
    assert!(lyon.body.contains("Bureaux pour le code postal 69003"));
    let overseas = browser.get("/inscription/reference?cp=97233").await;
    assert_eq!(
        places_on(&overseas),
        ["Bureau de poste Fort-de-France Principal"]
    );
    let none = browser.get("/inscription/reference?cp=29200").await;
    assert_eq!(none.status, 200);
    assert!(places_on(&none).is_empty());
    assert!(none.body.contains("Aucun bureau trouvé"), "{}", none.body);
    let bad = browser.get("/inscription/reference?cp=Lyon").await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("aria-invalid=\"true\""), "{}", bad.body);
    assert!(places_on(&bad).is_empty());

    // Without a places file, the page says any post office will do.
    let bare = env.spawn().await;
    let person = Person::new(62);
    let mut browser = choose(&bare, &person, "face_to_face").await;
    let page = browser.get("/inscription/reference").await;
    assert!(places_on(&page).is_empty());
    assert!(
        page.body.contains("un bureau de poste de votre choix"),
        "{}",
        page.body
    );
}

async fn cli(env: &TestEnv, args: &[&str]) -> String {
    let cli =
        Cli::try_parse_from(std::iter::once("idp-admin").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    idp_admin::run_with(cli, env.config(), None, &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// References listed by `idp-admin --json requests [extra]`.
async fn cli_references(env: &TestEnv, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--json", "requests"];
    args.extend_from_slice(extra);
    let listed: serde_json::Value = serde_json::from_str(&cli(env, &args).await).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reference"].as_str().unwrap().to_owned())
        .collect()
}

/// A clerk logged in to a console of `app`.
async fn clerk_console(env: &TestEnv, app: &TestApp) -> Browser {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = idp_admin::console::server(app.core.clone(), listener)
        .await
        .unwrap();
    tokio::spawn(server);
    let created = cli(
        env,
        &[
            "--json",
            "agents",
            "add",
            "p.facteur",
            "--name",
            "Paul Facteur",
            "--role",
            "clerk",
            "--office",
            "LYON01",
        ],
    )
    .await;
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let password = created["initial_password"].as_str().unwrap();
    let mut console = Browser::new(&base);
    idp_tests::console::log_in_new_agent(&mut console, "p.facteur", password).await;
    console
}

async fn a_home_visit_is_recorded_and_filtered_by_the_console_and_the_cli(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = spawn_with_places(&env).await;
    let (home, office) = (Person::new(63), Person::new(64));
    let mut browser = choose(&app, &home, "home_visit").await;
    choose(&app, &office, "face_to_face").await;
    let visit = open_request(&app, &home).await;
    assert!(visit.home_visit, "recorded with the request");
    assert_eq!(visit.method.as_str(), "face_to_face");
    let counter = open_request(&app, &office).await;
    assert!(!counter.home_visit);
    let (visit_ref, counter_ref) = (visit.reference.unwrap(), counter.reference.unwrap());

    // The page says the postman calls, and lists no office.
    let page = browser.get("/inscription/reference").await;
    let masked = FrenchMobile::parse(&home.mobile).unwrap().masked();
    assert!(
        page.body
            .contains(&format!("Un facteur vous appellera au {masked}")),
        "{}",
        page.body
    );
    assert!(places_on(&page).is_empty(), "{}", page.body);
    assert!(!page.body.contains("name=\"cp\""));
    let account = browser.get("/compte").await;
    assert!(
        account.body.contains("En attente de la visite du facteur"),
        "{}",
        account.body
    );
    let sms = messages_to(&app, &home.mobile).await;
    assert!(
        sms.iter()
            .any(|m| m.text.contains(&visit_ref) && m.text.contains("facteur")),
        "{sms:?}"
    );

    // The CLI: every pending face-to-face request, or only the home visits.
    // (Both were made within the same second: their order is not asserted.)
    let mut listed = cli_references(&env, &[]).await;
    listed.sort();
    let mut both = [visit_ref.clone(), counter_ref.clone()];
    both.sort();
    assert_eq!(listed, both);
    assert_eq!(
        cli_references(&env, &["--home-visit"]).await,
        [visit_ref.as_str()]
    );
    let text = cli(&env, &["requests", "--home-visit"]).await;
    assert!(text.contains(&format!("home {}", home.mobile)), "{text}");
    assert!(text.contains("1 request(s)"), "{text}");

    // The console: the same list and filter for clerks.
    let mut console = clerk_console(&env, &app).await;
    let all = console.get("/guichet/demandes").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert!(all.body.contains(&visit_ref) && all.body.contains(&counter_ref));
    let visits = console.get("/guichet/demandes?domicile=1").await;
    assert!(visits.body.contains(&visit_ref), "{}", visits.body);
    assert!(!visits.body.contains(&counter_ref), "{}", visits.body);
    assert!(visits.body.contains(&home.mobile), "the number to call");
    assert!(
        !all.body.contains(&office.mobile),
        "no number for a counter visit"
    );
    // A decided request leaves the list.
    cli(
        &env,
        &[
            "verify",
            "--reference",
            &visit_ref,
            "--office",
            "LYON01",
            "--agent",
            "p.facteur",
            "--decision",
            "verified",
            "--at-home",
        ],
    )
    .await;
    assert!(cli_references(&env, &["--home-visit"]).await.is_empty());
    let account = browser.get("/compte").await;
    assert!(
        !account.body.contains("visite du facteur"),
        "{}",
        account.body
    );
}

/// The seconds of "… dans N secondes." on a page.
fn seconds_left(page: &Page) -> u64 {
    let marker = "Vous pourrez demander un nouveau code dans ";
    let start = page.body.find(marker).expect("the wait notice") + marker.len();
    page.body[start..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn a_code_asked_again_too_soon_shows_the_seconds_left(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(65);
    let mut browser = Browser::new(&app.base);
    submit(
        &mut browser,
        "/inscription",
        &[("adult", "yes"), ("smartphone", "yes"), ("document", "yes")],
    )
    .await;
    submit(
        &mut browser,
        "/inscription/courriel",
        &[("email", &person.email)],
    )
    .await;
    let sent = messages_to(&app, &person.email).await.len();
    let page = submit(&mut browser, "/inscription/courriel/renvoyer", &[]).await;
    // The code page again, a calm notice, not an error.
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.headers.contains_key("retry-after"));
    assert!(page.body.contains("role=\"status\""), "{}", page.body);
    assert!(!page.body.contains("role=\"alert\""), "{}", page.body);
    assert!(page.body.contains("name=\"code\""), "the code form");
    let seconds = seconds_left(&page);
    assert!((1..=60).contains(&seconds), "{seconds}");
    // Nothing sent, nothing counted: the cooldown key still decides.
    assert_eq!(messages_to(&app, &person.email).await.len(), sent);
    let again = submit(&mut browser, "/inscription/courriel/renvoyer", &[]).await;
    assert!(seconds_left(&again) <= seconds);
}
