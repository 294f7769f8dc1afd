//! Interoperability with a non-Rust relying party: Python's authlib runs the
//! whole code flow (PKCE S256, state, nonce, acr_values) against the real
//! server, verifies the ID token and reads userinfo
//! (tests/rp-python/rp.py, run through tests/scripts/python-rp.sh, which
//! prepares its virtualenv from pinned PyPI packages).

use std::process::Stdio;
use std::time::Duration;

use idp_tests::oidc::{self as kit, REDIRECT_URI};
use idp_tests::{Backend, TestEnv, both_backends};

both_backends!(authlib_completes_the_code_flow);

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/python-rp.sh");
/// Generous: the first run creates the venv and installs from PyPI.
const RP_TIMEOUT: Duration = Duration::from_secs(600);
const CLIENT_ID: &str = "python-authlib-rp";

async fn authlib_completes_the_code_flow(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = kit::register_client(&app, CLIENT_ID, &kit::client_metadata()).expect("a secret");
    let citizen = kit::create_citizen(&app, true);

    let run = tokio::process::Command::new(SCRIPT)
        .args([
            app.base.as_str(),
            CLIENT_ID,
            &secret,
            &citizen.email,
            &citizen.password,
            REDIRECT_URI,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RP_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("{SCRIPT} did not finish within {RP_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the authlib relying party failed ({}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}",
        output.status
    );
    let line = stdout.lines().last().unwrap_or_default();
    eprintln!("authlib RP ({backend:?}): {line}");
    let result: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("the RP's last stdout line is not JSON ({e}):\n{stdout}\n--- stderr ---\n{stderr}")
    });

    let context = format!("RP output: {result}\n--- stderr ---\n{stderr}");
    assert_eq!(result["acr"], "eidas1", "{context}");
    assert_eq!(result["given_name"], "Jeanne Marie", "{context}");
    assert_eq!(result["family_name"], "DURAND", "{context}");
    assert_eq!(result["birthplace"], "2A004", "{context}");
    assert_eq!(result["userinfo_sub_matches"], true, "{context}");
    let sub = result["sub"].as_str().unwrap_or_default();
    assert!(
        sub.len() == 64 && sub.bytes().all(|b| b.is_ascii_hexdigit()),
        "pairwise sub is 64 hex characters: {context}"
    );
    assert_ne!(sub, citizen.account_id, "the account id is not disclosed");
}
