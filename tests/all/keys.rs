//! Signing keys across restarts, rotations and concurrent replicas.

use std::collections::HashSet;
use std::time::Duration;

use clap::Parser;
use idp_admin::Cli;
use idp_server::app::Core;
use idp_server::crypto::SigningAlg;
use idp_tests::{Backend, TestEnv, both_backends, eventually};

both_backends!(
    restart_keeps_the_same_keys,
    rotation_reaches_a_running_server_and_the_old_key_retires,
    replicas_starting_together_create_one_key_per_algorithm,
);

async fn jwks_kids(app: &idp_tests::TestApp) -> HashSet<String> {
    app.get_json("/jwks").await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn restart_keeps_the_same_keys(backend: Backend) {
    let env = TestEnv::new(backend);
    let first = env.spawn().await;
    let before = jwks_kids(&first).await;
    first.stop().await;
    let second = env.spawn().await;
    assert_eq!(jwks_kids(&second).await, before);
    assert_eq!(
        idp_server::keys::list_blocking(&second.core.db)
            .unwrap()
            .len(),
        3
    );
}

async fn admin(env: &TestEnv, config: idp_server::config::Config, args: &[&str]) -> String {
    let cli =
        Cli::try_parse_from(std::iter::once("idp-admin").chain(args.iter().copied())).unwrap();
    let _ = env;
    let mut out = Vec::new();
    idp_admin::run_with(cli, config, None, &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

async fn rotation_reaches_a_running_server_and_the_old_key_retires(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let old = app
        .core
        .keys
        .current()
        .signer(SigningAlg::Es256)
        .unwrap()
        .kid
        .clone();

    // Rotate as the operator would, with a zero publication window so the
    // retirement is observable too.
    let mut config = env.config();
    config.keys.retiring_publish_secs = 0;
    let out = admin(
        &env,
        config,
        &["--json", "keys", "rotate", "--alg", "ES256"],
    )
    .await;
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let new = report["rotations"][0]["new_kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new, old);
    assert_eq!(report["rotations"][0]["previous_kid"], old.as_str());
    // Only Redis can reach the running server; the embedded store relies on the timer.
    assert_eq!(
        report["replicas_notified"],
        backend == Backend::PostgresRedis,
        "{report}"
    );

    // The running server switches to the new key (pub/sub on Redis, the reload
    // timer on the embedded store) and publishes it.
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.core
                .keys
                .current()
                .signer(SigningAlg::Es256)
                .map(|k| k.kid.clone())
                == Some(new.clone())
        })
        .await,
        "server signs with the rotated key"
    );
    assert!(jwks_kids(&app).await.contains(&new));
    // Once its window has passed, the old key leaves the JWKS.
    assert!(
        eventually(Duration::from_secs(6), || async {
            !jwks_kids(&app).await.contains(&old)
        })
        .await,
        "retired key is withdrawn"
    );
    let states: Vec<(String, String)> = idp_server::keys::list_blocking(&app.core.db)
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.state.as_str().to_owned()))
        .collect();
    assert!(
        states.contains(&(old.clone(), "retired".to_owned())),
        "{states:?}"
    );
    assert!(
        states.contains(&(new.clone(), "active".to_owned())),
        "{states:?}"
    );
}

async fn replicas_starting_together_create_one_key_per_algorithm(backend: Backend) {
    let env = TestEnv::new(backend);
    // Four replicas with the same provisioned master key start at once on an
    // empty database: they race on migrations, the key check and key creation.
    use base64::Engine;
    let master = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let cores = futures_util::future::join_all(
        (0..4).map(|_| Core::init(env.config(), Some(master.clone()))),
    )
    .await;
    for core in &cores {
        assert!(core.is_ok(), "{:?}", core.as_ref().err());
    }
    let core = cores.into_iter().next().unwrap().unwrap();
    let keys = idp_server::keys::list_blocking(&core.db).unwrap();
    let active: Vec<&str> = keys
        .iter()
        .filter(|k| k.state.as_str() == "active")
        .map(|k| k.alg.as_str())
        .collect();
    assert_eq!(active.len(), 3, "{keys:?}");
    assert_eq!(active.iter().collect::<HashSet<_>>().len(), 3);
}
