//! The device API under races and store failures: parallel activation-code
//! requests never answer 500 and are counted exactly; a signed device request
//! cannot be replayed after Redis lost its data.

use std::time::Duration;

use diesel::prelude::*;
use futures_util::future::join_all;
use idp_server::store::schema::activation_codes;
use idp_tests::authenticator::Authenticator;
use idp_tests::enrolment::messages_to;
use idp_tests::oidc::verified_with_activation_code;
use idp_tests::{Backend, TestApp, TestEnv, both_backends};

both_backends!(
    parallel_activation_code_requests_are_counted_exactly,
    parallel_activation_codes_replace_each_other,
    replays_are_refused_after_the_replay_cache_is_lost,
);

const PIN: &str = "2580";
/// New activation codes a citizen may request per hour (DESIGN §7).
const CODES_PER_HOUR: usize = 3;

/// The six digits of an activation-code SMS.
fn code_of(text: &str) -> String {
    let start = text
        .find("activation de l'application : ")
        .map(|i| i + "activation de l'application : ".len())
        .unwrap_or_else(|| panic!("no code in {text}"));
    text[start..start + 6].to_owned()
}

async fn parallel_activation_code_requests_are_counted_exactly(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let e164 = "+33622334455";
    let (citizen, _first) = verified_with_activation_code(&app, e164).await;
    let device = Authenticator::new(app.http.clone(), &app.base, &app.base).unwrap();

    let answers =
        join_all((0..10).map(|_| device.request_code(&citizen.email, &citizen.password))).await;
    let statuses: Vec<u16> = answers
        .iter()
        .map(|a| a.as_ref().map_or_else(|e| e.status, |_| 202))
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 500).count(),
        0,
        "no 500: {statuses:?} {answers:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 202).count(),
        CODES_PER_HOUR,
        "exactly the hourly limit succeeds: {statuses:?}"
    );
    for answer in &answers {
        if let Err(e) = answer {
            assert_eq!((e.status, e.code()), (429, "throttled"), "{answers:?}");
        }
    }

    // One code is stored, and it is one of those sent.
    let id = citizen.account_id.clone();
    let rows: i64 = app
        .core
        .db
        .read_blocking(move |conn| {
            Ok(activation_codes::table
                .filter(activation_codes::account_id.eq(&id))
                .count()
                .get_result(conn)?)
        })
        .unwrap();
    assert_eq!(rows, 1);
    let sms: Vec<String> = messages_to(&app, e164)
        .await
        .iter()
        .map(|m| code_of(&m.text))
        .collect();
    assert_eq!(sms.len(), 1 + CODES_PER_HOUR, "{sms:?}");
    let mut device = device;
    let mut activated = 0;
    for code in sms.iter().rev() {
        if device
            .activate(&citizen.email, &citizen.password, code, PIN, "Pixel")
            .await
            .is_ok()
        {
            activated += 1;
            break;
        }
    }
    assert_eq!(activated, 1, "one of the codes sent is the stored one");
}

/// What the endpoint does once the limits let a request through, ten times at
/// once: each issue replaces the previous code, none fails.
async fn parallel_activation_codes_replace_each_other(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let e164 = "+33622334466";
    let (citizen, _first) = verified_with_activation_code(&app, e164).await;
    let results = join_all((0..10).map(|_| {
        idp_server::verification::issue_activation_code(&app.core, &citizen.account_id, "test")
    }))
    .await;
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    let id = citizen.account_id.clone();
    let rows: i64 = app
        .core
        .db
        .read_blocking(move |conn| {
            Ok(activation_codes::table
                .filter(activation_codes::account_id.eq(&id))
                .count()
                .get_result(conn)?)
        })
        .unwrap();
    assert_eq!(rows, 1);
}

/// `GET /api/device/v1/devices` with the proof `proof`: status and body.
async fn list_with(app: &TestApp, proof: &str) -> (u16, serde_json::Value) {
    let response = app
        .http
        .get(app.url("/api/device/v1/devices"))
        .header("Authorization", format!("Device {proof}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// A signed request accepted once, then replayed after the ephemeral store
/// lost everything it remembered: a wiped Redis namespace (as after a restart
/// without persistence), or a restarted embedded server (its in-process
/// store starts empty). The replay is refused; new requests pass again.
async fn replays_are_refused_after_the_replay_cache_is_lost(backend: Backend) {
    let env = TestEnv::new(backend);
    let first = env.spawn().await;
    let issuer = first.base.clone();
    let e164 = "+33622334477";
    let (citizen, code) = verified_with_activation_code(&first, e164).await;
    let mut device = Authenticator::new(first.http.clone(), &first.base, &issuer).unwrap();
    device
        .activate(&citizen.email, &citizen.password, &code, PIN, "Pixel")
        .await
        .expect("activation");

    let proof = device.request_proof("GET", "/api/device/v1/devices");
    let (status, body) = list_with(&first, &proof).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = list_with(&first, &proof).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_device_request")),
        "an immediate replay is refused: {body}"
    );

    // The ephemeral store forgets everything.
    let app = match &env.redis {
        Some(namespace) => {
            namespace.wipe();
            first
        }
        None => {
            first.stop().await;
            env.spawn_replica(&issuer).await
        }
    };
    let (status, body) = list_with(&app, &proof).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_device_request")),
        "the replay is refused after the loss: {body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("replay")),
        "{body}"
    );

    // Requests signed after the lease are accepted again, once each.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let accepted = loop {
        let proof = device.request_proof("GET", "/api/device/v1/devices");
        if list_with(&app, &proof).await.0 == 200 {
            break proof;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "new signed requests pass again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let again = list_with(&app, &accepted).await;
    assert_eq!(again.0, 401, "{}", again.1);
    let (status, body) = list_with(&app, &proof).await;
    assert_eq!(status, 401, "the old request stays refused: {body}");
}
