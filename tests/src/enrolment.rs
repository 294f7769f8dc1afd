//! Walking the enrolment pages as a person, reading codes from the outbox.

use crate::TestApp;
use crate::browser::{Browser, Page};

/// The 6-digit code of the newest outbox message sent to `to`.
pub async fn code_sent_to(app: &TestApp, to: &str) -> String {
    let entries = app.core.notifier.recent_outbox(50).await.expect("outbox");
    let entry = entries
        .iter()
        .find(|e| e.to == to)
        .unwrap_or_else(|| panic!("no message to {to}"));
    let digits: Vec<char> = entry.text.chars().collect();
    digits
        .windows(6)
        .find(|w| w.iter().all(char::is_ascii_digit))
        .map(|w| w.iter().collect())
        .unwrap_or_else(|| panic!("no code in {}", entry.text))
}

/// Messages in the outbox sent to `to`.
pub async fn messages_to(app: &TestApp, to: &str) -> Vec<idp_server::notify::OutboxEntry> {
    app.core
        .notifier
        .recent_outbox(100)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|e| e.to == to)
        .collect()
}

/// GETs `path` and returns the page with its CSRF token.
pub async fn form(browser: &mut Browser, path: &str) -> (Page, String) {
    let page = browser.get(path).await;
    assert_eq!(
        page.status, 200,
        "GET {path}: {} {}",
        page.status, page.body
    );
    let csrf = page
        .field("csrf")
        .unwrap_or_else(|| panic!("no csrf on {path}"));
    (page, csrf)
}

/// The page that shows the form posting to `action` (for POST-only actions).
fn form_page(action: &str) -> &str {
    match action {
        "/inscription/courriel/renvoyer" => "/inscription/courriel/code",
        "/inscription/mobile/renvoyer" => "/inscription/mobile/code",
        a if a.starts_with("/compte/") && a != "/compte/connexion" => "/compte",
        a => a,
    }
}

/// POSTs `fields` (plus the CSRF token of the page showing the form) to `path`.
pub async fn submit(browser: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Page {
    let (_, csrf) = form(browser, form_page(path)).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post(path, &all).await
}

pub struct Person {
    pub email: String,
    pub mobile: String,
    pub password: String,
}

impl Person {
    pub fn new(n: u32) -> Self {
        Person {
            email: format!(
                "camille.{n}.{}@example.fr",
                &uuid::Uuid::new_v4().simple().to_string()[..6]
            ),
            mobile: format!("+3361234{n:04}"),
            password: "Velo-Rouge-Sur-La-Colline".to_owned(),
        }
    }
}

/// The identity form, valid unless overridden.
pub fn identity_fields<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("family_name", "Dupont"),
        ("usage_name", ""),
        ("given_names", "Camille Anne"),
        ("gender", "female"),
        ("birthdate", "1990-04-12"),
        ("birth_country", "99100"),
        ("birth_commune", "69123"),
        ("document_number", "X4RTBPFW4"),
        ("issued_on", "2022-03-01"),
        ("expires_on", "2032-02-28"),
    ];
    for (k, v) in overrides {
        if let Some(slot) = fields.iter_mut().find(|(name, _)| name == k) {
            slot.1 = v;
        }
    }
    fields
}

/// Past the eligibility page: the email, its code and the password; the
/// browser then stands at the mobile step (the account exists).
pub async fn email_and_password(app: &TestApp, browser: &mut Browser, person: &Person) {
    let page = submit(
        browser,
        "/inscription/courriel",
        &[("email", &person.email)],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let code = code_sent_to(app, &person.email).await;
    let page = submit(browser, "/inscription/courriel/code", &[("code", &code)]).await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/mot-de-passe").as_str()),
        "{}",
        page.body
    );
    let page = submit(
        browser,
        "/inscription/mot-de-passe",
        &[
            ("password", &person.password),
            ("confirmation", &person.password),
        ],
    )
    .await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/mobile").as_str()),
        "{}",
        page.body
    );
}

/// From the start to the verification choice; returns the account's browser.
pub async fn enrol_until_choice(app: &TestApp, person: &Person, document: &str) -> Browser {
    let mut browser = Browser::new(&app.base);
    let page = submit(
        &mut browser,
        "/inscription",
        &[("adult", "yes"), ("smartphone", "yes"), ("document", "yes")],
    )
    .await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/courriel").as_str())
    );
    email_and_password(app, &mut browser, person).await;
    let page = submit(
        &mut browser,
        "/inscription/mobile",
        &[("mobile", &person.mobile)],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let code = code_sent_to(app, &person.mobile).await;
    let page = submit(&mut browser, "/inscription/mobile/code", &[("code", &code)]).await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/piece").as_str()),
        "{}",
        page.body
    );
    let page = submit(
        &mut browser,
        "/inscription/piece",
        &[("document_kind", document)],
    )
    .await;
    assert_eq!(page.status, 303);
    let number = match document {
        "passport" => "18AA12345",
        "residence_permit" => "1234567890",
        _ => "X4RTBPFW4",
    };
    let page = submit(
        &mut browser,
        "/inscription/identite",
        &identity_fields(&[("document_number", number)]),
    )
    .await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/recapitulatif").as_str()),
        "{}",
        page.body
    );
    let page = submit(&mut browser, "/inscription/recapitulatif", &[]).await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/verification").as_str()),
        "{}",
        page.body
    );
    browser
}

/// Enrols a person up to a face-to-face reference; returns (reference, account id).
pub async fn face_to_face_reference(app: &TestApp, person: &Person) -> (String, String) {
    use idp_server::store::{accounts, enrolment as rows};
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
