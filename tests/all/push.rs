//! Web Push to the app (issue #18): a push-service stand-in on loopback
//! (allowlisted by the test's configuration) receives the messages; the test
//! checks the VAPID token and the RFC 8030 headers, then decrypts the body
//! with Python's `http_ece` (tests/rp-python/push_decrypt.py), an
//! implementation independent of the server's, using the subscription's
//! private key generated here.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use diesel::prelude::*;
use idp_server::store::schema::{audit_log, push_subscriptions};
use idp_tests::authenticator::{API, ApiError, Authenticator};
use idp_tests::browser::Browser;
use idp_tests::oidc::{manual_authorize, register_client};
use idp_tests::phone::{open_phone_page, shown_number, submit_phone};
use idp_tests::{Backend, TestApp, TestEnv, both_backends, eventually};
use josekit::jwk::Jwk;
use josekit::jws::ES256;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

both_backends!(
    push_calls_match_the_openapi_document,
    a_closed_app_is_woken_by_a_push,
    gone_subscriptions_are_deleted_and_busy_services_retried,
    a_slow_push_service_does_not_delay_the_login_page,
    subscriptions_are_checked_and_follow_the_device,
    vapid_rotation_keeps_existing_subscriptions_working,
    the_approver_is_read_with_its_active_devices_subscriptions,
);

const PIN: &str = "2580";
const CLIENT: &str = "push-rp";
const SUBJECT: &str = "mailto:exploitation@sesame.test";
const CHECKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/openapi-check.sh");
const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/device-api.yaml");
const DECRYPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/push-decrypt.sh");

// ------------------------------------------------------------ the stand-in

/// What the stand-in answers to one request.
#[derive(Clone, Copy)]
enum Reply {
    Status(u16),
    /// Waits, then answers.
    Slow(Duration, u16),
}

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    at: Instant,
}

#[derive(Default)]
struct StandInState {
    received: Mutex<Vec<Received>>,
    /// Scripted replies, in order; `201 Created` once they run out.
    replies: Mutex<VecDeque<Reply>>,
}

/// A push service on 127.0.0.1 (RFC 8030 §5: `POST` a message, `201`).
struct StandIn {
    origin: String,
    state: Arc<StandInState>,
    handle: actix_web::dev::ServerHandle,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<StandInState>,
) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    state.received.lock().unwrap().push(Received {
        path: req.path().to_owned(),
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    let reply = state.replies.lock().unwrap().pop_front();
    let status = match reply {
        None => 201,
        Some(Reply::Status(s)) => s,
        Some(Reply::Slow(wait, s)) => {
            tokio::time::sleep(wait).await;
            s
        }
    };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .insert_header(("Retry-After", "0"))
        .finish()
}

impl StandIn {
    async fn start() -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(StandInState::default());
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        StandIn {
            origin,
            state,
            handle,
        }
    }

    fn script(&self, replies: &[Reply]) {
        self.state
            .replies
            .lock()
            .unwrap()
            .extend(replies.iter().copied());
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The `n`-th request (0-based), waiting up to `limit` for it.
    async fn nth(&self, n: usize, limit: Duration) -> Received {
        let arrived = eventually(limit, || async { self.received().len() > n }).await;
        assert!(
            arrived,
            "no push #{n} within {limit:?}: {:?}",
            self.received().len()
        );
        self.received()[n].clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

// --------------------------------------------------- the app's subscription

/// The browser side of a Push API subscription: its key pair and secret.
struct Subscription {
    endpoint: String,
    p256dh: String,
    auth: String,
    private_key: String,
}

impl Subscription {
    fn new(stand_in: &StandIn, name: &str) -> Self {
        let key = ES256.generate_key_pair().unwrap();
        let jwk = key.to_jwk_key_pair();
        let param = |p: &str| {
            B64.decode(jwk.parameter(p).unwrap().as_str().unwrap())
                .unwrap()
        };
        let mut point = vec![4];
        point.extend(param("x"));
        point.extend(param("y"));
        Subscription {
            endpoint: format!("{}/push/{name}", stand_in.origin),
            p256dh: B64.encode(point),
            auth: B64.encode(&uuid::Uuid::new_v4().as_bytes()[..]),
            private_key: B64.encode(param("d")),
        }
    }

    fn body(&self, server_key: Option<&str>) -> Value {
        let mut body = json!({
            "endpoint": self.endpoint,
            "expirationTime": null,
            "keys": { "p256dh": self.p256dh, "auth": self.auth },
        });
        if let Some(key) = server_key {
            body["server_key"] = json!(key);
        }
        body
    }

    /// Decrypts message bodies with Python's http_ece.
    async fn decrypt(&self, bodies: &[&Received]) -> Vec<Value> {
        let request = json!({
            "private_key": self.private_key,
            "auth": self.auth,
            "bodies": bodies.iter().map(|r| B64.encode(&r.body)).collect::<Vec<_>>(),
        });
        let mut child = tokio::process::Command::new(DECRYPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {DECRYPT}: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(request.to_string().as_bytes())
            .await
            .unwrap();
        drop(stdin);
        // Generous: the first run may create the venv from PyPI.
        let output = tokio::time::timeout(Duration::from_secs(600), child.wait_with_output())
            .await
            .expect("http_ece finishes")
            .unwrap();
        assert!(
            output.status.success(),
            "http_ece failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let out: Value = serde_json::from_slice(&output.stdout).unwrap();
        out["plaintexts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| serde_json::from_str(p.as_str().unwrap()).unwrap())
            .collect()
    }
}

async fn subscribe(device: &Authenticator, body: &Value) -> Result<Value, ApiError> {
    device
        .call(
            reqwest::Method::PUT,
            &format!("{API}/push/subscription"),
            Some(body),
        )
        .await
}

// ----------------------------------------------------------------- helpers

fn push_config(env: &TestEnv, stand_in: &StandIn) -> idp_server::config::Config {
    let mut config = env.config();
    config.push.allowed_origins = vec![stand_in.origin.clone()];
    config.push.vapid_subject = SUBJECT.to_owned();
    config.push.retry_base_ms = 50;
    config.push.timeout_ms = 5000;
    config
}

async fn spawn(backend: Backend) -> (StandIn, TestEnv, TestApp, String) {
    let stand_in = StandIn::start().await;
    let env = TestEnv::new(backend);
    let app = env.spawn_with(push_config(&env, &stand_in)).await;
    let secret = register_client(&app, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    (stand_in, env, app, secret)
}

fn phone_number(n: u32) -> (String, String) {
    (
        format!("06 {:02} 55 42 {:02}", 10 + n, 10 + n),
        format!("+336{:02}5542{:02}", 10 + n, 10 + n),
    )
}

/// A verified citizen with phone `n` and an activated app on `app`.
async fn activated(app: &TestApp, n: u32) -> (String, Authenticator) {
    let (national, e164) = phone_number(n);
    let (citizen, code) = idp_tests::oidc::verified_with_activation_code(app, &e164).await;
    let mut device = Authenticator::new(app.http.clone(), &app.base, &app.base).unwrap();
    device
        .activate(&citizen.email, &citizen.password, &code, PIN, "Pixel")
        .await
        .expect("activation");
    (national, device)
}

async fn server_key(app: &TestApp) -> String {
    let key = app.get_json(&format!("{API}/push/key")).await;
    assert_eq!(key["enabled"], true, "{key}");
    key["public_key"].as_str().unwrap().to_owned()
}

fn subscription_count(app: &TestApp) -> i64 {
    app.core
        .db
        .read_blocking(|conn| Ok(push_subscriptions::table.count().get_result(conn)?))
        .unwrap()
}

fn audit_count(app: &TestApp, action: &str) -> i64 {
    let action = action.to_owned();
    app.core
        .db
        .read_blocking(move |conn| {
            Ok(audit_log::table
                .filter(audit_log::action.eq(&action))
                .count()
                .get_result(conn)?)
        })
        .unwrap()
}

/// Checks the RFC 8030 headers and the VAPID token (RFC 8292) of a push;
/// returns the `k` it was signed with.
fn check_headers(push: &Received, stand_in: &StandIn, max_ttl: i64, topic: Option<&str>) -> String {
    let h = &push.headers;
    assert_eq!(h["content-encoding"], "aes128gcm", "{h:?}");
    assert_eq!(h["urgency"], "high", "{h:?}");
    let ttl: i64 = h["ttl"].parse().unwrap();
    assert!(ttl > 0 && ttl <= max_ttl, "TTL {ttl}");
    assert_eq!(h.get("topic").map(String::as_str), topic, "{h:?}");
    let authorization = &h["authorization"];
    let rest = authorization.strip_prefix("vapid t=").expect(authorization);
    let (jwt, k) = rest.split_once(", k=").expect(authorization);
    let point = B64.decode(k).unwrap();
    assert_eq!((point.len(), point[0]), (65, 4));
    let jwk = Jwk::from_bytes(
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": B64.encode(&point[1..33]),
            "y": B64.encode(&point[33..]),
        })
        .to_string(),
    )
    .unwrap();
    let verifier = ES256.verifier_from_jwk(&jwk).unwrap();
    let (payload, header) =
        josekit::jwt::decode_with_verifier(jwt, &verifier).expect("a valid VAPID signature");
    assert_eq!(header.algorithm(), Some("ES256"));
    let claims: Value = serde_json::from_str(&payload.to_string()).unwrap();
    assert_eq!(claims["aud"], stand_in.origin, "{claims}");
    assert_eq!(claims["sub"], SUBJECT, "{claims}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp}, now {now}");
    k.to_owned()
}

async fn metrics(app: &TestApp) -> String {
    app.get("/metrics").await.text().await.unwrap()
}

/// From the waiting page (approved) to the redirect to the client with a code.
async fn finish(browser: &mut Browser, tx: &str) -> HashMap<String, String> {
    let mut page = browser
        .get(&format!("/login/telephone/attente?tx={tx}"))
        .await;
    for _ in 0..5 {
        let location = page.location.clone().expect("a redirect");
        if location.starts_with(idp_tests::oidc::REDIRECT_URI) {
            return url::Url::parse(&location)
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect();
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

// ------------------------------------------------------------------- tests

async fn a_closed_app_is_woken_by_a_push(backend: Backend) {
    let (stand_in, _env, app, secret) = spawn(backend).await;
    let (phone, device) = activated(&app, 1).await;
    let sub = Subscription::new(&stand_in, "one");
    let key = server_key(&app).await;
    assert_eq!(
        subscribe(&device, &sub.body(Some(&key))).await.unwrap()["notifications"],
        true
    );
    let listed = device.devices().await.unwrap();
    assert_eq!(listed[0]["notifications"], true, "{listed:?}");

    // The phone-number step; the app is closed (nothing polls).
    let request = manual_authorize(&app.base, CLIENT, "openid", &[("acr_values", "eidas2")]);
    let mut browser = Browser::new(&app.base);
    let (tx, csrf) = open_phone_page(&mut browser, &request.url).await;
    let started = Instant::now();
    let waiting = submit_phone(&mut browser, &tx, &csrf, &phone).await;
    let number = shown_number(&waiting.body);
    let push = stand_in.nth(0, Duration::from_secs(1)).await;
    let latency = push.at.duration_since(started);
    eprintln!("push received {latency:?} after the phone-number step ({backend:?})");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert_eq!(push.path, "/push/one");
    assert_eq!(check_headers(&push, &stand_in, 120, Some("login")), key);

    let message = sub.decrypt(&[&push]).await.remove(0);
    assert_eq!(message["type"], "login", "{message}");
    assert_eq!(message["partner"], format!("Service {CLIENT}"), "{message}");
    assert_eq!(message["number_matching"], true, "{message}");
    let mut fields: Vec<&str> = message
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    // Only what the app needs to fetch the challenge: no number, no nonce.
    assert_eq!(
        fields,
        [
            "challenge",
            "expires_at",
            "number_matching",
            "partner",
            "type"
        ]
    );

    // Woken by the push, the app fetches the challenge (no long-poll).
    let challenges = device.challenges(0).await.unwrap();
    assert_eq!(challenges.len(), 1);
    assert_eq!(challenges[0]["id"], message["challenge"]);
    assert_eq!(
        device.approve(&challenges[0], PIN, number).await.unwrap()["status"],
        "approved"
    );
    let params = finish(&mut browser, &tx).await;
    let code = params.get("code").expect("a code");
    let (status, tokens) =
        idp_tests::oidc::exchange(&app, code, &request.verifier, (CLIENT, &secret)).await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims: Value =
        serde_json::from_slice(&B64.decode(id_token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["acr"], "eidas2", "{claims}");

    // The end of the request is pushed too (closes the notification).
    let ended = stand_in.nth(1, Duration::from_secs(8)).await;
    check_headers(&ended, &stand_in, 300, Some("login"));
    let ended = sub.decrypt(&[&ended]).await.remove(0);
    assert_eq!(
        ended,
        json!({ "type": "login_ended", "challenge": message["challenge"], "reason": "approved" })
    );

    let text = metrics(&app).await;
    for line in [
        "idp_pushes_sent_total{code=\"login\"} 1\n",
        "idp_pushes_sent_total{code=\"login_ended\"} 1\n",
        "idp_push_subscriptions 1\n",
        "idp_challenge_fetch_seconds_count 1\n",
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
}

async fn gone_subscriptions_are_deleted_and_busy_services_retried(backend: Backend) {
    let (stand_in, _env, app, _) = spawn(backend).await;
    let (phone, device) = activated(&app, 2).await;
    let sub = Subscription::new(&stand_in, "busy");
    subscribe(&device, &sub.body(None)).await.unwrap();

    // 429 then 503: retried with backoff within the TTL, then delivered.
    stand_in.script(&[Reply::Status(429), Reply::Status(503)]);
    let (_browser, _tx, _number) =
        idp_tests::phone::at_waiting_page(&app.base, CLIENT, "openid", &phone).await;
    let third = stand_in.nth(2, Duration::from_secs(5)).await;
    let first = &stand_in.received()[0];
    assert_eq!(
        sub.decrypt(&[first, &third])
            .await
            .iter()
            .map(|m| m["type"].clone())
            .collect::<Vec<_>>(),
        [json!("login"), json!("login")]
    );
    assert!(
        eventually(Duration::from_secs(2), || async {
            metrics(&app)
                .await
                .contains("idp_pushes_sent_total{code=\"login\"} 1\n")
        })
        .await
    );

    // 410 Gone: the subscription is deleted (the next login pushes nothing).
    stand_in.script(&[Reply::Status(410)]);
    let before = stand_in.received().len();
    let (_browser, _tx, _number) =
        idp_tests::phone::at_waiting_page(&app.base, CLIENT, "openid", &phone).await;
    stand_in.nth(before, Duration::from_secs(2)).await;
    assert!(
        eventually(Duration::from_secs(3), || async {
            subscription_count(&app) == 0
        })
        .await
    );
    assert_eq!(audit_count(&app, "push.subscription_gone"), 1);
    // The failure is counted once the delivery task returns, just after the
    // subscription is deleted.
    assert!(
        eventually(Duration::from_secs(2), || async {
            metrics(&app)
                .await
                .contains("idp_push_failures_total{outcome=\"gone\"} 1\n")
        })
        .await
    );
    let text = metrics(&app).await;
    assert!(text.contains("idp_push_subscriptions 0\n"), "{text}");
    let listed = device.devices().await.unwrap();
    assert_eq!(listed[0]["notifications"], false, "{listed:?}");

    let after = stand_in.received().len();
    let (_browser, _tx, _number) =
        idp_tests::phone::at_waiting_page(&app.base, CLIENT, "openid", &phone).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stand_in.received().len(),
        after,
        "nothing is pushed to a gone subscription"
    );
}

async fn a_slow_push_service_does_not_delay_the_login_page(backend: Backend) {
    let (stand_in, _env, app, _) = spawn(backend).await;
    let (phone, device) = activated(&app, 3).await;
    let sub = Subscription::new(&stand_in, "slow");
    subscribe(&device, &sub.body(None)).await.unwrap();
    stand_in.script(&[Reply::Slow(Duration::from_secs(3), 201)]);

    let request = manual_authorize(&app.base, CLIENT, "openid", &[("acr_values", "eidas2")]);
    let mut browser = Browser::new(&app.base);
    let (tx, csrf) = open_phone_page(&mut browser, &request.url).await;
    let started = Instant::now();
    let waiting = submit_phone(&mut browser, &tx, &csrf, &phone).await;
    let took = started.elapsed();
    eprintln!("phone step with a push service taking 3 s: {took:?}");
    assert!(took < Duration::from_millis(1000), "{took:?}");
    assert!(waiting.body.contains("id=\"match-number\""));
    // The push is still on its way, and the open app still gets the challenge.
    assert_eq!(device.challenges(0).await.unwrap().len(), 1);
    stand_in.nth(0, Duration::from_secs(1)).await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            metrics(&app)
                .await
                .contains("idp_pushes_sent_total{code=\"login\"} 1\n")
        })
        .await
    );
}

async fn subscriptions_are_checked_and_follow_the_device(backend: Backend) {
    let (stand_in, _env, app, _) = spawn(backend).await;
    let (_phone, device) = activated(&app, 4).await;
    let sub = Subscription::new(&stand_in, "four");
    let port = stand_in
        .origin
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    for endpoint in [
        "https://push.evil.example/x".to_owned(),
        format!("http://127.0.0.1:{}/push/x", port + 1),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://user:pw@127.0.0.1:{port}/push/x"),
    ] {
        let body =
            json!({ "endpoint": endpoint, "keys": { "p256dh": sub.p256dh, "auth": sub.auth } });
        let refused = subscribe(&device, &body).await.expect_err(&endpoint);
        assert_eq!(
            (refused.status, refused.code()),
            (400, "invalid_request"),
            "{endpoint}: {}",
            refused.body
        );
    }
    for (p256dh, auth) in [
        (B64.encode([4u8; 65]), sub.auth.clone()),
        (sub.p256dh.clone(), B64.encode([1u8; 8])),
    ] {
        let body = json!({ "endpoint": sub.endpoint, "keys": { "p256dh": p256dh, "auth": auth } });
        let refused = subscribe(&device, &body).await.expect_err("bad keys");
        assert_eq!(refused.status, 400, "{}", refused.body);
    }
    let unsigned = app
        .http
        .put(app.url(&format!("{API}/push/subscription")))
        .json(&sub.body(None))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(subscription_count(&app), 0);
    assert!(
        stand_in.received().is_empty(),
        "nothing was sent to a refused endpoint"
    );

    // Renewal replaces; turning off deletes; revocation deletes.
    subscribe(&device, &sub.body(None)).await.unwrap();
    let renewed = Subscription::new(&stand_in, "four-renewed");
    subscribe(&device, &renewed.body(None)).await.unwrap();
    assert_eq!(subscription_count(&app), 1);
    device
        .call(
            reqwest::Method::DELETE,
            &format!("{API}/push/subscription"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(subscription_count(&app), 0);
    assert_eq!(device.devices().await.unwrap()[0]["notifications"], false);
    subscribe(&device, &renewed.body(None)).await.unwrap();
    let id = device.device_id.clone().unwrap();
    device.revoke(&id).await.unwrap();
    assert_eq!(subscription_count(&app), 0);
    assert_eq!(audit_count(&app, "push.subscribed"), 3);
}

async fn vapid_rotation_keeps_existing_subscriptions_working(backend: Backend) {
    let (stand_in, env, app, _) = spawn(backend).await;
    let env = &env;
    let (phone, device) = activated(&app, 5).await;
    let old_key = server_key(&app).await;
    let sub = Subscription::new(&stand_in, "five");
    subscribe(&device, &sub.body(Some(&old_key))).await.unwrap();

    // `idp-admin keys rotate-vapid`, as the operator runs it; the server
    // picks the new key up (pub/sub signal, or the reload timer: 1 s in tests).
    use clap::Parser;
    let cli =
        idp_admin::Cli::try_parse_from(["idp-admin", "--json", "keys", "rotate-vapid"]).unwrap();
    let mut out = Vec::new();
    idp_admin::run_with(cli, push_config(env, &stand_in), None, &mut out)
        .await
        .unwrap();
    let rotated: Value = serde_json::from_slice(&out).unwrap();
    assert!(rotated["previous_kid"].is_string(), "{rotated}");
    assert_ne!(rotated["new_kid"], rotated["previous_kid"]);
    let mut new_key = old_key.clone();
    for _ in 0..100 {
        new_key = server_key(&app).await;
        if new_key != old_key {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(
        new_key, old_key,
        "the server did not pick up the rotated key"
    );

    // Not renewed yet: still signed with the key it was made with.
    let (_browser, _tx, _number) =
        idp_tests::phone::at_waiting_page(&app.base, CLIENT, "openid", &phone).await;
    let push = stand_in.nth(0, Duration::from_secs(2)).await;
    assert_eq!(check_headers(&push, &stand_in, 120, Some("login")), old_key);

    // Renewed with the new key: signed with it.
    subscribe(&device, &sub.body(Some(&new_key))).await.unwrap();
    let (_browser, _tx, _number) =
        idp_tests::phone::at_waiting_page(&app.base, CLIENT, "openid", &phone).await;
    // The first login is superseded (no "ended" message): the next is #1.
    let push = stand_in.nth(1, Duration::from_secs(2)).await;
    assert_eq!(check_headers(&push, &stand_in, 120, Some("login")), new_key);
    assert_eq!(sub.decrypt(&[&push]).await[0]["type"], "login");
    let unknown = subscribe(&device, &sub.body(Some("BAAA")))
        .await
        .expect_err("unknown key");
    assert_eq!(unknown.status, 400);
}

/// Two replicas on PostgreSQL + Redis: the app subscribes through one, the
/// browser logs in through the other, the push wakes the app, and the
/// approval made through the first reaches the browser on the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_wakes_the_app_across_replicas() {
    if !Backend::PostgresRedis.available() {
        return;
    }
    let stand_in = StandIn::start().await;
    let env = TestEnv::new(Backend::PostgresRedis);
    let a = env.spawn_with(push_config(&env, &stand_in)).await;
    let b = env
        .spawn_replica_with(push_config(&env, &stand_in), &a.base)
        .await;
    register_client(&a, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    let (phone, device) = activated(&a, 6).await;
    let sub = Subscription::new(&stand_in, "replicas");
    subscribe(&device, &sub.body(None)).await.unwrap();

    let request = manual_authorize(&a.base, CLIENT, "openid", &[("acr_values", "eidas2")]);
    let mut browser = Browser::new(&b.base);
    let (tx, csrf) = open_phone_page(&mut browser, &request.url.replace(&a.base, &b.base)).await;
    let started = Instant::now();
    let waiting = submit_phone(&mut browser, &tx, &csrf, &phone).await;
    let push = stand_in.nth(0, Duration::from_secs(1)).await;
    assert!(push.at.duration_since(started) < Duration::from_secs(1));
    let message = sub.decrypt(&[&push]).await.remove(0);
    let challenges = device.challenges(0).await.unwrap();
    assert_eq!(challenges[0]["id"], message["challenge"]);
    device
        .approve(&challenges[0], PIN, shown_number(&waiting.body))
        .await
        .unwrap();
    let params = finish(&mut browser, &tx).await;
    assert!(params.contains_key("code"), "{params:?}");
    let ended = stand_in.nth(1, Duration::from_secs(8)).await;
    assert_eq!(sub.decrypt(&[&ended]).await[0]["reason"], "approved");
}

/// The push calls against docs/device-api.yaml (the same checker as
/// device_api_docs.rs).
async fn push_calls_match_the_openapi_document(backend: Backend) {
    let (stand_in, _env, app, _) = spawn(backend).await;
    let (_phone, device) = activated(&app, 7).await;
    let sub = Subscription::new(&stand_in, "docs");
    let mut exchanges = Vec::new();
    let mut record =
        async |method: reqwest::Method, path: &str, body: Option<&Value>, signed: bool| {
            let mut request = app.http.request(method.clone(), app.url(path));
            if signed {
                let proof = device.request_proof(method.as_str(), path);
                request = request.header("Authorization", format!("Device {proof}"));
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body: Value = if content_type.starts_with("application/json") {
                response.json().await.unwrap()
            } else {
                Value::Null
            };
            exchanges.push(json!({
                "method": method.as_str(), "path": path, "status": status,
                "content_type": content_type, "body": body,
            }));
            status
        };
    let key_path = format!("{API}/push/key");
    let sub_path = format!("{API}/push/subscription");
    let devices = format!("{API}/devices");
    assert_eq!(
        record(reqwest::Method::GET, &key_path, None, false).await,
        200
    );
    let outside = json!({ "endpoint": "https://push.evil.example/x", "keys": { "p256dh": sub.p256dh, "auth": sub.auth } });
    assert_eq!(
        record(reqwest::Method::PUT, &sub_path, Some(&outside), true).await,
        400
    );
    assert_eq!(
        record(
            reqwest::Method::PUT,
            &sub_path,
            Some(&sub.body(None)),
            false
        )
        .await,
        401
    );
    assert_eq!(
        record(reqwest::Method::PUT, &sub_path, Some(&sub.body(None)), true).await,
        200
    );
    assert_eq!(
        record(reqwest::Method::GET, &devices, None, true).await,
        200
    );
    assert_eq!(
        record(reqwest::Method::DELETE, &sub_path, None, true).await,
        204
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exchanges.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&exchanges).unwrap()).unwrap();
    let run = tokio::process::Command::new(CHECKER)
        .arg(SPEC)
        .arg(&file)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the OpenAPI check finishes")
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "responses that do not match docs/device-api.yaml: {report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(parsed["checked"].as_u64(), Some(exchanges.len() as u64));
}

async fn the_approver_is_read_with_its_active_devices_subscriptions(backend: Backend) {
    let (stand_in, _env, app, _) = spawn(backend).await;
    let (_, e164) = phone_number(6);
    let (_, device) = activated(&app, 6).await;
    let approver = |app: &TestApp| {
        let e164 = e164.clone();
        app.core
            .db
            .read_blocking(move |conn| idp_server::store::accounts::approver_by_phone(conn, &e164))
            .unwrap()
    };
    let before = approver(&app).expect("an approver");
    assert!(before.push.is_empty(), "no subscription yet");

    let sub = Subscription::new(&stand_in, "six");
    subscribe(&device, &sub.body(None)).await.unwrap();
    let found = approver(&app).expect("an approver");
    assert_eq!(found.account_id, before.account_id);
    let ids: Vec<&str> = found.push.iter().map(|s| s.device_id.as_str()).collect();
    assert_eq!(ids, [device.device_id.as_deref().unwrap()]);
    assert_eq!(found.push[0].account_id, found.account_id);
    assert!(found.push[0].endpoint.ends_with("/push/six"));

    // A locked device is no approver, and neither is its subscription.
    let id = device.device_id.clone().unwrap();
    app.core
        .db
        .read_blocking(move |conn| {
            use idp_server::store::schema::devices;
            diesel::update(devices::table.filter(devices::id.eq(&id)))
                .set(devices::state.eq(idp_server::domain::device::DeviceState::Locked))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(approver(&app), None);
    assert_eq!(subscription_count(&app), 1, "the subscription itself stays");
}
