//! `/compte` after enrolment (issue #16): the identity and the devices
//! (rename, revoke), the change of mobile number by an SMS code to the new
//! number and of email address by a code to the new address; a number or
//! address held by another account gets the same answer as a free one and
//! changes nothing. On both backends.

use diesel::prelude::*;
use idp_server::store::schema::accounts;
use idp_tests::browser::{Browser, Page};
use idp_tests::enrolment::{code_sent_to, form, messages_to};
use idp_tests::oidc::{self as kit, Citizen};
use idp_tests::{Backend, TestApp, both_backends};

use crate::citizen_block::{
    access_token, account_page, activated, audit_count, device_states, phone_number, spawn,
    userinfo_status,
};

both_backends!(
    the_account_page_shows_the_identity_and_renames_a_device,
    a_device_revoked_from_the_account_page_ends_sessions,
    the_mobile_number_is_changed_by_an_sms_code,
    a_number_in_use_gets_the_same_answer,
    change_codes_follow_the_code_rules,
    the_email_address_is_changed_by_a_code,
    an_address_in_use_gets_the_same_answer,
);

const MOBILE: &str = "/compte/mobile";
const MOBILE_CODE: &str = "/compte/mobile/code";
const ADDRESS: &str = "/compte/adresse";
const ADDRESS_CODE: &str = "/compte/adresse/code";

fn location(page: &Page) -> String {
    let location = page.location.clone().unwrap_or_default();
    match location.find("/compte") {
        Some(at) => location[at..].to_owned(),
        None => location,
    }
}

/// Posts `fields` to `action` with the CSRF token of the form at `page`.
async fn post_on(browser: &mut Browser, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
    let (_, csrf) = form(browser, page).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    browser.post(action, &all).await
}

fn phone_of(app: &TestApp, account_id: &str) -> Option<String> {
    let id = account_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(accounts::table
                .filter(accounts::id.eq(&id))
                .select(accounts::phone)
                .first::<Option<String>>(conn)?)
        })
        .unwrap()
}

fn email_of(app: &TestApp, account_id: &str) -> String {
    let id = account_id.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(accounts::table
                .filter(accounts::id.eq(&id))
                .select(accounts::email)
                .first::<String>(conn)?)
        })
        .unwrap()
}

/// Whether `email` + `password` opens the account page.
async fn password_works(app: &TestApp, email: &str, password: &str) -> bool {
    let mut browser = Browser::new(&app.base);
    let page = post_on(
        &mut browser,
        "/compte/connexion",
        "/compte/connexion",
        &[("email", email), ("password", password)],
    )
    .await;
    page.location.is_some_and(|l| l.ends_with("/compte"))
}

/// A page's body without its CSRF token and `value`.
fn shape(page: &Page, value: &str) -> String {
    let mut body = page.body.replace(value, "VALUE");
    if let Some(csrf) = page.field("csrf") {
        body = body.replace(&csrf, "CSRF");
    }
    body
}

fn masked(e164: &str) -> String {
    idp_server::domain::phone::FrenchMobile::parse(e164)
        .unwrap()
        .masked()
}

async fn the_account_page_shows_the_identity_and_renames_a_device(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, _, _, _device) = activated(&app, 41).await;
    let (mut browser, page) = account_page(&app, &citizen).await;
    for shown in [
        "Mon identité",
        "Identité vérifiée le",
        "Mes appareils",
        "Pixel",
    ] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    assert!(page.body.contains("Activé le") && page.body.contains(">actif<"));
    assert!(page.body.contains("href=\"/compte/mobile\""));
    assert!(page.body.contains("href=\"/compte/adresse\""));
    let device = page.field("device").expect("a device form");
    let csrf = page.field("csrf").unwrap();

    let renamed = browser
        .post(
            "/compte/appareils/renommer",
            &[
                ("csrf", &csrf),
                ("device", &device),
                ("name", "Téléphone de Léa"),
            ],
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert!(
        renamed.body.contains("L&#39;appareil a été renommé."),
        "{}",
        renamed.body
    );
    assert!(renamed.body.contains("Téléphone de Léa"));
    // An empty or too long name: a clear message, nothing changed.
    let long = "x".repeat(65);
    for bad in ["  ", long.as_str()] {
        let refused = browser
            .post(
                "/compte/appareils/renommer",
                &[("csrf", &csrf), ("device", &device), ("name", bad)],
            )
            .await;
        assert!(
            refused.body.contains("de 1 à 64 caractères"),
            "{}",
            refused.body
        );
    }
    // Another account's device, or a forged form, changes nothing.
    let stranger = kit::create_citizen(&app, true);
    let (mut other, other_page) = account_page(&app, &stranger).await;
    assert!(
        other_page.body.contains("Aucun appareil n&#39;est activé"),
        "{}",
        other_page.body
    );
    let other_csrf = other_page.field("csrf").unwrap();
    let foreign = other
        .post(
            "/compte/appareils/renommer",
            &[("csrf", &other_csrf), ("device", &device), ("name", "Volé")],
        )
        .await;
    assert!(
        foreign.body.contains("n&#39;existe pas"),
        "{}",
        foreign.body
    );
    let forged = browser
        .post(
            "/compte/appareils/renommer",
            &[("csrf", "forged"), ("device", &device), ("name", "Volé")],
        )
        .await;
    assert_ne!(forged.status, 200);
    let page = browser.get("/compte").await;
    assert!(page.body.contains("Téléphone de Léa") && !page.body.contains("Volé"));
    assert_eq!(audit_count(&app, &citizen.account_id, "device.renamed"), 1);
}

async fn a_device_revoked_from_the_account_page_ends_sessions(backend: Backend) {
    let (_env, app, secret) = spawn(backend).await;
    let (citizen, _, _, _device) = activated(&app, 42).await;
    let token = access_token(&app, &secret, &citizen).await;
    let (mut elsewhere, _) = account_page(&app, &citizen).await;
    let (mut browser, page) = account_page(&app, &citizen).await;
    let device = page.field("device").unwrap();
    let csrf = page.field("csrf").unwrap();
    let revoked = browser
        .post(
            "/compte/appareils/revoquer",
            &[("csrf", &csrf), ("device", &device)],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(revoked.body.contains("a été révoqué"), "{}", revoked.body);
    assert!(revoked.body.contains(">révoqué<"), "{}", revoked.body);
    assert_eq!(device_states(&app, &citizen.account_id), ["revoked"]);
    assert_eq!(audit_count(&app, &citizen.account_id, "device.revoked"), 1);
    assert_eq!(userinfo_status(&app, &token).await, 401);
    // This browser carries on under a fresh session, with working forms;
    // every other session ended.
    assert_eq!(browser.get("/compte").await.status, 200);
    let again = browser.get("/compte").await;
    let twice = browser
        .post(
            "/compte/appareils/revoquer",
            &[("csrf", &again.field("csrf").unwrap()), ("device", &device)],
        )
        .await;
    assert!(twice.body.contains("n&#39;existe pas"), "{}", twice.body);
    let gone = elsewhere.get("/compte").await;
    assert!(
        location(&gone).ends_with("/compte/connexion"),
        "{:?}",
        gone.location
    );
}

async fn start_mobile(browser: &mut Browser, password: &str, mobile: &str) -> Page {
    let fields = [("current_password", password), ("mobile", mobile)];
    post_on(browser, MOBILE, MOBILE, &fields).await
}

async fn post_code(browser: &mut Browser, at: &str, code: &str) -> Page {
    post_on(browser, at, at, &[("code", code)]).await
}

fn other_code(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

async fn the_mobile_number_is_changed_by_an_sms_code(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, _, old, _device) = activated(&app, 43).await;
    let (national, new) = phone_number(44);
    let (mut browser, _) = account_page(&app, &citizen).await;

    let wrong = start_mobile(&mut browser, "not my password at all", &national).await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.body.contains("mot de passe actuel est incorrect"),
        "{}",
        wrong.body
    );
    let invalid = start_mobile(&mut browser, &citizen.password, "01 23 45 67 89").await;
    assert_eq!(invalid.status, 400, "{}", invalid.body);
    assert!(invalid.body.contains("01 23 45 67 89"), "the value is kept");
    let same = start_mobile(&mut browser, &citizen.password, &old).await;
    assert_eq!(same.status, 400);
    assert!(same.body.contains("déjà le numéro"), "{}", same.body);
    assert!(messages_to(&app, &new).await.is_empty());

    let started = start_mobile(&mut browser, &citizen.password, &national).await;
    assert_eq!(location(&started), MOBILE_CODE, "{}", started.body);
    let code_page = browser.get(MOBILE_CODE).await;
    assert!(code_page.body.contains(&masked(&new)), "{}", code_page.body);
    assert!(code_page.body.contains("href=\"/compte/mobile\""));
    let code = code_sent_to(&app, &new).await;
    let wrong = post_code(&mut browser, MOBILE_CODE, other_code(&code)).await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("reste 4 essai"), "{}", wrong.body);
    assert_eq!(
        phone_of(&app, &citizen.account_id).as_deref(),
        Some(old.as_str())
    );

    let csrf = code_page.field("csrf").unwrap();
    let done = post_code(&mut browser, MOBILE_CODE, &code).await;
    assert_eq!(location(&done), "/compte/mobile/modifie", "{}", done.body);
    // A double submission changes nothing more.
    let again = browser
        .post(MOBILE_CODE, &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(location(&again), "/compte/mobile/modifie", "{}", again.body);
    let notice = browser.get("/compte/mobile/modifie").await;
    assert!(notice.body.contains("Numéro de mobile modifié"));

    assert_eq!(
        phone_of(&app, &citizen.account_id).as_deref(),
        Some(new.as_str())
    );
    assert_eq!(
        audit_count(&app, &citizen.account_id, "account.mobile_changed"),
        1
    );
    // The devices stay bound, the identity stays verified, the account active.
    assert_eq!(device_states(&app, &citizen.account_id), ["active"]);
    assert_eq!(
        crate::citizen_block::account_state(&app, &citizen.account_id),
        "active"
    );
    let page = browser.get("/compte").await;
    assert!(page.body.contains("Identité vérifiée le"), "{}", page.body);
    let (a, b) = (new.clone(), old.clone());
    let approvers = app
        .core
        .db
        .read_blocking(move |conn| {
            Ok((
                idp_server::store::accounts::approver_by_phone(conn, &a)?.map(|x| x.account_id),
                idp_server::store::accounts::approver_by_phone(conn, &b)?.map(|x| x.account_id),
            ))
        })
        .unwrap();
    assert_eq!(approvers, (Some(citizen.account_id.clone()), None));
    // The address is told, and so is the old number.
    let emails = messages_to(&app, &citizen.email).await;
    assert!(
        emails
            .iter()
            .any(|m| m.text.contains("Le numéro de mobile de votre identité")
                && m.text.contains(&masked(&new))),
        "{emails:?}"
    );
    let sms = messages_to(&app, &old).await;
    assert!(
        sms.iter().any(|m| m.text.contains("a été remplacé")),
        "{sms:?}"
    );
}

async fn a_number_in_use_gets_the_same_answer(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (asker, _, asker_phone, _d1) = activated(&app, 45).await;
    let (_holder, held_national, held, _d2) = activated(&app, 46).await;
    let (other, _, _, _d3) = activated(&app, 47).await;
    let (free_national, free) = phone_number(48);
    let before = messages_to(&app, &held).await.len();
    let (mut taken_browser, _) = account_page(&app, &asker).await;
    let (mut free_browser, _) = account_page(&app, &other).await;

    let taken = start_mobile(&mut taken_browser, &asker.password, &held_national).await;
    let freed = start_mobile(&mut free_browser, &other.password, &free_national).await;
    assert_eq!(
        (taken.status, location(&taken)),
        (freed.status, location(&freed))
    );
    let taken_page = taken_browser.get(MOBILE_CODE).await;
    let free_page = free_browser.get(MOBILE_CODE).await;
    assert_eq!(taken_page.status, free_page.status);
    assert_eq!(
        shape(&taken_page, &masked(&held)),
        shape(&free_page, &masked(&free))
    );
    // Nothing is sent to the holder's number; a code typed behaves alike.
    assert_eq!(messages_to(&app, &held).await.len(), before);
    let wrong_taken = post_code(&mut taken_browser, MOBILE_CODE, "000001").await;
    let wrong_free = post_code(&mut free_browser, MOBILE_CODE, "000001").await;
    assert_eq!(wrong_taken.status, wrong_free.status);
    assert_eq!(
        shape(&wrong_taken, &masked(&held)),
        shape(&wrong_free, &masked(&free))
    );
    // Resending within the minute: the same cooldown.
    let resend = "/compte/mobile/renvoyer";
    let r1 = post_on(&mut taken_browser, MOBILE_CODE, resend, &[]).await;
    let r2 = post_on(&mut free_browser, MOBILE_CODE, resend, &[]).await;
    assert_eq!((r1.status, r2.status), (200, 200));
    let wait = "Vous pourrez demander un nouveau code dans";
    assert!(
        r1.body.contains(wait) && r2.body.contains(wait),
        "{}",
        r1.body
    );
    assert_eq!(messages_to(&app, &held).await.len(), before);
    assert_eq!(
        phone_of(&app, &asker.account_id).as_deref(),
        Some(asker_phone.as_str())
    );
    assert_eq!(
        audit_count(&app, &asker.account_id, "account.mobile_changed"),
        0
    );
}

/// Forgets the code of a change to `to` as its TTL would.
async fn expire_code(app: &TestApp, purpose: &str, to: &str) {
    use idp_server::ephemeral::EphemeralStore;
    let hash = idp_server::crypto::hmac_hex(
        &app.core.subkeys.token_hash_key,
        format!("{purpose}:{to}").as_bytes(),
    );
    let keys = idp_server::ephemeral::keys::otp(&hash);
    app.core.ephemeral.delete(&keys.code).await.unwrap();
}

/// Ends the cooldown of the codes to `to` as its TTL would.
async fn end_cooldown(app: &TestApp, purpose: &str, to: &str) {
    use idp_server::ephemeral::EphemeralStore;
    let hash = idp_server::crypto::hmac_hex(
        &app.core.subkeys.token_hash_key,
        format!("{purpose}:{to}").as_bytes(),
    );
    let keys = idp_server::ephemeral::keys::otp(&hash);
    app.core.ephemeral.delete(&keys.cooldown).await.unwrap();
}

async fn change_codes_follow_the_code_rules(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let (citizen, _, old, _device) = activated(&app, 49).await;
    let (national, new) = phone_number(50);
    let (mut browser, _) = account_page(&app, &citizen).await;
    // No change open: the code page sends back to the form.
    let none = browser.get(MOBILE_CODE).await;
    assert_eq!(location(&none), MOBILE);
    start_mobile(&mut browser, &citizen.password, &national).await;
    let code = code_sent_to(&app, &new).await;
    for remaining in (1..=4).rev() {
        let page = post_code(&mut browser, MOBILE_CODE, other_code(&code)).await;
        assert!(
            page.body.contains(&format!("reste {remaining} essai")),
            "{}",
            page.body
        );
    }
    let fifth = post_code(&mut browser, MOBILE_CODE, other_code(&code)).await;
    assert!(fifth.body.contains("Trop d&#39;essais"), "{}", fifth.body);
    let late = post_code(&mut browser, MOBILE_CODE, &code).await;
    assert_eq!(late.status, 400);
    assert!(
        late.body.contains("Demandez un nouveau code"),
        "{}",
        late.body
    );
    let sent = messages_to(&app, &new).await.len();
    let resend = post_on(&mut browser, MOBILE_CODE, "/compte/mobile/renvoyer", &[]).await;
    assert_eq!(resend.status, 200, "{}", resend.body);
    assert!(
        resend
            .body
            .contains("Vous pourrez demander un nouveau code dans"),
        "{}",
        resend.body
    );
    assert_eq!(messages_to(&app, &new).await.len(), sent, "nothing sent");
    assert_eq!(
        phone_of(&app, &citizen.account_id).as_deref(),
        Some(old.as_str())
    );
    // After the minute, a new code to the same number works.
    end_cooldown(&app, "mobile-change", &new).await;
    let resent = post_on(&mut browser, MOBILE_CODE, "/compte/mobile/renvoyer", &[]).await;
    assert_eq!(
        location(&resent),
        "/compte/mobile/code?renvoye=1",
        "{}",
        resent.body
    );
    let page = browser.get("/compte/mobile/code?renvoye=1").await;
    assert!(page.body.contains(&masked(&new)), "{}", page.body);
    let fresh = code_sent_to(&app, &new).await;
    let done = post_code(&mut browser, MOBILE_CODE, &fresh).await;
    assert_eq!(location(&done), "/compte/mobile/modifie", "{}", done.body);
    assert_eq!(
        phone_of(&app, &citizen.account_id).as_deref(),
        Some(new.as_str())
    );

    // An expired code (an email change this time).
    let address = "nouvelle.adresse@example.fr";
    let fields = [
        ("current_password", citizen.password.as_str()),
        ("email", address),
    ];
    post_on(&mut browser, ADDRESS, ADDRESS, &fields).await;
    let code = code_sent_to(&app, address).await;
    expire_code(&app, "email-change", address).await;
    let expired = post_code(&mut browser, ADDRESS_CODE, &code).await;
    assert_eq!(expired.status, 400);
    assert!(expired.body.contains("a expiré"), "{}", expired.body);
    assert_eq!(email_of(&app, &citizen.account_id), citizen.email);
    assert_eq!(
        audit_count(&app, &citizen.account_id, "account.email_changed"),
        0
    );
}

async fn start_email(browser: &mut Browser, citizen: &Citizen, email: &str) -> Page {
    let fields = [
        ("current_password", citizen.password.as_str()),
        ("email", email),
    ];
    post_on(browser, ADDRESS, ADDRESS, &fields).await
}

async fn the_email_address_is_changed_by_a_code(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let citizen = kit::create_citizen(&app, true);
    let (mut browser, _) = account_page(&app, &citizen).await;
    let same = start_email(&mut browser, &citizen, &citizen.email).await;
    assert_eq!(same.status, 400);
    assert!(same.body.contains("déjà l&#39;adresse"), "{}", same.body);
    let invalid = start_email(&mut browser, &citizen, "pas-une-adresse").await;
    assert_eq!(invalid.status, 400);
    // In English for a browser that asks for it.
    let mut english = Browser::new(&app.base);
    english.language = "en".to_owned();
    let fields = [
        ("email", citizen.email.as_str()),
        ("password", &citizen.password),
    ];
    post_on(
        &mut english,
        "/compte/connexion",
        "/compte/connexion",
        &fields,
    )
    .await;
    let page = english.get(ADDRESS).await;
    assert!(
        page.body.contains("Change my email address"),
        "{}",
        page.body
    );

    let new = format!("nouveau.{}", citizen.email);
    let started = start_email(&mut browser, &citizen, &new).await;
    assert_eq!(location(&started), ADDRESS_CODE, "{}", started.body);
    let code_page = browser.get(ADDRESS_CODE).await;
    assert!(code_page.body.contains(&new));
    let code = code_sent_to(&app, &new).await;
    let csrf = code_page.field("csrf").unwrap();
    let done = post_code(&mut browser, ADDRESS_CODE, &code).await;
    assert_eq!(location(&done), "/compte/adresse/modifiee", "{}", done.body);
    let again = browser
        .post(ADDRESS_CODE, &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(location(&again), "/compte/adresse/modifiee");

    assert_eq!(email_of(&app, &citizen.account_id), new);
    assert_eq!(
        audit_count(&app, &citizen.account_id, "account.email_changed"),
        1
    );
    assert!(!password_works(&app, &citizen.email, &citizen.password).await);
    assert!(password_works(&app, &new, &citizen.password).await);
    let notices = messages_to(&app, &citizen.email).await;
    assert!(
        notices
            .iter()
            .any(|m| m.text.contains("ne permet plus de vous connecter") && m.text.contains(&new)),
        "{notices:?}"
    );
    assert_eq!(
        crate::citizen_block::account_state(&app, &citizen.account_id),
        "verified"
    );
}

async fn an_address_in_use_gets_the_same_answer(backend: Backend) {
    let (_env, app, _) = spawn(backend).await;
    let asker = kit::create_citizen(&app, true);
    let holder = kit::create_citizen(&app, true);
    let other = kit::create_citizen(&app, true);
    let free = "adresse.libre@example.fr";
    let (mut taken_browser, _) = account_page(&app, &asker).await;
    let (mut free_browser, _) = account_page(&app, &other).await;
    let before = messages_to(&app, &holder.email).await.len();

    let taken = start_email(&mut taken_browser, &asker, &holder.email).await;
    let freed = start_email(&mut free_browser, &other, free).await;
    assert_eq!(
        (taken.status, location(&taken)),
        (freed.status, location(&freed))
    );
    let taken_page = taken_browser.get(ADDRESS_CODE).await;
    let free_page = free_browser.get(ADDRESS_CODE).await;
    assert_eq!(shape(&taken_page, &holder.email), shape(&free_page, free));
    assert_eq!(messages_to(&app, &holder.email).await.len(), before);
    let wrong_taken = post_code(&mut taken_browser, ADDRESS_CODE, "000001").await;
    let wrong_free = post_code(&mut free_browser, ADDRESS_CODE, "000001").await;
    assert_eq!(wrong_taken.status, wrong_free.status);
    assert_eq!(shape(&wrong_taken, &holder.email), shape(&wrong_free, free));
    assert_eq!(email_of(&app, &asker.account_id), asker.email);
    assert_eq!(
        audit_count(&app, &asker.account_id, "account.email_changed"),
        0
    );
    assert!(password_works(&app, &holder.email, &holder.password).await);
}
