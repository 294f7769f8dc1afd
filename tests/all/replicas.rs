//! Three idp-server processes (the real binary) behind Debian's nginx on one
//! PostgreSQL + Redis: complete eidas2 logins through the proxy, a replica
//! killed (SIGKILL) mid-run and restarted, cross-replica wake-ups of the
//! waiting browser, and the graceful drain on SIGTERM.
//!
//! nginx comes from `tests/scripts/test-tools.sh` and the binary from
//! `cargo build --workspace --bins`, both run by `make test` first.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use idp_tests::authenticator::{ApiError, Authenticator};
use idp_tests::browser::Browser;
use idp_tests::oidc::{manual_authorize, register_client, verified_with_activation_code};
use idp_tests::phone::shown_number;
use idp_tests::{Backend, TestApp, TestEnv};
use serde_json::Value;

const CLIENT: &str = "formation";
const PIN: &str = "2580";
/// Browser event streams that lost their replica and reconnected.
static RECONNECTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `idp-server` binary next to this test binary (target/debug).
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = dir.join("idp-server");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --workspace --bins` (make test does)",
        binary.display()
    );
    binary
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is missing: run tests/scripts/test-tools.sh (make test does)")
}

/// One idp-server process of the deployment.
struct Replica {
    port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Replica {
    fn start(env: &TestEnv, issuer: &str) -> Self {
        let config = env.config();
        let port = free_port();
        let vars = vec![
            ("IDP__SERVER__BIND", format!("127.0.0.1:{port}")),
            ("IDP__SERVER__PUBLIC_URL", issuer.to_owned()),
            (
                "IDP__SERVER__TRUSTED_PROXIES",
                r#"["127.0.0.1"]"#.to_owned(),
            ),
            ("IDP__SERVER__SHUTDOWN_GRACE_SECS", "5".to_owned()),
            ("IDP__DATABASE__URL", config.database.url.clone()),
            ("IDP__EPHEMERAL__URL", config.ephemeral.url.clone()),
            (
                "IDP__EPHEMERAL__NAMESPACE",
                config.ephemeral.namespace.clone(),
            ),
            (
                "IDP__KEYS__MASTER_KEY_FILE",
                config.keys.master_key_file.display().to_string(),
            ),
            (
                "IDP__NOTIFY__OUTBOX_DIR",
                config.notify.outbox_dir.display().to_string(),
            ),
            ("IDP__LOGIN__APPROVALS_PER_PHONE", "1000".to_owned()),
            ("IDP__LOGIN__PHONE_IP_LIMIT", "1000".to_owned()),
            ("IDP__OIDC__AUTHORIZE_IP_LIMIT", "1000".to_owned()),
        ];
        let mut replica = Replica {
            port,
            env: vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            child: None,
        };
        replica.restart();
        replica
    }

    fn restart(&mut self) {
        let child = Command::new(server_binary())
            .arg("--config")
            .arg(idp_tests::config_path("test.toml"))
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("idp-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "replica on {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then how long the process took to exit.
    fn terminate(&mut self) -> Duration {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = started + Duration::from_secs(30);
        loop {
            if child.try_wait().unwrap().is_some() {
                return started.elapsed();
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// nginx on loopback in front of the replicas.
struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(port: u16, upstreams: &[u16]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n"))
            .collect();
        // The proxy settings of docs/deploy/nginx.conf, without TLS.
        let conf = format!(
            r#"daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream sesame {{
{servers}        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://sesame;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"#,
            dir = dir.path().display()
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { child, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A citizen with an activated device, talking through the proxy.
struct Person {
    phone: String,
    device: Authenticator,
}

async fn person(app: &TestApp, proxy: &str, n: u32) -> Person {
    let phone = format!("+3366{n:03}4217");
    let (citizen, code) = verified_with_activation_code(app, &phone).await;
    let mut device = Authenticator::new(app.http.clone(), proxy, proxy).unwrap();
    device
        .activate(&citizen.email, &citizen.password, &code, PIN, "Pixel")
        .await
        .expect("activation through the proxy");
    Person { phone, device }
}

/// Why a login did not complete (shown through `Debug` in assertions).
#[derive(Debug)]
#[allow(dead_code)]
enum Failed {
    /// The proxy answered 502/504: a replica died under the request.
    Proxy(u16),
    Other(String),
}

fn proxy_or(status: u16, what: String) -> Failed {
    if status == 502 || status == 504 {
        Failed::Proxy(status)
    } else {
        Failed::Other(what)
    }
}

/// A complete eidas2 login through the proxy: phone page, approval on the
/// device (its long-poll retried on a proxy error, as the app does), the
/// browser's event stream told of the decision, consent, token.
async fn login(
    app: &TestApp,
    proxy: &str,
    secret: &str,
    who: &Person,
    pause: Option<&Pause>,
) -> Result<(), Failed> {
    let request = manual_authorize(proxy, CLIENT, "openid profile", &[("acr_values", "eidas2")]);
    let mut browser = Browser::new(proxy);
    let start = browser.get(&request.url).await;
    let phone_page = start
        .location
        .ok_or_else(|| proxy_or(start.status, format!("authorize {}", start.status)))?;
    let form = browser.get(&phone_page).await;
    let (Some(tx), Some(csrf)) = (form.field("tx"), form.field("csrf")) else {
        return Err(proxy_or(form.status, format!("phone page {}", form.status)));
    };
    let posted = browser
        .post(
            "/login/telephone",
            &[("tx", &tx), ("csrf", &csrf), ("phone", &who.phone)],
        )
        .await;
    let Some(waiting_url) = posted.location.clone() else {
        return Err(proxy_or(
            posted.status,
            format!("phone post {}", posted.status),
        ));
    };
    let waiting = browser.get(&waiting_url).await;
    if waiting.status != 200 {
        return Err(proxy_or(
            waiting.status,
            format!("waiting {}", waiting.status),
        ));
    }
    let number = shown_number(&waiting.body);
    // The browser listens (on whichever replica the proxy picks) before the
    // device decides (on whichever replica it picks).
    let cookie = format!(
        "{}={}",
        idp_server::oidc::session::BROWSER_COOKIE,
        browser
            .cookie(idp_server::oidc::session::BROWSER_COOKIE)
            .unwrap_or("")
    );
    let listen = || async {
        let events = app
            .http
            .get(format!("{proxy}/login/telephone/evenements?tx={tx}"))
            .header("Cookie", &cookie)
            .send()
            .await
            .map_err(|e| Failed::Other(format!("events: {e}")))?;
        match events.status().as_u16() {
            200 => Ok(events),
            status => Err(proxy_or(status, "events".into())),
        }
    };
    let mut events = listen().await?;
    // The kill round stops every login here, kills a replica, goes on.
    if let Some(pause) = pause {
        pause.arrived.wait().await;
        pause.resume.wait().await;
    }
    let mut challenge = None;
    for _ in 0..5 {
        match who.device.challenges(20).await {
            Ok(found) if !found.is_empty() => {
                challenge = found.into_iter().next();
                break;
            }
            Ok(_) => {}
            Err(ApiError { status, .. }) if status == 502 || status == 504 => {}
            Err(e) => return Err(Failed::Other(format!("challenges: {e}"))),
        }
    }
    let challenge: Value = challenge.ok_or_else(|| Failed::Other("no challenge".into()))?;
    if let Err(e) = who.device.approve(&challenge, PIN, number).await {
        return Err(proxy_or(e.status, format!("approve: {e}")));
    }
    let decided = Instant::now();
    // Told within 5 s: the pub/sub wake-up, not the browser's 10-s recheck.
    let mut seen = String::new();
    let mut reconnected = false;
    while !seen.contains("data: approved") {
        let left = Duration::from_secs(5).saturating_sub(decided.elapsed());
        match tokio::time::timeout(left, events.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            // The replica under the stream died: reconnect once through the
            // proxy, as EventSource does, to another replica.
            Ok(_) if !reconnected => {
                reconnected = true;
                RECONNECTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                events = listen().await?;
            }
            Ok(_) => return Err(Failed::Other(format!("event stream ended: {seen}"))),
            Err(_) => return Err(Failed::Other(format!("browser not told in 5 s: {seen}"))),
        }
    }
    // On to consent and the code.
    let mut page = browser.get(&waiting_url).await;
    for _ in 0..4 {
        let location = page
            .location
            .clone()
            .ok_or_else(|| proxy_or(page.status, format!("after approval {}", page.status)))?;
        if location.starts_with(idp_tests::oidc::REDIRECT_URI) {
            let url = url::Url::parse(&location).unwrap();
            let code = url
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
                .ok_or_else(|| Failed::Other(format!("no code in {location}")))?;
            let (status, tokens) = exchange_via(app, proxy, &code, &request.verifier, secret).await;
            return if status == 200 && tokens["id_token"].is_string() {
                Ok(())
            } else {
                Err(proxy_or(status, format!("token {status} {tokens}")))
            };
        }
        let form = browser.get(&location).await;
        let (Some(tx), Some(csrf)) = (form.field("tx"), form.field("csrf")) else {
            return Err(proxy_or(form.status, format!("consent {}", form.status)));
        };
        page = browser
            .post(
                "/consent",
                &[("tx", &tx), ("csrf", &csrf), ("decision", "approve")],
            )
            .await;
    }
    Err(Failed::Other("no redirect to the client".into()))
}

/// The token exchange through the proxy.
async fn exchange_via(
    app: &TestApp,
    proxy: &str,
    code: &str,
    verifier: &str,
    secret: &str,
) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{proxy}/token"))
        .basic_auth(CLIENT, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", idp_tests::oidc::REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Where the kill round stops every login (browser listening, device not
/// yet deciding) while a replica is killed.
struct Pause {
    arrived: tokio::sync::Barrier,
    resume: tokio::sync::Barrier,
}

async fn round(
    app: &TestApp,
    proxy: &str,
    secret: &str,
    people: &[Person],
    pause: Option<&Pause>,
) -> Vec<Result<(), Failed>> {
    futures_util::future::join_all(people.iter().map(|p| login(app, proxy, secret, p, pause))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_behind_nginx_survive_a_killed_replica_and_drain_on_sigterm() {
    if !Backend::PostgresRedis.available() {
        return;
    }
    let env = TestEnv::new(Backend::PostgresRedis);
    let proxy_port = free_port();
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    // Migrations, keys and the test data, through an in-process server of
    // the same deployment (not behind the proxy).
    let app = env.spawn_replica(&proxy).await;
    let secret = register_client(&app, CLIENT, &idp_tests::oidc::client_metadata()).unwrap();
    let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::start(&env, &proxy)).collect();
    let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
    let _nginx = Nginx::start(proxy_port, &ports);
    let mut people = Vec::new();
    for n in 0..6 {
        people.push(person(&app, &proxy, n).await);
    }

    // Every login completes through the proxy (its requests spread over the
    // three replicas: the browser is woken across replicas).
    for outcome in round(&app, &proxy, &secret, &people, None).await {
        outcome.expect("login before the kill");
    }

    // A replica killed while logins are under way: only requests that were
    // on it may fail, as proxy errors; the others complete.
    let pause = Pause {
        arrived: tokio::sync::Barrier::new(people.len() + 1),
        resume: tokio::sync::Barrier::new(people.len() + 1),
    };
    let (outcomes, ()) = tokio::join!(round(&app, &proxy, &secret, &people, Some(&pause)), async {
        pause.arrived.wait().await;
        replicas[1].kill();
        pause.resume.wait().await;
    });
    let failed: Vec<&Failed> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    let reconnects = RECONNECTS.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "during the kill: {} of {} logins failed ({failed:?}); {reconnects} browser event streams lost their replica and reconnected",
        failed.len(),
        outcomes.len()
    );
    assert!(
        failed.iter().all(|f| matches!(f, Failed::Proxy(_))),
        "only requests on the killed replica may fail: {failed:?}"
    );
    // With one replica down, every new login completes.
    for outcome in round(&app, &proxy, &secret, &people, None).await {
        outcome.expect("login with a replica down");
    }
    replicas[1].restart();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for outcome in round(&app, &proxy, &secret, &people, None).await {
        outcome.expect("login after the restart");
    }

    // SIGTERM: a long-poll and an event stream on that replica end at once
    // (the app reconnects elsewhere), then the process exits within its grace.
    let who = &people[0];
    let target = &mut replicas[2];
    let poll_path = "/api/device/v1/challenges";
    let poll = app
        .http
        .get(target.url(&format!("{poll_path}?wait=25")))
        .header(
            "Authorization",
            format!("Device {}", who.device.request_proof("GET", poll_path)),
        )
        .send();
    let events_path = "/api/device/v1/challenges/events";
    let events = app
        .http
        .get(target.url(events_path))
        .header(
            "Authorization",
            format!("Device {}", who.device.request_proof("GET", events_path)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let poll = tokio::spawn(poll);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    let exited = tokio::task::spawn_blocking({
        let mut child = target.child.take();
        let port = target.port;
        move || {
            let mut replica = Replica {
                port,
                env: Vec::new(),
                child: child.take(),
            };
            replica.terminate()
        }
    });
    let answered = poll.await.unwrap().unwrap();
    let poll_took = signalled.elapsed();
    assert_eq!(answered.status(), 200);
    let body: Value = answered.json().await.unwrap();
    assert_eq!(body["challenges"], serde_json::json!([]));
    let mut events = events;
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(Some(_)) = events.chunk().await {}
    })
    .await;
    let stream_took = signalled.elapsed();
    let exit_took = exited.await.unwrap();
    eprintln!(
        "SIGTERM: long-poll answered after {poll_took:?}, event stream closed after {stream_took:?}, exit after {exit_took:?}"
    );
    assert!(ended.is_ok(), "the event stream is closed on SIGTERM");
    assert!(poll_took < Duration::from_secs(3), "{poll_took:?}");
    assert!(exit_took < Duration::from_secs(6), "{exit_took:?}");
}

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(idp_tests::config_path("../docs/deploy").join(name)).unwrap()
}

/// docs/deploy/nginx.conf passes `nginx -t` (with a throwaway certificate in
/// place of the real one), and the systemd units pass `systemd-analyze
/// verify` with no warning (when systemd-analyze is installed).
#[test]
fn shipped_deploy_files_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=sesame.test"])
        .arg("-keyout")
        .arg(dir.path().join("privkey.pem"))
        .arg("-out")
        .arg(dir.path().join("fullchain.pem"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let site = deploy_file("nginx.conf").replace("/etc/ssl/sesame/", &format!("{d}/"));
    std::fs::write(dir.path().join("sesame.conf"), site).unwrap();
    let main = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n    \
         client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n    \
         uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n    include {d}/sesame.conf;\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
    let checked = Command::new(nginx_binary())
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&checked.stderr)
    );

    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze is not installed: the units are not verified");
        return;
    };
    let bin = server_binary();
    let bin_dir = bin.parent().unwrap().display().to_string();
    for (unit, file) in [
        ("idp-server@.service", "idp-server@8080.service"),
        ("idp-admin-console.service", "idp-admin-console.service"),
    ] {
        // verify wants the executables to exist: point them at the build.
        let text = deploy_file(unit).replace("/usr/local/bin", &bin_dir);
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        let verified = Command::new(&analyze)
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&verified.stderr);
        assert!(
            verified.status.success() && stderr.trim().is_empty(),
            "systemd-analyze verify {unit}: {stderr}"
        );
    }
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|p| p.exists())
        })
        .ok_or(())
}
