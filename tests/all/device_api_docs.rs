//! docs/device-api.yaml against the live server: every device-API call of a
//! device's life (activation, codes, challenges, decisions, devices, and the
//! documented errors) is recorded and checked by an OpenAPI 3.1 validator
//! (tests/rp-python/openapi_check.py: path, method, status, content type,
//! and the JSON body against the response's schema).

use std::time::Duration;

use idp_tests::authenticator::{API, Authenticator};
use idp_tests::oidc::{register_client, verified_with_activation_code};
use idp_tests::{Backend, TestApp, TestEnv, both_backends};
use serde_json::{Value, json};

const CHECKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/openapi-check.sh");
const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/device-api.yaml");
const PIN: &str = "2580";

both_backends!(device_api_responses_match_the_openapi_document);

/// Recorded exchanges, in the checker's format.
#[derive(Default)]
struct Recorder(Vec<Value>);

impl Recorder {
    /// Sends `request`, records the answer, returns (status, JSON body).
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = if content_type.starts_with("application/json") {
            response.json::<Value>().await.unwrap()
        } else {
            // Streams (SSE) are not read; YAML and empty bodies are not JSON.
            Value::Null
        };
        self.0.push(json!({
            "method": method, "path": path, "status": status,
            "content_type": content_type, "body": body,
        }));
        (status, body)
    }
}

fn signed(
    app: &TestApp,
    device: &Authenticator,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let bare = path.split('?').next().unwrap();
    let proof = device.request_proof(method.as_str(), bare);
    app.http
        .request(method, app.url(path))
        .header("Authorization", format!("Device {proof}"))
}

/// A browser's eidas2 login up to the waiting page: the number shown.
async fn start_login(app: &TestApp, phone: &str) -> i64 {
    idp_tests::phone::at_waiting_page(&app.base, "formation", "openid", phone)
        .await
        .2
}

async fn device_api_responses_match_the_openapi_document(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    register_client(&app, "formation", &idp_tests::oidc::client_metadata()).unwrap();
    let phone = "+33677004217";
    let (citizen, code) = verified_with_activation_code(&app, phone).await;
    let mut device = Authenticator::new(app.http.clone(), &app.base, &app.base).unwrap();
    let jwk = device.public_jwk();
    let mut r = Recorder::default();
    let http = &app.http;
    let post = |path: &str| http.post(app.url(path));

    let openapi = format!("{API}/openapi.yaml");
    r.send("GET", &openapi, http.get(app.url(&openapi))).await;

    // Activation: malformed, wrong password, right, the same code again.
    let activation = format!("{API}/activation");
    let body = |password: &str, activation_code: &str| {
        json!({
            "email": citizen.email, "password": password, "activation_code": activation_code,
            "pin": PIN, "public_key": jwk, "name": "Pixel",
        })
    };
    r.send(
        "POST",
        &activation,
        post(&activation)
            .header("Content-Type", "application/json")
            .body("{"),
    )
    .await;
    let (status, _) = r
        .send(
            "POST",
            &activation,
            post(&activation).json(&body("wrong password!", &code)),
        )
        .await;
    assert_eq!(status, 401);
    r.send(
        "POST",
        &activation,
        post(&activation).json(&body(&citizen.password, "000000")),
    )
    .await;
    let (status, activated) = r
        .send(
            "POST",
            &activation,
            post(&activation).json(&body(&citizen.password, &code)),
        )
        .await;
    assert_eq!(status, 201, "{activated}");
    let device_id = activated["device_id"].as_str().unwrap().to_owned();
    // The device signs with its id as `kid` from now on.
    device.device_id = Some(device_id.clone());
    r.send(
        "POST",
        &activation,
        post(&activation).json(&body(&citizen.password, &code)),
    )
    .await;
    let big = json!({ "email": "x".repeat(20 * 1024) });
    r.send("POST", &activation, post(&activation).json(&big))
        .await;

    // A new code by SMS, then the hourly limit.
    let code_path = format!("{API}/activation/code");
    let credentials = json!({ "email": citizen.email, "password": citizen.password });
    for _ in 0..4 {
        r.send("POST", &code_path, post(&code_path).json(&credentials))
            .await;
    }
    let wrong = json!({ "email": citizen.email, "password": "not the password" });
    r.send("POST", &code_path, post(&code_path).json(&wrong))
        .await;

    // Challenges: none yet, a bad wait, unsigned, then one.
    let challenges = format!("{API}/challenges");
    let get = reqwest::Method::GET;
    r.send(
        "GET",
        &challenges,
        signed(&app, &device, get.clone(), &format!("{challenges}?wait=0")),
    )
    .await;
    r.send(
        "GET",
        &challenges,
        signed(
            &app,
            &device,
            get.clone(),
            &format!("{challenges}?wait=abc"),
        ),
    )
    .await;
    r.send("GET", &challenges, http.get(app.url(&challenges)))
        .await;
    let number = start_login(&app, phone).await;
    let (status, found) = r
        .send(
            "GET",
            &challenges,
            signed(&app, &device, get.clone(), &format!("{challenges}?wait=5")),
        )
        .await;
    assert_eq!(status, 200);
    let challenge = found["challenges"][0].clone();
    let events = format!("{API}/challenges/events");
    let stream = signed(&app, &device, get.clone(), &events).timeout(Duration::from_secs(2));
    r.send("GET", &events, stream).await;

    // Decisions: wrong PIN, wrong nonce, unknown challenge, approval, again.
    let id = challenge["id"].as_str().unwrap();
    let nonce = challenge["nonce"].as_str().unwrap();
    let decision_path = format!("{API}/challenges/{id}/decision");
    let decide = |jws: String, path: &str| {
        http.post(app.url(path))
            .header("Content-Type", "application/jose")
            .body(jws)
    };
    let jws = device.decision(id, nonce, "approve", Some("1357"), Some(number));
    let (status, wrong_pin) = r
        .send("POST", &decision_path, decide(jws, &decision_path))
        .await;
    assert_eq!(status, 403, "{wrong_pin}");
    let jws = device.decision(id, "not-the-nonce", "approve", Some(PIN), Some(number));
    r.send("POST", &decision_path, decide(jws, &decision_path))
        .await;
    let unknown = format!("{API}/challenges/unknown-challenge/decision");
    let jws = device.decision("unknown-challenge", nonce, "deny", None, None);
    r.send("POST", &unknown, decide(jws, &unknown)).await;
    let jws = device.decision(id, nonce, "approve", Some(PIN), Some(number));
    let (status, approved) = r
        .send("POST", &decision_path, decide(jws, &decision_path))
        .await;
    assert_eq!(status, 200, "{approved}");
    let jws = device.decision(id, nonce, "deny", None, None);
    r.send("POST", &decision_path, decide(jws, &decision_path))
        .await;

    // The connection history: the approval just made.
    let history = format!("{API}/history");
    let (status, page) = r
        .send(
            "GET",
            &history,
            signed(&app, &device, get.clone(), &format!("{history}?page=1")),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["logins"][0]["outcome"], "approved", "{page}");

    // Devices: list, rename (and an unknown one), revoke, then refused.
    let devices = format!("{API}/devices");
    r.send(
        "GET",
        &devices,
        signed(&app, &device, get.clone(), &devices),
    )
    .await;
    let this = format!("{API}/devices/{device_id}");
    let patch = reqwest::Method::PATCH;
    let rename =
        signed(&app, &device, patch.clone(), &this).json(&json!({ "name": "Pixel de Marie" }));
    let (status, _) = r.send("PATCH", &this, rename).await;
    assert_eq!(status, 200);
    let other = format!("{API}/devices/00000000-0000-4000-8000-000000000000");
    r.send(
        "PATCH",
        &other,
        signed(&app, &device, patch, &other).json(&json!({ "name": "x" })),
    )
    .await;
    let (status, _) = r
        .send(
            "DELETE",
            &this,
            signed(&app, &device, reqwest::Method::DELETE, &this),
        )
        .await;
    assert_eq!(status, 204);
    r.send("GET", &devices, signed(&app, &device, get, &devices))
        .await;

    // Every status class the API documents was exercised.
    let statuses: std::collections::BTreeSet<u64> =
        r.0.iter().filter_map(|e| e["status"].as_u64()).collect();
    eprintln!("device API statuses checked: {statuses:?}");
    for expected in [200, 201, 202, 204, 400, 401, 403, 404, 409, 413, 429] {
        assert!(
            statuses.contains(&expected),
            "no {expected} among {statuses:?}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exchanges.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&r.0).unwrap()).unwrap();
    let run = tokio::process::Command::new(CHECKER)
        .arg(SPEC)
        .arg(&file)
        .output();
    // Generous: the first run may build the tests' Python virtualenv.
    let output = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the OpenAPI check finishes")
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    eprintln!("{report}");
    assert!(
        output.status.success(),
        "responses that do not match docs/device-api.yaml: {report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(parsed["checked"].as_u64(), Some(r.0.len() as u64));
}
