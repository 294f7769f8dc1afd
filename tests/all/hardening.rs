//! Hardening (issue #14): enrolment steps that do not tell known addresses
//! and numbers from new ones, a bounded amount of anonymous state per client
//! address, request bodies over the limit refused in the API's JSON shape,
//! and malformed requests that never reach the error log.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use idp_server::config::Config;
use idp_server::ephemeral::EphemeralStore;
use idp_server::store::accounts::{self, NewAccount};
use idp_tests::browser::{Browser, Page};
use idp_tests::enrolment::{code_sent_to, form, messages_to};
use idp_tests::oidc::{manual_authorize, register_client};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

const CLIENT: &str = "formation";

both_backends!(
    enrolment_email_step_does_not_tell_known_addresses,
    enrolment_mobile_step_does_not_tell_numbers_in_use,
    anonymous_authorization_requests_are_bounded_per_address,
    oversized_bodies_get_413_in_the_json_shape,
    signed_device_endpoints_refuse_an_oversized_body_before_the_signature,
    malformed_requests_write_no_error_log_lines,
);

/// Clients behind a trusted proxy (the tests' loopback), so that each
/// simulated person can come from an address of their own.
fn behind_proxy(env: &TestEnv) -> Config {
    let mut config = env.config();
    config.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    config
}

/// An account that already has this email (and phone), without a password
/// hash: nothing here logs in with it.
fn existing_account(app: &TestApp, email: &str, phone: Option<&str>) {
    let (id, email, phone) = (
        uuid::Uuid::new_v4().to_string(),
        email.to_owned(),
        phone.map(str::to_owned),
    );
    app.core
        .db
        .write_blocking(move |conn| {
            accounts::insert(
                conn,
                &NewAccount {
                    id: &id,
                    state: "active",
                    email: &email,
                    password_hash: None,
                    phone: phone.as_deref(),
                },
            )
        })
        .unwrap();
}

/// The page with what legitimately differs between two people (the address
/// typed, the CSRF token) replaced by placeholders.
fn normalised(page: &Page, typed: &str) -> String {
    let mut body = page.body.replace(typed, "TYPED");
    if let Some(csrf) = page.field("csrf") {
        body = body.replace(&csrf, "CSRF");
    }
    body
}

/// Header names and values, without those that differ on every response.
fn headers(page: &Page) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = page
        .headers
        .iter()
        .filter(|(name, _)| !["date", "x-request-id"].contains(&name.as_str()))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_owned()))
        .collect();
    all.sort();
    all
}

/// A new person past the eligibility page, from their own address.
async fn eligible(app: &TestApp, address: &str) -> Browser {
    let mut browser = Browser::new(&app.base);
    browser.forwarded_for = Some(address.to_owned());
    let page = idp_tests::enrolment::submit(
        &mut browser,
        "/inscription",
        &[("adult", "yes"), ("smartphone", "yes"), ("document", "yes")],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    browser
}

/// What one person meets at a code step: the answer to the address or
/// number, the code page, the answer to a wrong code.
struct Walk {
    posted: Page,
    code_page: Page,
    wrong_code: Page,
    took: Duration,
}

async fn walk_code_step(browser: &mut Browser, step: &str, field: &str, value: &str) -> Walk {
    let (_, csrf) = form(browser, step).await;
    let started = Instant::now();
    let posted = browser.post(step, &[("csrf", &csrf), (field, value)]).await;
    let took = started.elapsed();
    let code_path = format!("{step}/code");
    let (code_page, csrf) = form(browser, &code_path).await;
    let wrong_code = browser
        .post(&code_path, &[("csrf", &csrf), ("code", "000000")])
        .await;
    Walk {
        posted,
        code_page,
        wrong_code,
        took,
    }
}

fn assert_alike(known: &Walk, new: &Walk, known_value: &str, new_value: &str) {
    assert_eq!(known.posted.status, 303, "{}", known.posted.body);
    assert_eq!(
        (known.posted.status, &known.posted.location),
        (new.posted.status, &new.posted.location)
    );
    assert_eq!(headers(&known.posted), headers(&new.posted));
    assert_eq!(
        normalised(&known.posted, known_value),
        normalised(&new.posted, new_value)
    );
    assert_eq!(known.code_page.status, new.code_page.status);
    assert_eq!(
        normalised(&known.code_page, known_value),
        normalised(&new.code_page, new_value)
    );
    assert_eq!(known.wrong_code.status, 400, "{}", known.wrong_code.body);
    assert_eq!(known.wrong_code.status, new.wrong_code.status);
    assert_eq!(headers(&known.wrong_code), headers(&new.wrong_code));
    assert_eq!(
        normalised(&known.wrong_code, known_value),
        normalised(&new.wrong_code, new_value)
    );
}

/// Within 5 ms (`idp_tests::assert_same_time`: the median of paired
/// differences of 20 interleaved tries): the two paths run the same
/// statements and round trips and send one message each; only the message's
/// text differs.
fn assert_same_time(what: &str, known: Vec<Duration>, new: Vec<Duration>) {
    idp_tests::assert_same_time(what, &known, &new);
}

/// `/inscription/courriel`: an address that already has an identity gets
/// the same answer, code page and wrong-code page as a new one; its owner
/// is told by email (no code in it), a new address receives its code.
async fn enrolment_email_step_does_not_tell_known_addresses(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn_with(behind_proxy(&env)).await;
    let (mut known_times, mut new_times) = (Vec::new(), Vec::new());
    for i in 0..21u32 {
        // Same length: the pages then have the same size.
        let known = format!("deja{i:02}@example.fr");
        let new = format!("neuf{i:02}@example.fr");
        existing_account(&app, &known, None);
        let mut a = eligible(&app, &format!("203.0.113.{}", 2 * i + 1)).await;
        let mut b = eligible(&app, &format!("203.0.113.{}", 2 * i + 2)).await;
        let (ka, kb) = if i % 2 == 0 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let known_walk = walk_code_step(ka, "/inscription/courriel", "email", &known).await;
        let new_walk = walk_code_step(kb, "/inscription/courriel", "email", &new).await;
        assert_alike(&known_walk, &new_walk, &known, &new);
        if i > 0 {
            known_times.push(known_walk.took);
            new_times.push(new_walk.took);
        }
        // The owner of the known address is told, without a code.
        let notice = messages_to(&app, &known).await;
        assert_eq!(notice.len(), 1);
        assert!(
            notice[0].text.contains("déjà associée"),
            "{}",
            notice[0].text
        );
        assert!(
            !notice[0]
                .text
                .chars()
                .collect::<Vec<_>>()
                .windows(6)
                .any(|w| w.iter().all(char::is_ascii_digit)),
            "no code in the notice: {}",
            notice[0].text
        );
        assert_eq!(code_sent_to(&app, &new).await.len(), 6);
    }
    assert_same_time("email step", known_times, new_times);

    // The limits count before the lookup: a second send within the minute is
    // refused alike for both.
    let known = "deja00@example.fr";
    let new = "neuf00@example.fr";
    let mut answers = Vec::new();
    for (n, address) in [known, new].into_iter().enumerate() {
        let mut browser = eligible(&app, &format!("198.51.100.{n}")).await;
        let (_, csrf) = form(&mut browser, "/inscription/courriel").await;
        let page = browser
            .post(
                "/inscription/courriel",
                &[("csrf", &csrf), ("email", address)],
            )
            .await;
        assert_eq!(page.status, 429, "{}", page.body);
        // The two cooldowns started a moment apart: their countdowns may
        // differ by a second, which says nothing about the address.
        let headers: Vec<(String, String)> = headers(&page)
            .into_iter()
            .map(|(k, v)| {
                if k == "retry-after" {
                    (k, "N".into())
                } else {
                    (k, v)
                }
            })
            .collect();
        answers.push((headers, without_countdown(&normalised(&page, address))));
    }
    assert_eq!(answers[0], answers[1]);
}

/// The text with every number of seconds ("dans 53 secondes") replaced by N.
fn without_countdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" seconde") {
        let (before, after) = rest.split_at(at);
        out.push_str(before.trim_end_matches(|c: char| c.is_ascii_digit()));
        out.push('N');
        rest = after;
        out.push_str(&rest[..8]);
        rest = &rest[8..];
    }
    out.push_str(rest);
    out
}

/// A browser with an account at the mobile step (email verified, password set).
async fn at_mobile_step(app: &TestApp, n: u32) -> Browser {
    let mut browser = eligible(app, &format!("192.0.2.{n}")).await;
    let person = idp_tests::enrolment::Person::new(n);
    idp_tests::enrolment::email_and_password(app, &mut browser, &person).await;
    browser
}

/// `/inscription/mobile`: a number already bound to an identity gets the
/// same answer and pages as a free one; the SMS to its owner says what
/// happened (no code). One enrolment may try at most 5 numbers an hour.
async fn enrolment_mobile_step_does_not_tell_numbers_in_use(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn_with(behind_proxy(&env)).await;
    let (mut known_times, mut new_times) = (Vec::new(), Vec::new());
    // Each enrolment sends at most 5 codes an hour: 21 pairs need 9 of them.
    let mut enrolments = Vec::new();
    for n in 0..9 {
        enrolments.push(at_mobile_step(&app, n).await);
    }
    for i in 0..21u32 {
        // Same last two digits: the code pages show the same masked number.
        let known = format!("+3361{i:03}0040");
        let new = format!("+3362{i:03}0040");
        existing_account(&app, &format!("numero.{i}@example.fr"), Some(&known));
        let (first, second) = ((2 * i) as usize / 5, (2 * i + 1) as usize / 5);
        let known_walk = walk_code_step(
            &mut enrolments[first],
            "/inscription/mobile",
            "mobile",
            &known,
        )
        .await;
        let new_walk = walk_code_step(
            &mut enrolments[second],
            "/inscription/mobile",
            "mobile",
            &new,
        )
        .await;
        assert_alike(&known_walk, &new_walk, &known, &new);
        if i > 0 {
            known_times.push(known_walk.took);
            new_times.push(new_walk.took);
        }
        let notice = messages_to(&app, &known).await;
        assert_eq!(notice.len(), 1);
        assert!(
            notice[0].text.contains("Il reste associé à la vôtre"),
            "{}",
            notice[0].text
        );
        assert_eq!(code_sent_to(&app, &new).await.len(), 6);
    }
    assert_same_time("mobile step", known_times, new_times);

    // The per-enrolment limit: the first enrolment has sent 5 codes; a
    // sixth number (never used anywhere) is refused.
    let (_, csrf) = form(&mut enrolments[0], "/inscription/mobile").await;
    let page = enrolments[0]
        .post(
            "/inscription/mobile",
            &[("csrf", &csrf), ("mobile", "+33699990040")],
        )
        .await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.headers.contains_key("retry-after"));
}

async fn authorize(browser: &mut Browser, url: &str) -> Page {
    browser.get(url).await
}

/// `url` with the values of `replace` instead of its own (each name once).
fn with_params(url: &str, replace: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| match replace.iter().find(|(name, _)| *name == k) {
            Some((_, value)) => (k, (*value).to_owned()),
            None => (k, v),
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

fn tx_of(page: &Page) -> String {
    let location = page
        .location
        .as_deref()
        .expect("a redirect to the login page");
    let url = url::Url::parse(location).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "tx")
        .map(|(_, v)| v.into_owned())
        .expect("tx")
}

/// A per-address budget of stored authorization requests, a short life until
/// the person first submits a form, and a bounded stored size.
async fn anonymous_authorization_requests_are_bounded_per_address(backend: Backend) {
    let env = TestEnv::new(backend);
    let mut config = behind_proxy(&env);
    config.oidc.authorize_ip_limit = 5;
    let app = env.spawn_with(config).await;
    register_client(&app, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    let request = manual_authorize(&app.base, CLIENT, "openid", &[("acr_values", "eidas2")]);

    let mut browser = Browser::new(&app.base);
    browser.forwarded_for = Some("203.0.113.50".into());
    let mut first = None;
    for _ in 0..5 {
        let page = authorize(&mut browser, &request.url).await;
        assert_eq!(page.status, 303, "{}", page.body);
        first.get_or_insert(tx_of(&page));
    }
    let refused = authorize(&mut browser, &request.url).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.headers.contains_key("retry-after"));
    assert!(
        refused.body.contains("Trop de demandes de connexion"),
        "{}",
        refused.body
    );
    // Another address is not affected; an IPv6 client counts by its /64.
    let mut other = Browser::new(&app.base);
    other.forwarded_for = Some("203.0.113.51".into());
    assert_eq!(authorize(&mut other, &request.url).await.status, 303);
    let mut v6 = Browser::new(&app.base);
    for host in 1..=6 {
        v6.forwarded_for = Some(format!("2001:db8:1:2::{host}"));
        let page = authorize(&mut v6, &request.url).await;
        assert_eq!(
            page.status,
            if host <= 5 { 303 } else { 429 },
            "{}",
            page.body
        );
    }

    // New enrolments are anonymous state too: the same budget per address.
    for n in 0..6 {
        let mut person = Browser::new(&app.base);
        person.forwarded_for = Some("203.0.113.60".into());
        let page = idp_tests::enrolment::submit(
            &mut person,
            "/inscription",
            &[("adult", "yes"), ("smartphone", "yes"), ("document", "yes")],
        )
        .await;
        assert_eq!(page.status, if n < 5 { 303 } else { 429 }, "{}", page.body);
        if n == 5 {
            assert!(page.headers.contains_key("retry-after"));
            assert!(
                page.body.contains("Trop d&#39;inscriptions"),
                "{}",
                page.body
            );
        }
    }

    // A short life until the person submits a form, the full one after.
    let tx = first.unwrap();
    let key = format!("authz:{tx}");
    let idle = app.core.ephemeral.ttl(&key).await.unwrap().unwrap();
    assert!(idle <= Duration::from_secs(300), "{idle:?}");
    let login = browser.get(&format!("/login/telephone?tx={tx}")).await;
    let csrf = login.field("csrf").unwrap();
    let bad = browser
        .post(
            "/login/telephone",
            &[("tx", &tx), ("csrf", &csrf), ("phone", "01 23")],
        )
        .await;
    assert_eq!(bad.status, 400);
    let kept = app.core.ephemeral.ttl(&key).await.unwrap().unwrap();
    assert!(kept > Duration::from_secs(1500), "{kept:?}");

    // The largest request that can be stored stays small; longer state or
    // nonce values are refused.
    let long = "s".repeat(1024);
    let hint = "h".repeat(256);
    let claims = r#"{"id_token":{"given_name":{"essential":true},"family_name":null,"birthdate":null,"acr":{"values":["eidas2"]}}}"#;
    let big = with_params(
        &manual_authorize(
            &app.base,
            CLIENT,
            "openid profile email phone birth",
            &[
                ("acr_values", "eidas2"),
                ("login_hint", &hint),
                ("claims", claims),
            ],
        )
        .url,
        &[("state", &long), ("nonce", &long)],
    );
    let mut fresh = Browser::new(&app.base);
    fresh.forwarded_for = Some("203.0.113.52".into());
    let page = authorize(&mut fresh, &big).await;
    let stored = app
        .core
        .ephemeral
        .get(&format!("authz:{}", tx_of(&page)))
        .await
        .unwrap()
        .unwrap();
    eprintln!(
        "largest stored authorization request: {} bytes",
        stored.len()
    );
    assert!(stored.len() <= 4096, "{} bytes", stored.len());
    let too_long = with_params(
        &manual_authorize(&app.base, CLIENT, "openid", &[]).url,
        &[("state", &"s".repeat(1025))],
    );
    let page = authorize(&mut fresh, &too_long).await;
    let location = page.location.expect("an error redirect");
    assert!(location.contains("error=invalid_request"), "{location}");
}

/// Bodies over the limit: 413 with the JSON error shape, on the device API
/// and the protocol endpoints.
async fn oversized_bodies_get_413_in_the_json_shape(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let big_json = format!(r#"{{"email":"{}"}}"#, "a".repeat(20 * 1024));
    let response = app
        .http
        .post(app.url("/api/device/v1/activation"))
        .header("Content-Type", "application/json")
        .body(big_json)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");

    let big_form = format!(
        "grant_type=authorization_code&code={}",
        "c".repeat(70 * 1024)
    );
    let response = app
        .http
        .post(app.url("/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(big_form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
}

/// A signed device endpoint reads its body before it checks the signature:
/// an oversized body is a 413 even unsigned; a small
/// unsigned one is a 401.
async fn signed_device_endpoints_refuse_an_oversized_body_before_the_signature(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(20 * 1024));
    for (method, path) in [
        (reqwest::Method::PATCH, "/api/device/v1/devices/some-device"),
        (reqwest::Method::PUT, "/api/device/v1/push/subscription"),
    ] {
        let declared = app
            .http
            .request(method.clone(), app.url(path))
            .header("Content-Type", "application/json")
            .body(big.clone());
        let response = declared.send().await.unwrap();
        assert_eq!(response.status(), 413, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
        let small = app
            .http
            .request(method, app.url(path))
            .header("Content-Type", "application/json")
            .body(r#"{"name":"x"}"#);
        assert_eq!(small.send().await.unwrap().status(), 401, "{path} small");
    }
}

// ------------------------------------------------------------------ logs

/// ERROR events seen in the process, with the request id of the request
/// span they happened in.
static ERRORS: Mutex<Vec<(Option<String>, String)>> = Mutex::new(Vec::new());

struct RequestId(String);

#[derive(Default)]
struct Fields {
    id: Option<String>,
    message: String,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "id" => self.id = Some(format!("{value:?}")),
            "message" => self.message = format!("{value:?}"),
            _ => {}
        }
    }
}

struct ErrorCapture;

impl<S> tracing_subscriber::Layer<S> for ErrorCapture
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != "request" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(request_id), Some(span)) = (fields.id, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() != tracing::Level::ERROR {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let request_id = ctx.event_scope(event).and_then(|scope| {
            scope
                .from_root()
                .find_map(|span| span.extensions().get::<RequestId>().map(|r| r.0.clone()))
        });
        ERRORS.lock().unwrap().push((request_id, fields.message));
    }
}

/// Installs the capture once for the whole test binary (INFO and above, so
/// the request spans exist).
fn capture_errors() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(ErrorCapture);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the test binary");
    });
}

/// Garbage on every kind of endpoint: refused, never 5xx, and no ERROR
/// line in the log for any of these requests (a client must not be able to
/// flood the error log).
async fn malformed_requests_write_no_error_log_lines(backend: Backend) {
    capture_errors();
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    register_client(&app, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    let http = &app.http;
    let json = ("Content-Type", "application/json");
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let requests = vec![
        http.post(app.url("/api/device/v1/activation"))
            .header(json.0, json.1)
            .body("{not json"),
        http.post(app.url("/api/device/v1/activation"))
            .header(json.0, json.1)
            .body(vec![0xff, 0xfe, 0x00]),
        http.post(app.url("/api/device/v1/activation/code"))
            .header(json.0, json.1)
            .body("[]"),
        http.post(app.url("/api/device/v1/activation"))
            .header(json.0, json.1)
            .body("x".repeat(40 * 1024)),
        http.get(app.url("/api/device/v1/challenges?wait=abc"))
            .header("Authorization", "Device a.b.c"),
        http.get(app.url("/api/device/v1/challenges"))
            .header("Authorization", "Device .."),
        http.post(app.url("/api/device/v1/challenges/x/decision"))
            .body(vec![0xc3, 0x28]),
        http.patch(app.url("/api/device/v1/devices/x"))
            .header(json.0, json.1)
            .body("{}"),
        http.post(app.url("/token"))
            .header(form_type.0, form_type.1)
            .body("%%%&&&=="),
        http.post(app.url("/token"))
            .header(json.0, json.1)
            .body("{}"),
        http.post(app.url("/token"))
            .header(form_type.0, form_type.1)
            .body("grant_type=authorization_code&code=x&redirect_uri=y")
            .basic_auth(CLIENT, Some("wrong")),
        http.post(app.url("/token"))
            .header(form_type.0, form_type.1)
            .body("x".repeat(80 * 1024)),
        http.get(app.url("/authorize?client_id=%ZZ&redirect_uri=\u{0}")),
        http.get(app.url(&format!(
            "/authorize?client_id={CLIENT}&claims={}",
            "%7B".repeat(500)
        ))),
        http.post(app.url("/authorize"))
            .header(form_type.0, form_type.1)
            .body(vec![0xff; 64]),
        http.get(app.url("/userinfo"))
            .header("Authorization", "Bearer !!!"),
        http.post(app.url("/introspect"))
            .header(form_type.0, form_type.1)
            .body("token="),
        http.post(app.url("/revoke"))
            .header(form_type.0, form_type.1)
            .body("token=x"),
        http.get(app.url("/login/telephone/etat?tx=%FF")),
        http.post(app.url("/login/telephone"))
            .header(form_type.0, form_type.1)
            .body("tx=x&csrf=y&phone=z"),
        http.post(app.url("/inscription/courriel"))
            .header(form_type.0, form_type.1)
            .body("email=x"),
        http.get(app.url("/logout?id_token_hint=not.a.jwt")),
    ];
    let mut ids = Vec::new();
    for request in requests {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.text().await.unwrap_or_default();
        assert!(status < 500, "{status}: {body}");
        ids.push(id);
    }
    // Let the last log lines land.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let errors: Vec<_> = ERRORS
        .lock()
        .unwrap()
        .iter()
        .filter(|(id, _)| id.as_ref().is_some_and(|id| ids.contains(id)))
        .cloned()
        .collect();
    assert!(
        errors.is_empty(),
        "ERROR lines for malformed requests: {errors:?}"
    );
    // The capture works: a 500 on purpose would be seen (the span ids match
    // the x-request-id header).
    tracing::info_span!("request", id = %ids[0]).in_scope(|| tracing::error!("probe"));
    assert!(
        ERRORS
            .lock()
            .unwrap()
            .iter()
            .any(|(id, m)| id.as_deref() == Some(ids[0].as_str()) && m == "probe")
    );
}
