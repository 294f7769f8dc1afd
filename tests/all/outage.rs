//! Redis stopped under a running server: readiness says so, ephemeral work fails
//! fast as "unavailable" (503 at the HTTP layer), what does not need Redis keeps
//! working, and everything — pub/sub included — recovers by itself when Redis
//! is back. Runs its own throwaway redis-server so it can stop and restart it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use idp_server::ephemeral::{Ephemeral, EphemeralError, EphemeralStore};
use idp_tests::{Backend, TestEnv, eventually};

struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = OwnRedis {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.restart();
        redis
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn readyz(app: &idp_tests::TestApp) -> (u16, serde_json::Value) {
    let response = app.get("/readyz").await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_reported_and_recovered_from() {
    if !Backend::PostgresRedis.available() {
        return;
    }
    let mut redis = OwnRedis::start();
    let env = TestEnv::new(Backend::PostgresRedis);
    let mut config = env.config();
    config.ephemeral.url = redis.url();
    let app = env.spawn_with(config).await;
    let Ephemeral::Redis(store) = &app.core.ephemeral else {
        panic!("expected the Redis store");
    };
    assert!(store.wait_subscribed(Duration::from_secs(5)).await);
    assert_eq!(readyz(&app).await.0, 200);
    let ttl = Duration::from_secs(60);
    app.core.ephemeral.set("before", b"1", ttl).await.unwrap();
    let secret =
        idp_tests::oidc::register_client(&app, "rp", &idp_tests::oidc::client_metadata()).unwrap();
    let authorize = idp_tests::oidc::manual_authorize(&app.base, "rp", "openid", &[]);
    let mut browser = idp_tests::browser::Browser::new(&app.base);
    assert_eq!(
        browser.get(&authorize.url).await.status,
        303,
        "login flow starts"
    );

    redis.stop();

    let started = std::time::Instant::now();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ephemeral"], "unavailable");
    assert_eq!(body["database"], "ok");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answers promptly, no hang"
    );
    let err = app
        .core
        .ephemeral
        .set("during", b"1", ttl)
        .await
        .unwrap_err();
    assert!(matches!(err, EphemeralError::Unavailable(_)), "{err}");
    // Requests that need Redis answer 503, as a page for people…
    let page = browser.get(&authorize.url).await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        page.body.contains("momentanément indisponible"),
        "{}",
        page.body
    );
    assert_eq!(page.headers["retry-after"], "5");
    // …and as JSON for relying parties.
    let (status, headers, body) = idp_tests::oidc::post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", "c"),
            ("redirect_uri", idp_tests::oidc::REDIRECT_URI),
            ("code_verifier", "v"),
        ],
        Some(("rp", &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    assert_eq!(headers["retry-after"], "5");
    // What needs no Redis keeps working.
    assert_eq!(app.get("/jwks").await.status(), 200);
    assert_eq!(
        app.get("/.well-known/openid-configuration").await.status(),
        200
    );
    assert_eq!(app.get("/healthz").await.status(), 200);

    redis.restart();

    assert!(
        eventually(Duration::from_secs(10), || async {
            readyz(&app).await.0 == 200
        })
        .await,
        "ready again without a restart"
    );
    app.core.ephemeral.set("after", b"2", ttl).await.unwrap();
    let page = browser.get(&authorize.url).await;
    assert_eq!(page.status, 303, "login flow works again");
    assert_eq!(
        app.core.ephemeral.get("after").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );
    // The subscriber reconnected: a message from another process arrives.
    assert!(
        store.wait_subscribed(Duration::from_secs(10)).await,
        "pub/sub resubscribed"
    );
    let mut sub = app.core.ephemeral.subscribe("wake");
    let other = idp_server::ephemeral::RedisStore::connect(
        &redis.url(),
        &app.core.config.ephemeral.namespace,
        Duration::from_millis(500),
    )
    .unwrap();
    other.publish("wake", b"back").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(3), sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&*got, b"back");
}
