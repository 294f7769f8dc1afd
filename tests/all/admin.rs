//! The operator CLI, run through the same function the binary runs.

use clap::Parser;
use diesel::RunQueryDsl;
use idp_admin::{AdminError, Cli};
use idp_server::config::Config;
use idp_server::store::audit::{self, AuditEvent, ChainStatus};
use idp_tests::{Backend, TestEnv, both_backends};

both_backends!(
    migrate_and_keys_list,
    rotate_refuses_an_unconfigured_algorithm,
    audit_verify_catches_edits_and_truncation,
    concurrent_audit_appends_keep_one_chain,
);

async fn admin(config: Config, args: &[&str]) -> Result<String, AdminError> {
    let cli =
        Cli::try_parse_from(std::iter::once("idp-admin").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    idp_admin::run_with(cli, config, None, &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

async fn migrate_and_keys_list(backend: Backend) {
    let env = TestEnv::new(backend);
    let first: serde_json::Value =
        serde_json::from_str(&admin(env.config(), &["migrate", "--json"]).await.unwrap()).unwrap();
    let migrations = std::fs::read_dir(idp_tests::config_path("../migrations/sqlite"))
        .unwrap()
        .count();
    assert!(migrations >= 2);
    assert_eq!(
        first["applied"], migrations,
        "every migration runs on a fresh database"
    );
    let again = admin(env.config(), &["migrate"]).await.unwrap();
    assert_eq!(again.trim(), "0 migration(s) applied");

    let listed: serde_json::Value = serde_json::from_str(
        &admin(env.config(), &["keys", "list", "--json"])
            .await
            .unwrap(),
    )
    .unwrap();
    let keys = listed.as_array().unwrap();
    assert_eq!(keys.len(), 3);
    assert!(
        keys.iter()
            .all(|k| k["state"] == "active" && k.get("private_key").is_none())
    );
    let text = admin(env.config(), &["keys", "list"]).await.unwrap();
    assert!(text.starts_with("ALG"), "{text}");
    assert_eq!(text.lines().count(), 4);
}

async fn rotate_refuses_an_unconfigured_algorithm(backend: Backend) {
    let env = TestEnv::new(backend);
    let mut config = env.config();
    config.keys.algorithms = vec!["ES256".to_owned()];
    let err = admin(config, &["keys", "rotate", "--alg", "RS256"])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "RS256 is not among keys.algorithms in the configuration"
    );
    assert!(Cli::try_parse_from(["idp-admin", "keys", "rotate", "--alg", "HS256"]).is_err());
}

async fn audit_verify_catches_edits_and_truncation(backend: Backend) {
    let env = TestEnv::new(backend);
    admin(env.config(), &["keys", "rotate", "--alg", "ES256"])
        .await
        .unwrap();
    let ok = admin(env.config(), &["audit", "verify"]).await.unwrap();
    assert_eq!(
        ok.trim(),
        "audit chain intact: 4 entries",
        "3 generations + 1 rotation"
    );

    let app = env.spawn().await;
    let tamper = |sql: &'static str| {
        let db = app.core.db.clone();
        async move {
            db.write(move |conn| Ok(diesel::sql_query(sql).execute(conn)?))
                .await
                .unwrap()
        }
    };
    // An edited actor is caught at that entry.
    assert_eq!(
        tamper("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2").await,
        1
    );
    let err = admin(env.config(), &["audit", "verify"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("audit chain broken at entry 2:"), "{err}");
    tamper("UPDATE audit_log SET actor = 'system' WHERE seq = 2").await;
    assert!(
        admin(env.config(), &["audit", "verify"]).await.is_ok(),
        "restored"
    );
    // Removing the newest entry is caught by the head.
    tamper("DELETE FROM audit_log WHERE seq = 4").await;
    let err = admin(env.config(), &["audit", "verify"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("entry 4"), "{err}");
}

async fn concurrent_audit_appends_keep_one_chain(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let writes = futures_util::future::join_all((0..20).map(|i| {
        let db = app.core.db.clone();
        async move {
            db.write(move |conn| {
                let subject = format!("subject-{i}");
                audit::append(
                    conn,
                    &AuditEvent {
                        actor: "test",
                        action: "test.concurrent",
                        subject: &subject,
                        details: serde_json::json!({ "i": i }),
                    },
                )
            })
            .await
        }
    }))
    .await;
    let mut seqs: Vec<i64> = writes.into_iter().map(|r| r.unwrap()).collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (4..=23).collect::<Vec<i64>>(),
        "3 key generations come first"
    );
    let status = app.core.db.read(audit::verify).await.unwrap();
    assert_eq!(status, ChainStatus::Intact { entries: 23 });
}
