//! The account-creation pipeline through its pages, on both backends.

use idp_server::crypto::hmac_hex;
use idp_server::store::{accounts, audit, enrolment as rows};
use idp_tests::browser::Browser;
use idp_tests::enrolment::{
    Person, code_sent_to, enrol_until_choice, form, identity_fields, messages_to, submit,
};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

both_backends!(
    face_to_face_enrolment_end_to_end,
    online_verification_request,
    eligibility_email_and_code_abuse,
    password_mobile_and_identity_errors,
    forms_need_their_csrf_token_and_steps_follow_the_state,
    used_email_phone_and_document_lead_nowhere,
    parallel_wrong_codes_cannot_exceed_five_attempts,
    sends_are_capped_per_ip_and_the_outbox_page_is_dev_only,
);

async fn account_of(app: &TestApp, email: &str) -> accounts::AccountRow {
    let email = email.to_owned();
    app.core
        .db
        .read(move |conn| accounts::by_email(conn, &email))
        .await
        .unwrap()
        .expect("account")
}

async fn face_to_face_enrolment_end_to_end(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(1);
    let mut browser = enrol_until_choice(&app, &person, "identity_card").await;
    let account = account_of(&app, &person.email).await;
    assert_eq!(account.state.as_str(), "identity_submitted");
    assert_eq!(account.phone.as_deref(), Some(person.mobile.as_str()));

    let page = submit(
        &mut browser,
        "/inscription/verification",
        &[("method", "face_to_face")],
    )
    .await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/reference").as_str())
    );
    let page = browser.get("/inscription/reference").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg"), "QR code shown");
    let id = account.id.clone();
    let request = app
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await
        .unwrap()
        .unwrap();
    let reference = request.reference.clone().unwrap();
    assert_eq!(reference.len(), 8);
    assert!(page.body.contains(&reference));
    assert_eq!(request.status.as_str(), "pending");
    assert!(request.expires_at - request.created_at >= 30 * 86_400 - 5);
    // Sent by email too, with the QR code.
    let mails = messages_to(&app, &person.email).await;
    let mail = mails
        .iter()
        .find(|m| m.subject.as_deref().is_some_and(|s| s.contains(&reference)))
        .expect("reference email");
    assert!(mail.html.as_deref().unwrap().contains("<svg"));
    assert_eq!(
        account_of(&app, &person.email).await.state.as_str(),
        "awaiting_verification_face_to_face"
    );

    // Identity and document stored as declared; the number hashed and sealed.
    let id = account.id.clone();
    let (identity, document) = app
        .core
        .db
        .read(move |conn| Ok((accounts::identity(conn, &id)?, rows::document(conn, &id)?)))
        .await
        .unwrap();
    let identity = identity.unwrap();
    assert_eq!(
        (identity.family_name.as_str(), identity.given_name.as_str()),
        ("Dupont", "Camille Anne")
    );
    assert_eq!(
        (identity.birthplace.as_str(), identity.birthcountry.as_str()),
        ("69123", "99100")
    );
    assert!(identity.verified_at.is_none(), "declared, not verified");
    let document = document.unwrap();
    assert_eq!(
        document.number_hash,
        hmac_hex(&app.core.subkeys.document_hash_key, b"X4RTBPFW4")
    );
    let opened = app
        .core
        .subkeys
        .kek
        .open(
            &document.number_sealed,
            format!("document:{}", account.id).as_bytes(),
        )
        .unwrap();
    assert_eq!(opened, b"X4RTBPFW4");

    // In English when the browser asks for it.
    browser.language = "en-GB,en;q=0.9".to_owned();
    assert!(
        browser
            .get("/compte")
            .await
            .body
            .contains("Awaiting verification at a post office")
    );
    assert!(
        browser
            .get("/inscription/reference")
            .await
            .body
            .contains("What to bring")
    );
    browser.language = "fr-FR".to_owned();

    // The account page shows the state and the reference; resend, then cancel.
    let (page, _) = form(&mut browser, "/compte").await;
    assert!(
        page.body
            .contains("En attente de vérification en bureau de poste"),
        "{}",
        page.body
    );
    assert!(page.body.contains(&reference));
    let before = messages_to(&app, &person.email).await.len();
    let page = submit(&mut browser, "/compte/renvoyer-reference", &[]).await;
    assert!(page.body.contains("renvoyée"), "{}", page.body);
    assert_eq!(messages_to(&app, &person.email).await.len(), before + 1);
    let page = submit(&mut browser, "/compte/renvoyer-reference", &[]).await;
    assert!(
        page.body.contains("Réessayez dans une minute"),
        "one resend a minute"
    );
    let page = submit(&mut browser, "/compte/annuler", &[]).await;
    assert!(page.body.contains("annulée"), "{}", page.body);
    assert_eq!(
        account_of(&app, &person.email).await.state.as_str(),
        "identity_submitted"
    );
    let id = account.id.clone();
    assert!(
        app.core
            .db
            .read(move |conn| rows::open_request(conn, &id))
            .await
            .unwrap()
            .is_none()
    );

    // Every transition left one audit entry, and the chain holds.
    let status = app.core.db.read(audit::verify).await.unwrap();
    assert!(
        matches!(status, audit::ChainStatus::Intact { .. }),
        "{status:?}"
    );
    let actions: Vec<String> = app
        .core
        .db
        .read(|conn| audit::recent(conn, 50))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    for action in [
        "enrolment.account_created",
        "enrolment.phone_verified",
        "enrolment.identity_submitted",
        "enrolment.face_to_face_requested",
        "enrolment.request_cancelled",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} audited: {actions:?}"
        );
    }
}

fn jpeg(size: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(size, 0x42);
    bytes
}

async fn online_verification_request(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(2);
    let mut browser = enrol_until_choice(&app, &person, "passport").await;
    let page = submit(
        &mut browser,
        "/inscription/verification",
        &[("method", "remote")],
    )
    .await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/en-ligne").as_str())
    );
    let (_, csrf) = form(&mut browser, "/inscription/en-ligne").await;

    // A text file named .jpg, an oversized photo: refused, nothing stored.
    let page = browser
        .post_multipart(
            "/inscription/en-ligne/photos",
            &[("csrf", &csrf)],
            vec![("front", "recto.jpg", b"not an image at all".to_vec())],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("JPEG"), "{}", page.body);
    let page = browser
        .post_multipart(
            "/inscription/en-ligne/photos",
            &[("csrf", &csrf)],
            vec![("front", "recto.jpg", jpeg(6 * 1024 * 1024))],
        )
        .await;
    assert_eq!(page.status, 413);
    // Without the CSRF token: refused.
    let page = browser
        .post_multipart(
            "/inscription/en-ligne/photos",
            &[],
            vec![("front", "recto.jpg", jpeg(2000))],
        )
        .await;
    assert_eq!(page.status, 400);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.resize(3000, 1);
    let page = browser
        .post_multipart(
            "/inscription/en-ligne/photos",
            &[("csrf", &csrf)],
            vec![
                ("front", "recto.jpg", jpeg(2000)),
                ("back", "verso.png", png),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = browser.get("/inscription/en-ligne").await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/en-ligne/video").as_str())
    );
    let (video_page, csrf) = form(&mut browser, "/inscription/en-ligne/video").await;
    let account = account_of(&app, &person.email).await;
    let id = account.id.clone();
    let request = app
        .core
        .db
        .read(move |conn| rows::open_request(conn, &id))
        .await
        .unwrap()
        .unwrap();
    let challenge = request.challenge.clone().unwrap();
    assert_eq!(challenge.len(), 3);
    assert!(
        video_page.body.contains(&challenge),
        "the 3 digits are shown"
    );
    assert_eq!(request.status.as_str(), "collecting");

    let page = browser
        .post_multipart(
            "/inscription/en-ligne/video",
            &[("csrf", &csrf)],
            vec![("video", "v.webm", jpeg(4000))],
        )
        .await;
    assert_eq!(page.status, 400, "a JPEG is not a WebM video");
    let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3];
    webm.resize(50_000, 7);
    let page = browser
        .post_multipart(
            "/inscription/en-ligne/video",
            &[("csrf", &csrf)],
            vec![("video", "v.webm", webm)],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/en-ligne/envoyee").as_str()),
        "{}",
        page.body
    );
    assert_eq!(
        account_of(&app, &person.email).await.state.as_str(),
        "awaiting_verification_remote"
    );
    let id = account.id.clone();
    let (request, kinds) = app
        .core
        .db
        .read(move |conn| {
            let r = rows::open_request(conn, &id)?.unwrap();
            let k = rows::media_kinds(conn, &r.id)?;
            Ok((r, k))
        })
        .await
        .unwrap();
    assert_eq!(request.status.as_str(), "pending");
    assert!(
        request.submitted_at.is_some(),
        "queued with its submission time"
    );
    let mut kinds = kinds;
    kinds.sort();
    assert_eq!(kinds, vec!["back", "front", "video"]);
    let page = browser.get("/compte").await;
    assert!(
        page.body.contains("En attente de vérification en ligne"),
        "{}",
        page.body
    );
}

async fn eligibility_email_and_code_abuse(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let mut browser = Browser::new(&app.base);
    let page = submit(
        &mut browser,
        "/inscription",
        &[("adult", "yes"), ("smartphone", "yes")],
    )
    .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("trois conditions"), "{}", page.body);
    assert!(page.body.contains("checked"), "answers kept");
    // Pages further on are out of reach until eligibility is confirmed.
    assert_eq!(
        browser
            .get("/inscription/courriel")
            .await
            .location
            .as_deref(),
        Some(app.url("/inscription").as_str())
    );
    submit(
        &mut browser,
        "/inscription",
        &[("adult", "yes"), ("smartphone", "yes"), ("document", "yes")],
    )
    .await;
    let page = submit(
        &mut browser,
        "/inscription/courriel",
        &[("email", "pas une adresse")],
    )
    .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("adresse électronique valide"));
    assert!(
        page.body.contains("value=\"pas une adresse\""),
        "input kept"
    );

    let email = "abuse@example.fr";
    submit(&mut browser, "/inscription/courriel", &[("email", email)]).await;
    // Resend within the minute: the code page again, with the wait as a
    // notice (200, not a 429 page), and nothing sent.
    let page = submit(&mut browser, "/inscription/courriel/renvoyer", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("Vous pourrez demander un nouveau code dans"),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"code\""), "{}", page.body);
    assert_eq!(messages_to(&app, email).await.len(), 1);
    // Five wrong codes void the code, even with the right one after.
    let right = code_sent_to(&app, email).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for remaining in (1..=4).rev() {
        let page = submit(
            &mut browser,
            "/inscription/courriel/code",
            &[("code", wrong)],
        )
        .await;
        assert_eq!(page.status, 400);
        assert!(
            page.body
                .contains(&format!("Il vous reste {remaining} essai")),
            "{}",
            page.body
        );
    }
    let page = submit(
        &mut browser,
        "/inscription/courriel/code",
        &[("code", wrong)],
    )
    .await;
    assert!(
        page.body.contains("Trop d&#39;essais") || page.body.contains("Trop d'essais"),
        "{}",
        page.body
    );
    let page = submit(
        &mut browser,
        "/inscription/courriel/code",
        &[("code", &right)],
    )
    .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("expiré"), "voided: {}", page.body);

    // Hourly cap: 5 sends per address per hour. The one-minute cooldown is
    // lifted between sends (as if a minute had passed) to reach the cap.
    for _ in 0..3 {
        lift_cooldown(&app, email).await;
        let page = submit(&mut browser, "/inscription/courriel/renvoyer", &[]).await;
        assert_eq!(
            page.location.as_deref(),
            Some(app.url("/inscription/courriel/code?renvoye=1").as_str()),
            "{}",
            page.body
        );
    }
    lift_cooldown(&app, email).await;
    let page = submit(&mut browser, "/inscription/courriel/renvoyer", &[]).await;
    assert_eq!(page.status, 303, "fifth send of the hour");
    assert!(
        browser
            .get("/inscription/courriel/code?renvoye=1")
            .await
            .body
            .contains("Un nouveau code vous a été envoyé")
    );
    lift_cooldown(&app, email).await;
    let page = submit(&mut browser, "/inscription/courriel/renvoyer", &[]).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.body.contains("Trop de codes"), "{}", page.body);
    assert_eq!(
        messages_to(&app, email).await.len(),
        5,
        "five codes sent, no more"
    );
}

/// Deletes the one-minute resend cooldown of an email address.
async fn lift_cooldown(app: &TestApp, email: &str) {
    use idp_server::ephemeral::EphemeralStore;
    let id = hmac_hex(
        &app.core.subkeys.token_hash_key,
        format!("email:{email}").as_bytes(),
    );
    app.core
        .ephemeral
        .delete(&format!("otp-cooldown:{id}"))
        .await
        .unwrap();
}

async fn password_mobile_and_identity_errors(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(3);
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
    let code = code_sent_to(&app, &person.email).await;
    submit(
        &mut browser,
        "/inscription/courriel/code",
        &[("code", &code)],
    )
    .await;
    for (password, confirmation, needle) in [
        ("court", "court", "au moins 12"),
        (
            "Velo-Rouge-Sur-La-Colline",
            "Velo-Rouge-Sur-La-Collin",
            "pas identiques",
        ),
        ("123456789012", "123456789012", "trop facile"),
        ("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "trop facile"),
    ] {
        let page = submit(
            &mut browser,
            "/inscription/mot-de-passe",
            &[("password", password), ("confirmation", confirmation)],
        )
        .await;
        assert_eq!(page.status, 400, "{password}");
        assert!(page.body.contains(needle), "{password}: {}", page.body);
        assert!(
            !page.body.contains(password) || password == "court",
            "passwords are not echoed"
        );
    }
    let page = submit(
        &mut browser,
        "/inscription/mot-de-passe",
        &[
            ("password", &person.password),
            ("confirmation", &person.password),
        ],
    )
    .await;
    assert_eq!(page.status, 303);
    for (mobile, needle) in [
        ("01 42 00 00 00", "pas un numéro de téléphone portable"),
        ("+49 151 23456789", "français"),
        ("12", "numéro valide"),
    ] {
        let page = submit(&mut browser, "/inscription/mobile", &[("mobile", mobile)]).await;
        assert_eq!(page.status, 400, "{mobile}");
        assert!(page.body.contains(needle), "{mobile}: {}", page.body);
    }
    submit(
        &mut browser,
        "/inscription/mobile",
        &[("mobile", &person.mobile)],
    )
    .await;
    // "Renvoyer un code": within the minute the code page says how long to
    // wait and sends nothing, then a new SMS.
    let page = submit(&mut browser, "/inscription/mobile/renvoyer", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("Vous pourrez demander un nouveau code dans"),
        "{}",
        page.body
    );
    assert_eq!(messages_to(&app, &person.mobile).await.len(), 1);
    let id = hmac_hex(
        &app.core.subkeys.token_hash_key,
        format!("phone:{}", person.mobile).as_bytes(),
    );
    idp_server::ephemeral::EphemeralStore::delete(
        &app.core.ephemeral,
        &format!("otp-cooldown:{id}"),
    )
    .await
    .unwrap();
    let page = submit(&mut browser, "/inscription/mobile/renvoyer", &[]).await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/mobile/code?renvoye=1").as_str()),
        "{}",
        page.body
    );
    assert_eq!(messages_to(&app, &person.mobile).await.len(), 2);
    let code = code_sent_to(&app, &person.mobile).await;
    submit(&mut browser, "/inscription/mobile/code", &[("code", &code)]).await;
    submit(
        &mut browser,
        "/inscription/piece",
        &[("document_kind", "residence_permit")],
    )
    .await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("birthdate", "2015-01-01"),
                ("document_number", "1234567890"),
            ],
            "18 ans",
        ),
        (
            vec![
                ("expires_on", "2024-01-01"),
                ("issued_on", "2019-01-01"),
                ("document_number", "1234567890"),
            ],
            "expirée",
        ),
        (
            vec![
                ("issued_on", "2025-01-01"),
                ("expires_on", "2028-01-01"),
                ("document_number", "1234567890"),
            ],
            "au moins 5 ans",
        ),
        (vec![("document_number", "12-34")], "format"),
        (
            vec![
                ("birth_commune", "00000"),
                ("document_number", "1234567890"),
            ],
            "ne trouvons pas cette commune",
        ),
        (
            vec![
                ("birth_country", "99109"),
                ("birth_commune", "75056"),
                ("document_number", "1234567890"),
            ],
            "étranger",
        ),
        (
            vec![("birth_commune", ""), ("document_number", "1234567890")],
            "code INSEE de votre commune",
        ),
    ];
    for (overrides, needle) in cases {
        let page = submit(
            &mut browser,
            "/inscription/identite",
            &identity_fields(&overrides),
        )
        .await;
        assert_eq!(page.status, 400, "{overrides:?}");
        assert!(page.body.contains(needle), "{overrides:?}: {}", page.body);
        assert!(
            page.body.contains("value=\"Camille Anne\""),
            "other input kept"
        );
        assert!(
            page.body.contains("aria-invalid=\"true\""),
            "the field is flagged"
        );
    }
    // Nothing half-written: still no identity, state unchanged.
    let account = account_of(&app, &person.email).await;
    assert_eq!(account.state.as_str(), "phone_verified");
    let id = account.id.clone();
    assert!(
        app.core
            .db
            .read(move |conn| accounts::identity(conn, &id))
            .await
            .unwrap()
            .is_none()
    );

    // The birthplace by name: several communes of that name are offered with
    // their département; the one picked is stored as its INSEE code.
    const PERMIT: (&str, &str) = ("document_number", "1234567890");
    // By postal code: the communes it serves, and the one whose INSEE code
    // it also is.
    let page = submit(
        &mut browser,
        "/inscription/identite",
        &identity_fields(&[("birth_commune", "69003"), PERMIT]),
    )
    .await;
    assert_eq!(page.status, 400, "{}", page.body);
    for code in ["69003", "69123", "69383"] {
        assert!(
            page.body.contains(&format!("value=\"{code}\"")),
            "{}",
            page.body
        );
    }
    assert!(
        page.body.contains("Lyon 3e Arrondissement (69)"),
        "{}",
        page.body
    );
    // The same search answers suggest.js as the name is typed: the form's
    // own way of writing a commune, so a suggestion picked reads back.
    let suggested = browser
        .get(&app.url("/inscription/communes?q=Villeurb"))
        .await;
    assert_eq!(suggested.status, 200, "{}", suggested.body);
    assert_eq!(suggested.body, r#"["Villeurbanne (69266)"]"#);
    let suggested = browser.get(&app.url("/inscription/communes?q=69003")).await;
    let labels: Vec<String> = serde_json::from_str(&suggested.body).unwrap();
    assert!(
        labels.contains(&"Lyon 3e Arrondissement (69383)".to_owned()),
        "{labels:?}"
    );
    let nothing = browser.get(&app.url("/inscription/communes?q=L")).await;
    assert_eq!(nothing.body, "[]", "too short to search");
    let page = submit(
        &mut browser,
        "/inscription/identite",
        &identity_fields(&[("birth_commune", "saint-denis"), PERMIT]),
    )
    .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body
            .contains("Plusieurs communes correspondent à ce nom ou à ce code")
    );
    assert!(
        page.body.contains("value=\"saint-denis\""),
        "typed name kept"
    );
    assert!(page.body.contains("value=\"93066\""), "{}", page.body);
    assert!(page.body.contains("Saint-Denis (974)"), "{}", page.body);
    let mut fields = identity_fields(&[("birth_commune", "saint-denis"), PERMIT]);
    fields.push(("birth_commune_choice", "97411"));
    let page = submit(&mut browser, "/inscription/identite", &fields).await;
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/recapitulatif").as_str()),
        "{}",
        page.body
    );
    let review = browser.get(&app.url("/inscription/recapitulatif")).await;
    assert!(
        review.body.contains("Saint-Denis (97411)"),
        "{}",
        review.body
    );
    // Shown back by name; sent back unchanged, it still means that commune.
    let form = browser.get(&app.url("/inscription/identite")).await;
    assert!(
        form.body.contains("value=\"Saint-Denis (97411)\""),
        "{}",
        form.body
    );
    let fields = identity_fields(&[("birth_commune", "Saint-Denis (97411)"), PERMIT]);
    let page = submit(&mut browser, "/inscription/identite", &fields).await;
    assert_eq!(page.status, 303, "{}", page.body);
    // One commune of that name: taken directly.
    let fields = identity_fields(&[("birth_commune", "Villeurbanne"), PERMIT]);
    let page = submit(&mut browser, "/inscription/identite", &fields).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let review = browser.get(&app.url("/inscription/recapitulatif")).await;
    assert!(
        review.body.contains("Villeurbanne (69266)"),
        "{}",
        review.body
    );

    // Empty required fields say so (not "wrong format"), and with several
    // errors the summary at the top links to each field.
    let fields = identity_fields(&[("family_name", " "), ("document_number", "")]);
    let page = submit(&mut browser, "/inscription/identite", &fields).await;
    assert_eq!(page.status, 400);
    assert_eq!(
        page.body.matches("Ce champ est obligatoire.").count(),
        4,
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<a href=\"#family_name\">"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<a href=\"#document_number\">"),
        "{}",
        page.body
    );
    let fields = identity_fields(&[("family_name", "Dupont3"), PERMIT]);
    let page = submit(&mut browser, "/inscription/identite", &fields).await;
    assert!(
        !page.body.contains("obligatoire"),
        "a wrong value is not a missing one"
    );
    assert!(!page.body.contains("<ul>"), "one error: no summary list");
}

async fn forms_need_their_csrf_token_and_steps_follow_the_state(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let person = Person::new(4);
    let mut browser = enrol_until_choice(&app, &person, "identity_card").await;
    // A forged post changes nothing.
    let page = browser
        .post(
            "/inscription/verification",
            &[("csrf", "forged"), ("method", "face_to_face")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert_eq!(
        account_of(&app, &person.email).await.state.as_str(),
        "identity_submitted"
    );
    // Back to earlier steps: sent forward to where the account is.
    for path in [
        "/inscription/mobile",
        "/inscription/piece",
        "/inscription/identite",
        "/inscription/mot-de-passe",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert!(
            page.location
                .as_deref()
                .unwrap()
                .ends_with("/inscription/verification")
                || page
                    .location
                    .as_deref()
                    .unwrap()
                    .ends_with("/inscription/mobile"),
            "{path} -> {:?}",
            page.location
        );
    }
    // Double submission of the choice: one request, one reference.
    let (_, csrf) = form(&mut browser, "/inscription/verification").await;
    let first = browser
        .post(
            "/inscription/verification",
            &[("csrf", &csrf), ("method", "face_to_face")],
        )
        .await;
    let second = browser
        .post(
            "/inscription/verification",
            &[("csrf", &csrf), ("method", "face_to_face")],
        )
        .await;
    assert_eq!(first.status, 303);
    assert_eq!(
        second.status, 303,
        "the second lands on the reference page too"
    );
    let account = account_of(&app, &person.email).await;
    let id = account.id.clone();
    let count = app
        .core
        .db
        .read(move |conn| {
            use diesel::prelude::*;
            use idp_server::store::schema::verification_requests as v;
            Ok(v::table
                .filter(v::account_id.eq(&id))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(count, 1);
    // Without a session, the account pages ask to log in.
    let mut stranger = Browser::new(&app.base);
    assert_eq!(
        stranger.get("/compte").await.location.as_deref(),
        Some(app.url("/compte/connexion").as_str())
    );
    assert_eq!(
        stranger
            .get("/inscription/identite")
            .await
            .location
            .as_deref(),
        Some(app.url("/compte/connexion").as_str())
    );
    // Logging in from the account page works.
    let page = submit(
        &mut stranger,
        "/compte/connexion",
        &[("email", &person.email), ("password", &person.password)],
    )
    .await;
    assert_eq!(page.location.as_deref(), Some(app.url("/compte").as_str()));
    assert!(stranger.get("/compte").await.body.contains(&person.email));
}

async fn used_email_phone_and_document_lead_nowhere(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let first = Person::new(5);
    let mut browser = enrol_until_choice(&app, &first, "identity_card").await;
    submit(
        &mut browser,
        "/inscription/verification",
        &[("method", "face_to_face")],
    )
    .await;
    // A clerk verifies the first identity.
    let id = account_of(&app, &first.email).await.id;
    app.core
        .db
        .write(move |conn| {
            use diesel::prelude::*;
            use idp_server::store::schema::identities as i;
            diesel::update(i::table.filter(i::account_id.eq(&id)))
                .set(i::verified_at.eq(Some(1)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();

    let mut other = Browser::new(&app.base);
    submit(
        &mut other,
        "/inscription",
        &[("adult", "yes"), ("smartphone", "yes"), ("document", "yes")],
    )
    .await;
    // An address that has an identity (the first person's just received a
    // code, so its one-minute cooldown applies, alike for every address).
    let known = format!("Deja.{}@Example.fr", &first.email[..12]);
    let stored = known.to_lowercase();
    app.core
        .db
        .write(move |conn| {
            accounts::insert(
                conn,
                &accounts::NewAccount {
                    id: &uuid::Uuid::new_v4().to_string(),
                    state: "active",
                    email: &stored,
                    password_hash: None,
                    phone: Some("+33612340077"),
                },
            )
        })
        .await
        .unwrap();
    let page = submit(&mut other, "/inscription/courriel", &[("email", &known)]).await;
    // The same answer as for a new address (no enumeration): on to the code
    // page; the owner is told by email, and no code can work.
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        page.location.as_deref(),
        Some(app.url("/inscription/courriel/code").as_str())
    );
    let notice = messages_to(&app, &known.to_lowercase()).await;
    assert!(
        notice.iter().any(|m| m.text.contains("déjà associée")),
        "{notice:?}"
    );
    let page = submit(
        &mut other,
        "/inscription/courriel/code",
        &[("code", "123456")],
    )
    .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(!page.body.contains("Dupont"), "does not say whose");

    let second = Person {
        mobile: first.mobile.clone(),
        ..Person::new(6)
    };
    submit(
        &mut other,
        "/inscription/courriel",
        &[("email", &second.email)],
    )
    .await;
    let code = code_sent_to(&app, &second.email).await;
    submit(&mut other, "/inscription/courriel/code", &[("code", &code)]).await;
    submit(
        &mut other,
        "/inscription/mot-de-passe",
        &[
            ("password", &second.password),
            ("confirmation", &second.password),
        ],
    )
    .await;
    let page = submit(
        &mut other,
        "/inscription/mobile",
        &[("mobile", "+33612340077")],
    )
    .await;
    // Same for a number bound to another identity: the code page, and an
    // SMS to its owner saying what happened.
    assert_eq!(page.status, 303, "{}", page.body);
    let sms = messages_to(&app, "+33612340077").await;
    assert!(
        sms.iter()
            .any(|m| m.text.contains("Il reste associé à la vôtre")),
        "{sms:?}"
    );
    let page = submit(
        &mut other,
        "/inscription/mobile/code",
        &[("code", "123456")],
    )
    .await;
    assert_eq!(page.status, 400, "{}", page.body);
    submit(
        &mut other,
        "/inscription/mobile",
        &[("mobile", "+33698765432")],
    )
    .await;
    let code = code_sent_to(&app, "+33698765432").await;
    submit(&mut other, "/inscription/mobile/code", &[("code", &code)]).await;
    submit(
        &mut other,
        "/inscription/piece",
        &[("document_kind", "identity_card")],
    )
    .await;
    let page = submit(&mut other, "/inscription/identite", &identity_fields(&[])).await;
    assert_eq!(page.status, 303);
    let page = submit(&mut other, "/inscription/recapitulatif", &[]).await;
    assert_eq!(page.status, 400, "document bound to a verified identity");
    assert!(
        page.body
            .contains("ne peut pas être utilisée pour une nouvelle identité"),
        "{}",
        page.body
    );
    assert_eq!(
        account_of(&app, &second.email).await.state.as_str(),
        "phone_verified"
    );
}

async fn parallel_wrong_codes_cannot_exceed_five_attempts(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let mut browser = Browser::new(&app.base);
    submit(
        &mut browser,
        "/inscription",
        &[("adult", "yes"), ("smartphone", "yes"), ("document", "yes")],
    )
    .await;
    let email = "parallel@example.fr";
    submit(&mut browser, "/inscription/courriel", &[("email", email)]).await;
    let right = code_sent_to(&app, email).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (_, csrf) = form(&mut browser, "/inscription/courriel/code").await;
    let cookie = browser.cookie("sesame_enrol").unwrap().to_owned();
    // Ten wrong codes at once, each from its own connection.
    let answers = futures_util::future::join_all((0..10).map(|_| {
        let (app, cookie, csrf) = (&app, cookie.clone(), csrf.clone());
        async move {
            app.http
                .post(app.url("/inscription/courriel/code"))
                .header("cookie", format!("sesame_enrol={cookie}"))
                .form(&[("csrf", csrf.as_str()), ("code", wrong)])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    }))
    .await;
    let evaluated = answers
        .iter()
        .filter(|a| a.contains("Code incorrect"))
        .count();
    assert!(
        evaluated <= 4,
        "at most 4 wrong attempts are answered as such: {evaluated}"
    );
    // The fifth attempt voided the code: the right one no longer works.
    let page = submit(
        &mut browser,
        "/inscription/courriel/code",
        &[("code", &right)],
    )
    .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("expiré"), "{}", page.body);
}

async fn sends_are_capped_per_ip_and_the_outbox_page_is_dev_only(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    // Five different addresses from one IP get codes; the sixth does not.
    for n in 0..6 {
        let mut browser = Browser::new(&app.base);
        submit(
            &mut browser,
            "/inscription",
            &[("adult", "yes"), ("smartphone", "yes"), ("document", "yes")],
        )
        .await;
        let email = format!("ip{n}@example.fr");
        let page = submit(&mut browser, "/inscription/courriel", &[("email", &email)]).await;
        if n < 5 {
            assert_eq!(page.status, 303, "{n}: {}", page.body);
        } else {
            assert_eq!(page.status, 429, "{}", page.body);
            assert!(page.body.contains("Trop de codes"));
            assert!(messages_to(&app, &email).await.is_empty());
        }
    }
    // The development outbox page lists the messages in dev mode…
    let page = Browser::new(&app.base).get("/dev/outbox").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("ip0@example.fr"));
    // …and does not exist otherwise.
    let mut config = env.config();
    config.dev.enabled = false;
    let production = env.spawn_with(config).await;
    assert_eq!(production.get("/dev/outbox").await.status(), 404);
}
