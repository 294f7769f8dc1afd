//! The citizen pages of #17 (helper B): the online video in MP4/MOV and its
//! confirmation, the consent page that lists what the tokens carry, the
//! home page, the help page and footer, the app's QR code.

use base64::Engine;
use idp_server::store::{accounts, enrolment as rows};
use idp_server::web::i18n::FR;
use idp_tests::browser::Browser;
use idp_tests::enrolment::{Person, enrol_until_choice, form, messages_to, submit};
use idp_tests::oidc::{
    Citizen, REDIRECT_URI, client_metadata, create_citizen, exchange, manual_authorize,
    register_client,
};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

both_backends!(
    an_iphone_video_is_accepted_and_confirmed,
    the_consent_page_lists_what_the_tokens_carry,
    home_help_and_app_qr,
);

/// An ISO BMFF file: an `ftyp` box with `major` and `compatible` brands,
/// then `size` bytes in all.
fn iso_bmff(major: &[u8; 4], compatible: &[&[u8; 4]], size: usize) -> Vec<u8> {
    let box_size = 16 + 4 * compatible.len() as u32;
    let mut out = box_size.to_be_bytes().to_vec();
    out.extend_from_slice(b"ftyp");
    out.extend_from_slice(major);
    out.extend_from_slice(&[0, 0, 0, 0]);
    for brand in compatible {
        out.extend_from_slice(*brand);
    }
    out.resize(size, 3);
    out
}

fn jpeg(size: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(size, 0);
    bytes
}

/// Enrols `person` up to the video page of an online request; returns the
/// browser and the video page's CSRF token.
async fn at_the_video(app: &TestApp, person: &Person) -> (Browser, String) {
    let mut browser = enrol_until_choice(app, person, "passport").await;
    let page = submit(
        &mut browser,
        "/inscription/verification",
        &[("method", "remote")],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let (_, csrf) = form(&mut browser, "/inscription/en-ligne").await;
    let page = browser
        .post_multipart(
            "/inscription/en-ligne/photos",
            &[("csrf", &csrf)],
            vec![
                ("front", "recto.jpg", jpeg(2000)),
                ("back", "verso.jpg", jpeg(2000)),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let (page, csrf) = form(&mut browser, "/inscription/en-ligne/video").await;
    assert!(
        page.body.contains("data-max-seconds=\"30\""),
        "the recorder's maximum length"
    );
    assert!(page.body.contains("video/mp4"), "the fallback accepts MP4");
    (browser, csrf)
}

async fn an_iphone_video_is_accepted_and_confirmed(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(7);
    let (mut browser, csrf) = at_the_video(&app, &person).await;

    // An HEIC photo is ISO BMFF too, but not a video; a name ending in .mov
    // changes nothing.
    let heic = iso_bmff(b"heic", &[b"mif1", b"heic"], 40_000);
    let page = browser
        .post_multipart(
            "/inscription/en-ligne/video",
            &[("csrf", &csrf)],
            vec![("video", "IMG_0001.mov", heic)],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("MP4"), "{}", page.body);

    // What an iPhone records: QuickTime.
    let mov = iso_bmff(b"qt  ", &[b"qt  "], 60_000);
    let page = browser
        .post_multipart(
            "/inscription/en-ligne/video",
            &[("csrf", &csrf)],
            vec![("video", "IMG_0002.MOV", mov.clone())],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/en-ligne/envoyee").as_str()),
        "{}",
        page.body
    );
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
    let (content_type, bytes) = idp_server::agents::review::medium(&app.core, &request.id, "video")
        .await
        .unwrap()
        .expect("the video is stored");
    assert_eq!(content_type, "video/quicktime", "typed by its bytes");
    assert_eq!(bytes, mov);

    // The confirmation page, and the email saying the same.
    let page = browser.get("/inscription/en-ligne/envoyee").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("Votre demande de vérification est envoyée"),
        "{}",
        page.body
    );
    assert!(page.body.contains("généralement sous 24 heures"));
    let mails = messages_to(&app, &person.email).await;
    let mail = mails
        .iter()
        .find(|m| {
            m.subject.as_deref() == Some("Votre demande de vérification en ligne est envoyée")
        })
        .expect("the confirmation email");
    assert!(
        mail.text.contains("généralement sous 24 heures"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains(&app.url("/compte")), "{}", mail.text);
    // Sent once: the page again sends nothing more.
    let _ = browser.get("/inscription/en-ligne/envoyee").await;
    let again = messages_to(&app, &person.email).await;
    assert_eq!(again.len(), mails.len());
    // The page belongs to that state: a new enrolment is sent to its step.
    let mut other = Browser::new(&app.base);
    let page = other.get("/inscription/en-ligne/envoyee").await;
    assert_ne!(page.status, 200);
}

/// `&#x27;` and friends back to text.
fn unescape(html: &str) -> String {
    html.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The `<li>` items of the consent page (the only list on it).
fn listed(body: &str) -> Vec<String> {
    body.split("<li>")
        .skip(1)
        .map(|part| unescape(part.split("</li>").next().unwrap_or("")))
        .collect()
}

/// The consent page's labels of the claims in `object` (a JSON object),
/// in the page's order.
fn labels_of(object: &serde_json::Value) -> Vec<String> {
    let map = object.as_object().expect("an object");
    FR.claim_labels
        .iter()
        .filter(|(claim, _)| map.contains_key(*claim))
        .map(|(_, label)| (*label).to_owned())
        .collect()
}

/// What one login with consent showed and released: (the page's list, its
/// withheld note, the userinfo's claims, the ID token's claims).
async fn consent_round(
    app: &TestApp,
    citizen: &Citizen,
    secret: &str,
) -> (Vec<String>, bool, serde_json::Value, serde_json::Value) {
    let claims =
        r#"{"id_token":{"given_name":null,"family_name":null,"birthdate":null,"email":null}}"#;
    let request = manual_authorize(
        &app.base,
        "rp",
        "openid profile email birth phone",
        // Asked again even where consent was given before.
        &[("claims", claims), ("prompt", "consent")],
    );
    let mut browser = Browser::new(&app.base);
    let page = browser.get(&request.url).await;
    let login = page.location.expect("to the login page");
    let form = browser.get(&login).await;
    let (tx, csrf) = (form.field("tx").unwrap(), form.field("csrf").unwrap());
    let page = browser
        .post(
            "/login",
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("email", &citizen.email),
                ("password", &citizen.password),
            ],
        )
        .await;
    let consent = page.location.expect("to the consent page");
    assert!(consent.contains("/consent?"), "{consent}");
    let page = browser.get(&consent).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let shown = listed(&page.body);
    let withheld = page.body.contains(&unescape(FR.guidance.consent_withheld))
        || page.body.contains("class=\"notice\"");
    let page = browser
        .post(
            "/consent",
            &[("tx", &tx), ("csrf", &csrf), ("decision", "approve")],
        )
        .await;
    let location = url::Url::parse(&page.location.expect("back to the client")).unwrap();
    assert!(location.as_str().starts_with(REDIRECT_URI));
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let (status, tokens) = exchange(app, &code, &request.verifier, ("rp", secret)).await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let id_claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
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
    (shown, withheld, userinfo, id_claims)
}

async fn the_consent_page_lists_what_the_tokens_carry(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = register_client(&app, "rp", &client_metadata()).expect("a secret");

    // Declared, not verified: only the email and the number are shared,
    // and the page says why the rest is not.
    let declared = create_citizen(&app, false);
    let (shown, withheld, userinfo, id_claims) = consent_round(&app, &declared, &secret).await;
    assert_eq!(shown, vec!["Adresse électronique", "Numéro de téléphone"]);
    assert!(withheld, "the page says the identity is not shared");
    assert_eq!(shown, labels_of(&userinfo), "page and userinfo: {userinfo}");
    let in_token = labels_of(&id_claims);
    assert!(
        in_token.iter().all(|l| shown.contains(l)),
        "the ID token carries nothing the page did not list: {id_claims}"
    );
    assert!(id_claims.get("email").is_some() && id_claims.get("given_name").is_none());

    // Verified: the identity is listed, as the tokens carry it.
    let verified = create_citizen(&app, true);
    let (shown, withheld, userinfo, id_claims) = consent_round(&app, &verified, &secret).await;
    assert!(!withheld, "nothing withheld for a verified identity");
    assert!(shown.contains(&"Prénoms".to_owned()), "{shown:?}");
    assert!(shown.contains(&"Lieu de naissance".to_owned()), "{shown:?}");
    assert!(
        !shown.contains(&"Nom d'usage".to_owned()),
        "no usage name, not listed"
    );
    assert_eq!(shown, labels_of(&userinfo), "page and userinfo: {userinfo}");
    assert_eq!(id_claims["given_name"], "Jeanne Marie");
    assert!(
        labels_of(&id_claims).iter().all(|l| shown.contains(l)),
        "{id_claims}"
    );

    // Verified, but the document has expired: identity claims withheld
    // again, on the page as in the tokens.
    let id = verified.account_id.clone();
    app.core
        .db
        .write(move |conn| {
            rows::put_document(
                conn,
                &rows::NewDocument {
                    account_id: &id,
                    kind: "passport",
                    number_hash: &format!("h-{id}"),
                    number_sealed: &[0u8; 16],
                    issued_on: "2010-01-01",
                    expires_on: "2020-01-01",
                },
            )
        })
        .await
        .unwrap();
    let (shown, withheld, userinfo, _) = consent_round(&app, &verified, &secret).await;
    assert!(withheld);
    assert_eq!(shown, vec!["Adresse électronique", "Numéro de téléphone"]);
    assert_eq!(shown, labels_of(&userinfo));
}

async fn home_help_and_app_qr(backend: Backend) {
    let env = TestEnv::new(backend);
    let mut config = env.config();
    config.help.url = "https://aide.example.fr/sesame".into();
    config.help.contact = "3631 (du lundi au samedi, 8 h – 20 h)".into();
    let app = env.spawn_with(config).await;
    let mut browser = Browser::new(&app.base);

    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    for text in FR.guidance.home_steps.iter().chain(&FR.guidance.home_needs) {
        assert!(
            home.body.contains(&unescape(text)) || unescape(&home.body).contains(text),
            "{text}"
        );
    }
    assert!(home.body.contains("href=\"/app\""));
    assert!(home.body.contains("href=\"/inscription\""));

    // The footer on pages of every kind, an error page included.
    for path in ["/", "/inscription", "/compte/connexion", "/authorize"] {
        let page = browser.get(path).await;
        assert!(
            page.body.contains("<a href=\"/aide\">"),
            "{path}: {} {}",
            page.status,
            page.body
        );
    }
    let help = browser.get("/aide").await;
    assert_eq!(help.status, 200);
    assert!(
        help.body
            .contains("href=\"https://aide.example.fr/sesame\""),
        "{}",
        help.body
    );
    assert!(unescape(&help.body).contains("3631 (du lundi au samedi, 8 h – 20 h)"));

    // Without a help URL or contact, neither line appears.
    let bare = TestEnv::new(backend);
    let bare_app = bare.spawn().await;
    let help = Browser::new(&bare_app.base).get("/aide").await;
    assert_eq!(help.status, 200);
    assert!(!help.body.contains(FR.guidance.help_site), "{}", help.body);
    assert!(!help.body.contains(&unescape(FR.guidance.help_contact)));

    let (status, headers, body) = browser.get_bytes("/compte/application.svg").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/svg+xml");
    let svg = String::from_utf8(body).unwrap();
    assert!(svg.contains("<svg"), "{svg}");
}
