//! Redis high availability: a primary, a replica and a Sentinel of the test's
//! own; the server finds the master through the Sentinel, keeps answering 503
//! (never 500) while the primary is gone, follows the failover by itself
//! (commands and pub/sub) and counts limits on the new master. Also `rediss://`
//! with a CA file against a TLS redis-server (throwaway CA made with openssl).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use idp_server::ephemeral::{Ephemeral, EphemeralStore};
use idp_tests::browser::Browser;
use idp_tests::oidc::{client_metadata, manual_authorize, register_client};
use idp_tests::{Backend, TestApp, TestEnv, eventually};

const CLIENT: &str = "formation";
const MASTER: &str = "mymaster";
/// `login.approvals_per_phone` in these tests.
const PER_PHONE: usize = 3;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True if `redis-server` can be run; under CI its absence is a failure.
fn redis_server_available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is required under CI"
        );
        eprintln!("skipped: no redis-server on PATH");
    }
    found
}

/// A redis-server process, killed on drop.
struct Proc(Option<Child>);

impl Proc {
    fn spawn(args: &[&str], port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let proc = Proc(Some(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        proc
    }

    /// SIGKILL, as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn server_args(dir: &Path, port: u16) -> Vec<String> {
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(dir.display().to_string());
    args
}

/// Primary + replica + one Sentinel (quorum 1, 1 s to declare the primary down).
/// Fields drop in order, so the sentinel goes first.
struct Cluster {
    _sentinel: Proc,
    primary: Proc,
    _replica: Proc,
    primary_port: u16,
    replica_port: u16,
    sentinel_port: u16,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (primary_port, replica_port, sentinel_port) = (free_port(), free_port(), free_port());
        for name in ["primary", "replica", "sentinel"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        let args = server_args(&dir.path().join("primary"), primary_port);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let primary = Proc::spawn(&args, primary_port);
        let mut args = server_args(&dir.path().join("replica"), replica_port);
        args.extend([
            "--replicaof".into(),
            "127.0.0.1".into(),
            primary_port.to_string(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let replica = Proc::spawn(&args, replica_port);
        let conf = dir.path().join("sentinel/sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {sentinel_port}\nbind 127.0.0.1\ndir {}\nlogfile sentinel.log\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary_port} 1\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 3000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir.path().join("sentinel").display()
            ),
        )
        .unwrap();
        let conf = conf.display().to_string();
        let sentinel = Proc::spawn(&[&conf, "--sentinel"], sentinel_port);
        let cluster = Cluster {
            _sentinel: sentinel,
            primary,
            _replica: replica,
            primary_port,
            replica_port,
            sentinel_port,
            dir,
        };
        // The replica in sync, and known to the sentinel as a healthy replica.
        let replica_url = format!("redis://127.0.0.1:{replica_port}");
        let synced = eventually(Duration::from_secs(20), || async {
            info(&replica_url, "replication")
                .await
                .contains("master_link_status:up")
        })
        .await;
        assert!(synced, "the replica did not sync");
        let sentinel_url = format!("redis://127.0.0.1:{sentinel_port}");
        let known = eventually(Duration::from_secs(20), || async {
            let Ok(client) = redis::Client::open(sentinel_url.as_str()) else {
                return false;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                return false;
            };
            let replicas: Vec<std::collections::HashMap<String, String>> = redis::cmd("SENTINEL")
                .arg("replicas")
                .arg(MASTER)
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            replicas.iter().any(|r| {
                r.get("port") == Some(&replica_port.to_string())
                    && r.get("flags").map(String::as_str) == Some("slave")
            })
        })
        .await;
        assert!(known, "the sentinel did not discover the replica");
        cluster
    }

    /// What the sentinel logged (in failure messages).
    fn sentinel_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sentinel/sentinel.log")).unwrap_or_default()
    }
}

async fn info(url: &str, section: &str) -> String {
    let Ok(client) = redis::Client::open(url) else {
        return String::new();
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return String::new();
    };
    redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn)
        .await
        .unwrap_or_default()
}

/// Distinct metropolitan mobiles (06 39 is an overseas range: avoided).
fn phone(n: u32) -> String {
    format!("06 {:02} {:02} 42 17", 10 + n % 29, n % 97)
}

/// An eidas2 login up to the phone page, then the number typed: the first
/// status that is not the expected one of a step, or the POST's status (303:
/// challenge started; 429: limit).
async fn try_phone_login(app: &TestApp, number: &str) -> u16 {
    let request = manual_authorize(&app.base, CLIENT, "openid", &[("acr_values", "eidas2")]);
    let mut browser = Browser::new(&app.base);
    let start = browser.get(&request.url).await;
    let Some(location) = start.location.filter(|_| start.status == 303) else {
        return start.status;
    };
    let form = browser.get(&location).await;
    if form.status != 200 {
        return form.status;
    }
    let (Some(tx), Some(csrf)) = (form.field("tx"), form.field("csrf")) else {
        return 0;
    };
    let posted = browser
        .post(
            "/login/telephone",
            &[("tx", &tx), ("csrf", &csrf), ("phone", number)],
        )
        .await;
    if posted.status == 303 {
        // The waiting page reads the challenge back.
        let waiting = browser.get(posted.location.as_deref().unwrap_or("/")).await;
        if waiting.status != 200 {
            return waiting.status;
        }
    }
    posted.status
}

/// `PER_PHONE` logins for `number` start, the next one is refused.
async fn assert_phone_limit(app: &TestApp, number: &str) {
    for i in 0..PER_PHONE {
        assert_eq!(
            try_phone_login(app, number).await,
            303,
            "login {i} for {number}"
        );
    }
    assert_eq!(
        try_phone_login(app, number).await,
        429,
        "over the limit for {number}"
    );
}

/// A message published through the server reaches its own subscriber (the
/// subscriber connection is on the master that got the PUBLISH).
async fn pubsub_works(app: &TestApp, topic: &str) -> bool {
    let mut subscription = app.core.ephemeral.subscribe(topic);
    if app.core.ephemeral.publish(topic, b"ping").await.is_err() {
        return false;
    }
    tokio::time::timeout(Duration::from_secs(1), subscription.recv())
        .await
        .is_ok_and(|m| m.is_some())
}

/// How the primary goes away.
#[derive(Clone, Copy, PartialEq)]
enum Failover {
    /// kill -9: the sentinel notices after `down-after-milliseconds`.
    Crash,
    /// `SENTINEL failover`: the old primary stays up as a replica (its
    /// clients are killed, writes to it answer READONLY).
    Planned,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_is_followed_by_itself() {
    failover_is_followed(Failover::Crash).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_sentinel_failover_is_followed_by_itself() {
    failover_is_followed(Failover::Planned).await;
}

async fn failover_is_followed(how: Failover) {
    if !redis_server_available() {
        return;
    }
    let mut cluster = Cluster::start().await;
    let env = TestEnv::new(Backend::Embedded);
    let mut config = env.config();
    config.ephemeral.url = format!(
        "redis+sentinel://127.0.0.1:{},127.0.0.1:{}/{MASTER}",
        free_port(), // a sentinel that is down: the next one is asked
        cluster.sentinel_port
    );
    config.ephemeral.namespace = "failover".into();
    config.login.approvals_per_phone = PER_PHONE as i64;
    config.login.phone_ip_limit = 10_000;
    config.oidc.authorize_ip_limit = 10_000;
    let app = env.spawn_with(config).await;
    register_client(&app, CLIENT, &client_metadata()).unwrap();
    let Ephemeral::Redis(store) = &app.core.ephemeral else {
        panic!("expected the Redis store");
    };

    // Before: the master is the primary, limits and pub/sub work.
    assert_phone_limit(&app, &phone(1)).await;
    assert_eq!(
        store.sentinel_master(),
        Some(format!("127.0.0.1:{}", cluster.primary_port))
    );
    assert!(store.wait_subscribed(Duration::from_secs(5)).await);
    assert!(
        eventually(Duration::from_secs(5), || pubsub_works(&app, "before")).await,
        "pub/sub before the failover"
    );

    let promoted = format!("127.0.0.1:{}", cluster.replica_port);
    let killed = Instant::now();
    match how {
        Failover::Crash => cluster.primary.kill(),
        Failover::Planned => {
            let client =
                redis::Client::open(format!("redis://127.0.0.1:{}", cluster.sentinel_port))
                    .unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let () = redis::cmd("SENTINEL")
                .arg("failover")
                .arg(MASTER)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }

    // Logins keep coming while the sentinel notices and promotes the replica:
    // each one either works or is a 503, until one works again.
    let mut statuses = Vec::new();
    let mut n = 100;
    let recovered = loop {
        n += 1;
        let status = try_phone_login(&app, &phone(n)).await;
        statuses.push(status);
        // Recovered: a login started, written to the promoted replica.
        if status == 303 && store.sentinel_master() == Some(promoted.clone()) {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no recovery 30 s after the primary died: {statuses:?}\n{}",
            cluster.sentinel_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let unavailable = statuses.iter().filter(|s| **s == 503).count();
    assert!(
        statuses.iter().all(|s| *s == 503 || *s == 303),
        "only 503 during the switch: {statuses:?}"
    );
    eprintln!(
        "failover ({}): writes on the promoted replica {:.1} s after the switch began; {} requests, {unavailable}×503, 0×500",
        if how == Failover::Crash {
            "kill -9"
        } else {
            "SENTINEL failover"
        },
        recovered.as_secs_f64(),
        statuses.len()
    );
    if how == Failover::Crash {
        assert!(
            unavailable > 0,
            "the switch was noticed (the primary is dead)"
        );
    }
    assert_eq!(
        store.sentinel_master(),
        Some(format!("127.0.0.1:{}", cluster.replica_port)),
        "the connection follows the promoted replica\n{}",
        cluster.sentinel_log()
    );
    assert!(
        info(
            &format!("redis://127.0.0.1:{}", cluster.replica_port),
            "replication"
        )
        .await
        .contains("role:master")
    );

    // After: a limit counted only on the new master still holds, pub/sub
    // follows (the old master is dead, so the subscriber moved), readiness is back.
    assert_phone_limit(&app, &phone(2)).await;
    assert!(
        eventually(Duration::from_secs(10), || pubsub_works(&app, "after")).await,
        "pub/sub after the failover\n{}",
        cluster.sentinel_log()
    );
    let ready = eventually(Duration::from_secs(5), || async {
        app.get("/readyz").await.status().as_u16() == 200
    })
    .await;
    assert!(ready, "{:?}", app.get("/readyz").await.text().await);
}

/// A throwaway CA and a certificate for 127.0.0.1 signed by it, in `dir`.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for (name, cn) in [("ca", "Test CA"), ("other-ca", "Other CA")] {
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        "server.crt",
        "-extfile",
        "server.ext",
    ]);
}

async fn spawn_tls_app(env: &TestEnv, port: u16, ca_file: &Path) -> TestApp {
    let mut config = env.config();
    config.ephemeral.url = format!("rediss://127.0.0.1:{port}");
    config.ephemeral.ca_file = ca_file.to_path_buf();
    config.ephemeral.namespace = "tls".into();
    config.login.approvals_per_phone = PER_PHONE as i64;
    config.login.phone_ip_limit = 10_000;
    env.spawn_with(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_ca_file_is_verified_and_used() {
    if !redis_server_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let port = free_port();
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (cert, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
    let mut args = server_args(dir.path(), 0);
    args.extend(
        [
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _server = Proc::spawn(&args, port);

    // Trusting the throwaway CA: eidas2 work and pub/sub over TLS.
    let env = TestEnv::new(Backend::Embedded);
    let app = spawn_tls_app(&env, port, &dir.path().join("ca.crt")).await;
    register_client(&app, CLIENT, &client_metadata()).unwrap();
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
    assert_phone_limit(&app, &phone(3)).await;
    assert!(
        eventually(Duration::from_secs(5), || pubsub_works(&app, "tls")).await,
        "pub/sub over TLS"
    );
    app.stop().await;

    // Another CA: the certificate is refused, the store is unavailable.
    let other = TestEnv::new(Backend::Embedded);
    let app = spawn_tls_app(&other, port, &dir.path().join("other-ca.crt")).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status().as_u16(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["ephemeral"], "unavailable");
    assert_eq!(body["database"], "ok");
}
