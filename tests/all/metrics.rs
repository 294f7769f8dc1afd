//! `/metrics` tells the story (issue #20): a complete eidas2 login, a wrong
//! PIN, a throttled start and the enrolment funnel move their series by
//! exactly the right amount, and no label carries an id, an address or a
//! number.

use idp_server::outcome::Split;
use std::collections::HashMap;

use idp_tests::authenticator::Authenticator;
use idp_tests::browser::Browser;
use idp_tests::enrolment::{Person, enrol_until_choice};
use idp_tests::oidc::{manual_authorize, register_client, verified_with_activation_code};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};
use serde_json::Value;

const PIN: &str = "2580";
const CLIENT: &str = "metrics-rp";

both_backends!(
    an_eidas2_login_moves_its_series_by_exactly_one,
    refusals_and_the_enrolment_funnel_are_counted,
    the_dashboard_and_alerts_use_only_real_series,
    verification_decisions_and_delivery_failures_are_counted,
);

/// Every sample of the exposition: `name{labels}` → value.
async fn scrape(app: &TestApp) -> (String, HashMap<String, f64>) {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse::<f64>().ok()?))
        })
        .collect();
    (text, samples)
}

fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    let Some(now) = after.get(series) else {
        panic!("no series {series} in the scrape")
    };
    now - before.get(series).copied().unwrap_or(0.0)
}

/// Sum of every sample of `name` whose labels contain `part`.
fn sum(samples: &HashMap<String, f64>, name: &str, part: &str) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{name}{{")) && k.contains(part))
        .map(|(_, v)| v)
        .sum()
}

/// Opens an eidas2 authorization and types `phone`: (browser, tx, number).
async fn wait_for_login(app: &TestApp, phone: &str) -> (Browser, String, i64) {
    idp_tests::phone::at_waiting_page(&app.base, CLIENT, "openid profile", phone).await
}

/// After approval: through consent to the client's redirect; returns the code.
async fn finish(browser: &mut Browser, tx: &str) -> String {
    let mut page = browser
        .get(&format!("/login/telephone/attente?tx={tx}"))
        .await;
    for _ in 0..5 {
        let location = page.location.clone().expect("a redirect");
        if location.starts_with("http://127.0.0.1:9/") {
            let url = url::Url::parse(&location).unwrap();
            let code = url.query_pairs().find(|(k, _)| k == "code");
            return code.expect("a code").1.into_owned();
        }
        let form = browser.get(&location).await;
        let (tx, csrf) = (form.field("tx").unwrap(), form.field("csrf").unwrap());
        page = browser
            .post(
                "/consent",
                &[("tx", &tx), ("csrf", &csrf), ("decision", "approve")],
            )
            .await;
    }
    panic!("no redirect to the client")
}

async fn activated(app: &TestApp, e164: &str) -> (idp_tests::oidc::Citizen, Authenticator) {
    let (citizen, code) = verified_with_activation_code(app, e164).await;
    let mut device = Authenticator::new(app.http.clone(), &app.base, &app.base).unwrap();
    device
        .activate(&citizen.email, &citizen.password, &code, PIN, "Pixel")
        .await
        .expect("activation");
    (citizen, device)
}

/// The raw values that must never be a label.
fn assert_bounded(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!secret.is_empty());
        assert!(
            !text.contains(secret),
            "{secret} appears in /metrics:\n{text}"
        );
    }
    // Only known label names, and route labels are patterns.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(labels) = line.split_once('{').map(|(_, rest)| rest) {
            for pair in labels.split("\",") {
                let name = pair.split('=').next().unwrap().trim_start_matches(',');
                assert!(
                    [
                        "method", "route", "status", "acr", "outcome", "step", "channel",
                        "decision", "limit", "code", "state", "stream", "le"
                    ]
                    .contains(&name),
                    "unexpected label {name} in {line}"
                );
            }
        }
    }
}

async fn an_eidas2_login_moves_its_series_by_exactly_one(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    register_client(&app, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    let e164 = "+33611424217";
    let (citizen, device) = activated(&app, e164).await;

    let (_, before) = scrape(&app).await;
    let (mut browser, tx, number) = wait_for_login(&app, "06 11 42 42 17").await;
    let mut found = device.challenges(5).await.expect("challenges");
    assert_eq!(found.len(), 1);
    let challenge: Value = found.remove(0);
    // One wrong PIN (a refusal), then the right one.
    let wrong = device.approve(&challenge, "9182", number).await;
    assert_eq!(wrong.expect_err("wrong PIN").code(), "wrong_pin");
    device
        .approve(&challenge, PIN, number)
        .await
        .expect("approval");
    let code = finish(&mut browser, &tx).await;
    let (text, after) = scrape(&app).await;

    let d = |series: &str| delta(&before, &after, series);
    assert_eq!(d("idp_logins_started_total{acr=\"eidas2\"}"), 1.0);
    assert_eq!(d("idp_logins_started_total{acr=\"eidas1\"}"), 0.0);
    assert_eq!(
        d("idp_login_outcomes_total{acr=\"eidas2\",outcome=\"approved\"}"),
        1.0
    );
    assert_eq!(
        d("idp_login_outcomes_total{acr=\"eidas2\",outcome=\"wrong_pin\"}"),
        1.0
    );
    assert_eq!(
        d("idp_login_outcomes_total{acr=\"eidas2\",outcome=\"denied\"}"),
        0.0
    );
    assert_eq!(d("idp_logins_completed_total{acr=\"eidas2\"}"), 1.0);
    assert_eq!(d("idp_device_api_errors_total{code=\"wrong_pin\"}"), 1.0);
    // Two decisions posted (the wrong PIN answered 403) and one long poll.
    let decisions = "route=\"/api/device/v1/challenges/{id}/decision\"";
    assert_eq!(
        sum(&after, "idp_http_requests_total", decisions)
            - sum(&before, "idp_http_requests_total", decisions),
        2.0
    );
    assert_eq!(
        d("idp_streams_open{stream=\"challenge_wait\"}"),
        0.0,
        "the long poll is closed again"
    );
    if backend == Backend::PostgresRedis {
        let calls = "idp_ephemeral_command_duration_seconds_count";
        assert!(d(calls) > 0.0, "Redis calls are timed");
        assert_eq!(d("idp_ephemeral_errors_total"), 0.0);
    }
    assert!(after.contains_key("idp_db_pool_waiting"));
    assert!(after.contains_key("idp_db_pool_connections{state=\"in_use\"}"));
    assert_bounded(
        &text,
        &[
            &citizen.email,
            &citizen.account_id,
            e164,
            "611424217",
            device.device_id.as_deref().unwrap(),
            challenge["id"].as_str().unwrap(),
            &code,
            &tx,
        ],
    );
}

async fn refusals_and_the_enrolment_funnel_are_counted(backend: Backend) {
    let env = TestEnv::new(backend);
    let mut config = env.config();
    config.login.phone_ip_limit = 1;
    let app = env.spawn_with(config).await;
    register_client(&app, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();

    let (_, before) = scrape(&app).await;
    wait_for_login(&app, "06 11 42 42 18").await;
    // The second start from the same address is throttled.
    let request = manual_authorize(
        &app.base,
        CLIENT,
        "openid profile",
        &[("acr_values", "eidas2")],
    );
    let mut browser = Browser::new(&app.base);
    let start = browser.get(&request.url).await;
    let form = browser.get(start.location.as_deref().unwrap()).await;
    let (tx, csrf) = (form.field("tx").unwrap(), form.field("csrf").unwrap());
    let refused = browser
        .post(
            "/login/telephone",
            &[("tx", &tx), ("csrf", &csrf), ("phone", "06 11 42 42 19")],
        )
        .await;
    assert_eq!(refused.status, 429, "{}", refused.body);

    let person = Person::new(7);
    enrol_until_choice(&app, &person, "identity_card").await;

    // The eidas1 login: a wrong password, then the right one (a code).
    let citizen = idp_tests::oidc::create_citizen(&app, false);
    let wrong = idp_tests::oidc::Citizen {
        account_id: citizen.account_id.clone(),
        email: citizen.email.clone(),
        password: "Not-The-Right-Password-1".into(),
    };
    let request = manual_authorize(&app.base, CLIENT, "openid", &[]);
    let mut browser = Browser::new(&app.base);
    let refused = idp_tests::oidc::walk(&mut browser, &request.url, Some(&wrong)).await;
    assert!(matches!(refused, idp_tests::oidc::Outcome::Page(_)));
    let request = manual_authorize(&app.base, CLIENT, "openid", &[]);
    idp_tests::oidc::code(&mut Browser::new(&app.base), &request, &citizen).await;
    let (text, after) = scrape(&app).await;

    let d = |series: &str| delta(&before, &after, series);
    assert_eq!(d("idp_logins_started_total{acr=\"eidas2\"}"), 1.0);
    assert_eq!(
        d("idp_login_outcomes_total{acr=\"eidas2\",outcome=\"throttled\"}"),
        1.0
    );
    assert_eq!(d("idp_rate_limited_total{limit=\"phone:ip\"}"), 1.0);
    assert_eq!(d("idp_rate_limited_total{limit=\"phone:number\"}"), 0.0);
    for step in [
        "email_submitted",
        "email_verified",
        "account_created",
        "phone_verified",
        "identity_submitted",
    ] {
        assert_eq!(
            d(&format!("idp_enrolment_steps_total{{step=\"{step}\"}}")),
            1.0,
            "{step}"
        );
    }
    assert_eq!(
        d("idp_enrolment_steps_total{step=\"verification_requested_face_to_face\"}"),
        0.0
    );
    assert_eq!(d("idp_messages_sent_total{channel=\"email\"}"), 1.0);
    assert_eq!(d("idp_messages_sent_total{channel=\"sms\"}"), 1.0);
    assert_eq!(
        d("idp_message_delivery_failures_total{channel=\"email\"}"),
        0.0
    );
    assert_eq!(d("idp_logins_started_total{acr=\"eidas1\"}"), 2.0);
    for (outcome, n) in [
        ("wrong_password", 1.0),
        ("approved", 1.0),
        ("throttled", 0.0),
    ] {
        let series = format!("idp_login_outcomes_total{{acr=\"eidas1\",outcome=\"{outcome}\"}}");
        assert_eq!(d(&series), n, "{series}");
    }
    assert_eq!(d("idp_logins_completed_total{acr=\"eidas1\"}"), 1.0);
    assert_eq!(d("idp_logins_completed_total{acr=\"eidas2\"}"), 0.0);
    assert_bounded(
        &text,
        &[
            &person.email,
            &person.mobile,
            "X4RTBPFW4",
            &citizen.email,
            &citizen.account_id,
        ],
    );
}

/// The `idp_…` names an expression text uses.
fn series_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("idp_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names.sort();
    names.dedup();
    names
}

async fn the_dashboard_and_alerts_use_only_real_series(backend: Backend) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy");
    let dashboard = std::fs::read_to_string(root.join("grafana-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&dashboard).expect("valid JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    assert!(exprs.len() >= 15, "{}", exprs.len());
    let alerts = std::fs::read_to_string(root.join("prometheus-alerts.yml")).unwrap();
    assert!(alerts.starts_with("# ") && alerts.contains("\ngroups:\n"));
    assert!(!alerts.contains('\t'), "YAML has no tabs");
    for wanted in [
        "IdpHigh5xxRate",
        "IdpSlowApprovals",
        "IdpDeliveryFailures",
        "IdpRedisErrors",
        "IdpNotReady",
    ] {
        assert!(alerts.contains(&format!("- alert: {wanted}\n")), "{wanted}");
    }

    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    // One request of the decision route, so that its histogram exists.
    let _ = app
        .http
        .post(app.url("/api/device/v1/challenges/x/decision"))
        .send()
        .await
        .unwrap();
    let (_, samples) = scrape(&app).await;
    let known: Vec<&str> = samples
        .keys()
        .map(|k| k.split('{').next().unwrap())
        .collect();
    // promtool, when installed (Debian's `prometheus` package), checks the
    // rules; it is not required.
    if let Ok(out) = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(root.join("prometheus-alerts.yml"))
        .output()
    {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let used = series_names(&(exprs.join("\n") + &alerts));
    assert!(used.len() >= 15, "{used:?}");
    for name in used {
        if backend == Backend::Embedded && name.starts_with("idp_ephemeral_") {
            continue; // Redis only
        }
        assert!(known.contains(&name.as_str()), "{name} is not exposed");
    }
}

async fn verification_decisions_and_delivery_failures_are_counted(backend: Backend) {
    use idp_server::notify::{Notifier, SmsMessage};
    use idp_server::verification::{self, Agent, Decision, Place};
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let (_, before) = scrape(&app).await;
    let person = Person::new(8);
    let (reference, _) = idp_tests::enrolment::face_to_face_reference(&app, &person).await;
    let (_, requested) = scrape(&app).await;
    let clerk = Agent {
        id: uuid::Uuid::new_v4().to_string(),
        username: "clerk-metrics".into(),
        role: idp_server::domain::agent::Role::Clerk,
        office: Some("LYON01".into()),
    };
    let decided = verification::decide_face_to_face(
        &app.core,
        &clerk,
        &reference,
        Place::Office("LYON01".into()),
        Decision::Verified,
    )
    .await
    .split()
    .unwrap();
    assert!(decided.is_ok(), "{decided:?}");

    // A gateway that is not there: the failure is counted by the app's metrics.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}/sms");
    let vars = [
        ("IDP__NOTIFY__SMS", "http"),
        ("IDP__NOTIFY__SMS_HTTP__URL", url.as_str()),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let config = idp_server::config::Config::load_from(None, vars).unwrap();
    let gateway = Notifier::from_config(&config.notify)
        .unwrap()
        .counting(app.core.metrics.notify_counters());
    let failed = gateway
        .send_sms(&SmsMessage {
            to: person.mobile.clone(),
            text: "test".into(),
        })
        .await;
    assert!(failed.is_err());
    let (text, after) = scrape(&app).await;

    let step = "idp_enrolment_steps_total{step=\"verification_requested_face_to_face\"}";
    assert_eq!(delta(&before, &requested, step), 1.0);
    let decision = |d: &str| {
        delta(
            &requested,
            &after,
            &format!(
                "idp_verification_decisions_total{{channel=\"face_to_face\",decision=\"{d}\"}}"
            ),
        )
    };
    assert_eq!(decision("verified"), 1.0);
    assert_eq!(decision("rejected"), 0.0);
    // The activation code goes by SMS and email; the broken gateway fails once.
    let d = |series: &str| delta(&requested, &after, series);
    assert_eq!(d("idp_messages_sent_total{channel=\"sms\"}"), 1.0);
    assert_eq!(d("idp_messages_sent_total{channel=\"email\"}"), 1.0);
    assert_eq!(
        d("idp_message_delivery_failures_total{channel=\"sms\"}"),
        1.0
    );
    assert_eq!(
        d("idp_message_delivery_failures_total{channel=\"email\"}"),
        0.0
    );
    assert_bounded(&text, &[&person.email, &person.mobile, &reference]);
}
