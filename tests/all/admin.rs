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
    concurrent_audit_appends_land_in_verifiable_chains,
    audit_export_streams_a_verifiable_range,
    audit_chain_rebuilt_without_the_key_fails,
    audit_chain_upgraded_from_plain_hashes_still_verifies,
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

/// 64 appends at once, each holding its transaction open a little after the
/// append (as an approval's does until its commit): every entry lands, the
/// log verifies, and on PostgreSQL they spread over several chains instead
/// of queuing on one head, each chain still checked (an edit or a removed
/// last entry in a chain other than 1 is caught).
async fn concurrent_audit_appends_land_in_verifiable_chains(backend: Backend) {
    use diesel::prelude::*;
    use idp_server::store::schema::audit_log;
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let postgres = matches!(backend, Backend::PostgresRedis);
    let writes = futures_util::future::join_all((0..64).map(|i| {
        let db = app.core.db.clone();
        async move {
            db.write(move |conn| {
                let subject = format!("subject-{i}");
                let seq = audit::append(
                    conn,
                    &AuditEvent {
                        actor: "test",
                        action: "test.concurrent",
                        subject: &subject,
                        details: serde_json::json!({ "i": i }),
                    },
                )?;
                if postgres {
                    diesel::sql_query("SELECT pg_sleep(0.02)").execute(conn)?;
                } else {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Ok(seq)
            })
            .await
        }
    }))
    .await;
    let mut seqs: Vec<i64> = writes.into_iter().map(|r| r.unwrap()).collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 64, "every append has its own position");
    assert!(seqs[0] >= 4, "3 key generations come first: {seqs:?}");
    let status = app.core.db.read(audit::verify).await.unwrap();
    assert_eq!(status, ChainStatus::Intact { entries: 67 });

    let chains: Vec<(i32, i64)> = app
        .core
        .db
        .read(|conn| {
            Ok(audit_log::table
                .group_by(audit_log::chain)
                .select((audit_log::chain, diesel::dsl::max(audit_log::pos)))
                .order(audit_log::chain)
                .load::<(i32, Option<i64>)>(conn)?
                .into_iter()
                .map(|(c, p)| (c, p.unwrap_or(0)))
                .collect())
        })
        .await
        .unwrap();
    if !postgres {
        assert_eq!(chains, vec![(1, 67)], "SQLite keeps one chain");
        return;
    }
    assert!(chains.len() > 1, "concurrent appends spread: {chains:?}");
    assert_eq!(chains.iter().map(|c| c.1).sum::<i64>(), 67, "{chains:?}");
    let (other, last) = chains[1];
    let tamper = |sql: String| {
        let db = app.core.db.clone();
        async move {
            db.write(move |conn| Ok(diesel::sql_query(sql).execute(conn)?))
                .await
                .unwrap()
        }
    };
    // An edited entry of another chain is caught.
    let edit = format!("UPDATE audit_log SET actor = 'x' WHERE chain = {other} AND pos = 1");
    assert_eq!(tamper(edit).await, 1);
    let broken = app.core.db.read(audit::verify).await.unwrap();
    assert!(
        matches!(&broken, ChainStatus::Broken { reason, .. } if reason.contains("edited")),
        "{broken:?}"
    );
    tamper(format!(
        "UPDATE audit_log SET actor = 'test' WHERE chain = {other} AND pos = 1"
    ))
    .await;
    assert_eq!(
        app.core.db.read(audit::verify).await.unwrap(),
        ChainStatus::Intact { entries: 67 }
    );
    // Its newest entry removed: its head says more.
    tamper(format!(
        "DELETE FROM audit_log WHERE chain = {other} AND pos = {last}"
    ))
    .await;
    let broken = app.core.db.read(audit::verify).await.unwrap();
    assert!(
        matches!(&broken, ChainStatus::Broken { reason, .. }
            if reason.contains(&format!("head of chain {other} says {last} entries"))),
        "{broken:?}"
    );
}

both_backends!(clients_cli_manages_relying_parties);

/// Client authentication alone: a bogus code gets invalid_grant when the
/// credentials are right, invalid_client when they are not.
async fn credentials_accepted(app: &idp_tests::TestApp, client_id: &str, secret: &str) -> bool {
    let (status, _, body) = idp_tests::oidc::post_form(
        app,
        "/token",
        &[("grant_type", "authorization_code"), ("code", "bogus")],
        Some((client_id, secret)),
    )
    .await;
    match body["error"].as_str() {
        Some("invalid_grant") => true,
        Some("invalid_client") => false,
        other => panic!("unexpected {status} {other:?}"),
    }
}

async fn clients_cli_manages_relying_parties(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let added: serde_json::Value = serde_json::from_str(
        &admin(
            env.config(),
            &[
                "--json",
                "clients",
                "add",
                "mairie",
                "--name",
                "Mairie de Lyon",
                "--redirect-uri",
                "https://mairie.example.fr/cb",
                "--allowed-acr",
                "eidas1,eidas2",
            ],
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let secret = added["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32);
    assert!(credentials_accepted(&app, "mairie", &secret).await);

    let shown: serde_json::Value = serde_json::from_str(
        &admin(env.config(), &["--json", "clients", "show", "mairie"])
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(shown["name"], "Mairie de Lyon");
    assert_eq!(shown["metadata"]["subject_type"], "pairwise");
    assert_eq!(shown["metadata"]["require_pkce"], true);
    assert!(
        shown.get("client_secret").is_none() && !shown.to_string().contains(&secret),
        "secret never shown again"
    );

    let out = admin(
        env.config(),
        &[
            "clients",
            "update",
            "mairie",
            "--redirect-uri",
            "https://mairie.example.fr/cb2",
        ],
    )
    .await
    .unwrap();
    assert_eq!(out.trim(), "mairie updated");
    let listed = admin(env.config(), &["clients", "list"]).await.unwrap();
    assert!(
        listed.contains("mairie") && listed.contains("eidas1,eidas2"),
        "{listed}"
    );

    let rotated: serde_json::Value = serde_json::from_str(
        &admin(
            env.config(),
            &["--json", "clients", "rotate-secret", "mairie"],
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    // Replicas drop their cached copy on a pub/sub signal (asynchronous; at
    // once on the embedded backend, which does not cache).
    let limit = std::time::Duration::from_secs(5);
    assert!(
        idp_tests::eventually(limit, || async {
            !credentials_accepted(&app, "mairie", &secret).await
        })
        .await,
        "old secret refused"
    );
    assert!(
        idp_tests::eventually(limit, || async {
            credentials_accepted(&app, "mairie", new_secret).await
        })
        .await
    );

    // Bad input: one clear line each, nothing written.
    let errors = [
        (
            vec![
                "clients",
                "add",
                "bad id!",
                "--name",
                "x",
                "--redirect-uri",
                "https://a.fr/cb",
            ],
            "client_id",
        ),
        (
            vec![
                "clients",
                "add",
                "x",
                "--name",
                "x",
                "--redirect-uri",
                "http://a.fr/cb",
            ],
            "loopback",
        ),
        (
            vec![
                "clients",
                "add",
                "x",
                "--name",
                "x",
                "--redirect-uri",
                "https://a.fr/cb",
                "--default-acr",
                "eidas3",
            ],
            "default_acr",
        ),
        (
            vec![
                "clients",
                "add",
                "mairie",
                "--name",
                "x",
                "--redirect-uri",
                "https://a.fr/cb",
            ],
            "already exists",
        ),
        (vec!["clients", "show", "nobody"], "no client nobody"),
        (vec!["clients", "remove", "nobody"], "no client nobody"),
    ];
    for (args, needle) in errors {
        let err = admin(env.config(), &args).await.unwrap_err().to_string();
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains('\n'));
    }
    let count = admin(env.config(), &["--json", "clients", "list"])
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&count)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    admin(env.config(), &["clients", "remove", "mairie"])
        .await
        .unwrap();
    assert!(
        idp_tests::eventually(limit, || async {
            !credentials_accepted(&app, "mairie", new_secret).await
        })
        .await,
        "removed client refused"
    );
    let verified = admin(env.config(), &["audit", "verify"]).await.unwrap();
    assert!(verified.contains("intact"), "{verified}");
}

/// `audit export` writes JSON lines with their chain position; `audit verify
/// --export` checks a range (all of it, or from --since) and names the entry
/// that was edited or left out.
async fn audit_export_streams_a_verifiable_range(backend: Backend) {
    let env = TestEnv::new(backend);
    admin(env.config(), &["migrate"]).await.unwrap();
    admin(env.config(), &["keys", "rotate", "--alg", "ES256"])
        .await
        .unwrap();
    admin(env.config(), &["keys", "rotate", "--alg", "ES256"])
        .await
        .unwrap();
    let all = admin(env.config(), &["audit", "export"]).await.unwrap();
    let lines: Vec<serde_json::Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{all}");
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["prev_hash"], audit::GENESIS_HASH);
    assert_eq!(lines[4]["action"], "keys.rotate");
    assert!(lines[4]["details"].is_object());
    assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.jsonl");
    let check = |text: String| {
        std::fs::write(&file, text).unwrap();
        let path = file.to_str().unwrap().to_owned();
        let config = env.config();
        async move { admin(config, &["audit", "verify", "--export", &path]).await }
    };
    let ok = check(all.clone()).await.unwrap();
    assert!(
        ok.starts_with("exported range intact: entries 1 to 5 (5 entries)"),
        "{ok}"
    );

    // A range that starts later is checked from where it starts.
    let tail: String = all.lines().skip(2).map(|l| format!("{l}\n")).collect();
    let ok = check(tail).await.unwrap();
    assert!(
        ok.starts_with("exported range intact: entries 3 to 5"),
        "{ok}"
    );
    // An edited entry, or one left out, is named.
    let edited = all.replacen("\"actor\":\"system\"", "\"actor\":\"someone\"", 1);
    assert_ne!(edited, all);
    let err = check(edited).await.unwrap_err().to_string();
    assert!(err.starts_with("audit chain broken at entry "), "{err}");
    let gap: String = all
        .lines()
        .enumerate()
        .filter(|(n, _)| *n != 2)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let err = check(gap).await.unwrap_err().to_string();
    assert!(err.contains("entry 3 is missing"), "{err}");

    // --since: nothing written in the future; a bad time is one clear line.
    let none = admin(env.config(), &["audit", "export", "--since", "2999-01-01"])
        .await
        .unwrap();
    assert_eq!(none, "");
    let since = admin(
        env.config(),
        &["audit", "export", "--since", "2020-01-01T00:00:00Z"],
    )
    .await
    .unwrap();
    assert_eq!(since, all);
    let err = admin(env.config(), &["audit", "export", "--since", "yesterday"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("--since \"yesterday\" is not a time"),
        "{err}"
    );
}

/// The chain is keyed: someone with write access to the database but not
/// the master key who edits an entry and recomputes every hash with plain
/// SHA-256 (what was enough before) is caught; so is a removed or moved
/// keyed-from marker.
async fn audit_chain_rebuilt_without_the_key_fails(backend: Backend) {
    use diesel::prelude::*;
    use idp_server::store::schema::{audit_head, audit_log, settings};
    let env = TestEnv::new(backend);
    admin(env.config(), &["keys", "rotate", "--alg", "ES256"])
        .await
        .unwrap();
    let app = env.spawn().await;
    let db = app.core.db.clone();
    assert_eq!(
        db.read(audit::verify).await.unwrap(),
        ChainStatus::Intact { entries: 4 }
    );
    let marker = db
        .read(|conn| idp_server::store::settings::get(conn, audit::MAC_FROM_SETTING))
        .await
        .unwrap()
        .unwrap();
    assert!(
        marker.starts_with("1:"),
        "a fresh deployment is keyed from entry 1: {marker}"
    );

    let set_marker = |value: Option<String>| {
        let db = db.clone();
        async move {
            db.write(move |conn| {
                match value {
                    Some(v) => diesel::update(
                        settings::table.filter(settings::name.eq(audit::MAC_FROM_SETTING)),
                    )
                    .set(settings::value.eq(v))
                    .execute(conn)?,
                    None => diesel::delete(
                        settings::table.filter(settings::name.eq(audit::MAC_FROM_SETTING)),
                    )
                    .execute(conn)?,
                };
                Ok(())
            })
            .await
            .unwrap()
        }
    };
    // A removed marker is not silently recreated over a keyed log.
    set_marker(None).await;
    let err = admin(env.config(), &["audit", "verify"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("audit_mac_from setting is missing"), "{err}");
    let restore = marker.clone();
    db.write(move |conn| {
        diesel::insert_into(settings::table)
            .values((
                settings::name.eq(audit::MAC_FROM_SETTING),
                settings::value.eq(restore),
                settings::updated_at.eq(0i64),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    assert!(admin(env.config(), &["audit", "verify"]).await.is_ok());

    // Rebuild the whole chain with plain SHA-256 after editing entry 2.
    db.write(|conn| {
        let mut rows = Vec::new();
        audit::each_from(conn, 1, |row| {
            rows.push(row);
            Ok::<(), idp_server::store::StoreError>(())
        })?;
        let mut prev = audit::GENESIS_HASH.to_owned();
        for mut row in rows {
            if row.seq == 2 {
                row.actor = "someone-else".into();
            }
            let hash = audit::legacy_hash(
                &prev,
                row.seq,
                row.at,
                &row.actor,
                &row.action,
                &row.subject,
                &row.details,
            );
            diesel::update(audit_log::table.filter(audit_log::seq.eq(row.seq)))
                .set((
                    audit_log::actor.eq(&row.actor),
                    audit_log::prev_hash.eq(&prev),
                    audit_log::hash.eq(&hash),
                ))
                .execute(conn)?;
            prev = hash;
        }
        diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
            .set(audit_head::hash.eq(&prev))
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    let err = admin(env.config(), &["audit", "verify"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("audit chain broken at entry 1:"), "{err}");

    // Moving the marker past the end (everything "legacy") is refused.
    let (_, mac) = marker.split_once(':').unwrap();
    set_marker(Some(format!("5:{mac}"))).await;
    let err = admin(env.config(), &["audit", "verify"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not authentic"), "{err}");
}

/// A log written before the chain was keyed (plain SHA-256 entries, no
/// marker) still verifies after the upgrade: start-up records that keyed
/// MACs start after the current head, and new entries are keyed.
async fn audit_chain_upgraded_from_plain_hashes_still_verifies(backend: Backend) {
    use diesel::prelude::*;
    use idp_server::store::schema::{audit_head, audit_log, settings};
    let env = TestEnv::new(backend);
    admin(env.config(), &["keys", "rotate", "--alg", "ES256"])
        .await
        .unwrap();
    {
        // Turn the log into what the previous version wrote.
        let app = env.spawn().await;
        app.core
            .db
            .write(|conn| {
                let mut rows = Vec::new();
                audit::each_from(conn, 1, |row| {
                    rows.push(row);
                    Ok::<(), idp_server::store::StoreError>(())
                })?;
                let mut prev = audit::GENESIS_HASH.to_owned();
                for row in rows {
                    let hash = audit::legacy_hash(
                        &prev,
                        row.seq,
                        row.at,
                        &row.actor,
                        &row.action,
                        &row.subject,
                        &row.details,
                    );
                    diesel::update(audit_log::table.filter(audit_log::seq.eq(row.seq)))
                        .set((audit_log::prev_hash.eq(&prev), audit_log::hash.eq(&hash)))
                        .execute(conn)?;
                    prev = hash;
                }
                diesel::update(audit_head::table.filter(audit_head::id.eq(1)))
                    .set(audit_head::hash.eq(&prev))
                    .execute(conn)?;
                diesel::delete(settings::table.filter(settings::name.eq(audit::MAC_FROM_SETTING)))
                    .execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
    }
    let ok = admin(env.config(), &["audit", "verify"]).await.unwrap();
    assert_eq!(ok.trim(), "audit chain intact: 4 entries");
    admin(env.config(), &["keys", "rotate", "--alg", "ES256"])
        .await
        .unwrap();
    let app = env.spawn().await;
    let marker = app
        .core
        .db
        .read(|conn| idp_server::store::settings::get(conn, audit::MAC_FROM_SETTING))
        .await
        .unwrap()
        .unwrap();
    assert!(marker.starts_with("5:"), "{marker}");
    let last = app
        .core
        .db
        .read(|conn| audit::recent(conn, 1))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(last.seq, 5);
    assert_ne!(
        last.hash,
        audit::legacy_hash(
            &last.prev_hash,
            last.seq,
            last.at,
            &last.actor,
            &last.action,
            &last.subject,
            &last.details
        ),
        "new entries are keyed"
    );
    let ok = admin(env.config(), &["audit", "verify"]).await.unwrap();
    assert_eq!(ok.trim(), "audit chain intact: 5 entries");
}
