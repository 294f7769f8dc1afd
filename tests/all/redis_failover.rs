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
    _dir: tempfile::TempDir,
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
                "port {sentinel_port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary_port} 1\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 10000\n\
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
            _dir: dir,
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

fn phone(n: u32) -> String {
    format!("06 {:02} {:02} 42 17", 10 + n % 89, n % 97)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_is_followed_by_itself() {
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

    cluster.primary.kill();
    let killed = Instant::now();

    // Logins keep coming while the sentinel notices and promotes the replica:
    // each one either works or is a 503, until one works again.
    let mut statuses = Vec::new();
    let mut n = 100;
    let recovered = loop {
        n += 1;
        let status = try_phone_login(&app, &phone(n)).await;
        statuses.push(status);
        if status == 303 {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no recovery 30 s after the primary died: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let unavailable = statuses.iter().filter(|s| **s == 503).count();
    assert!(
        statuses.iter().all(|s| *s == 503 || *s == 303),
        "only 503 during the switch: {statuses:?}"
    );
    eprintln!(
        "failover: service back {:.1} s after kill -9 of the primary; {} requests, {unavailable}×503, 0×500",
        recovered.as_secs_f64(),
        statuses.len()
    );
    assert!(
        unavailable > 0,
        "the switch was noticed (the primary is dead)"
    );
    assert_eq!(
        store.sentinel_master(),
        Some(format!("127.0.0.1:{}", cluster.replica_port)),
        "the connection follows the promoted replica"
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
        "pub/sub after the failover"
    );
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
}
