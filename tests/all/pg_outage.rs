//! PostgreSQL killed (`kill -9`) under a running server: every request that
//! needs the database answers 503 with `Retry-After`, never 500, on the
//! protocol endpoints (OAuth shape), the pages (a page) and the device API
//! (its JSON shape); once PostgreSQL is back on the same data directory and
//! port, the pool drops its dead connections and everything works again
//! without restarting the server. Runs a PostgreSQL server of its own so it
//! can kill and restart it; Redis is the shared one of `REDIS_URL`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use idp_tests::authenticator::Authenticator;
use idp_tests::browser::Browser;
use idp_tests::oidc::{self as kit, REDIRECT_URI, manual_authorize, post_form};
use idp_tests::{Backend, RedisNamespace, TestApp, TestEnv, eventually};

const CLIENT: &str = "rp";
const PIN: &str = "2580";
/// Requests sent on each endpoint during the outage.
const N: usize = 10;

/// The directory holding `initdb`, `pg_ctl` and `postgres`, found as
/// `tests/scripts/with-services.sh` finds them.
fn pg_bin() -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Ok(output) = Command::new("sh")
        .args(["-c", "command -v pg_ctl"])
        .output()
        && output.status.success()
    {
        let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if let Some(dir) = std::fs::canonicalize(&path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            && has_all(&dir)
        {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_all(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A throwaway PostgreSQL cluster in a temporary directory, on a free port.
struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl OwnPostgres {
    fn start(bin: PathBuf) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::Builder::new()
            .prefix("sesame-pg-outage")
            .tempdir_in("/tmp")
            .unwrap();
        let as_postgres = is_root();
        let pg = OwnPostgres {
            bin,
            dir,
            port,
            as_postgres,
        };
        std::fs::create_dir(pg.data()).unwrap();
        if as_postgres {
            // initdb and postgres refuse to run as root.
            for path in [pg.dir.path(), &pg.data()] {
                let status = Command::new("chown")
                    .arg("postgres:")
                    .arg(path)
                    .status()
                    .unwrap();
                assert!(status.success(), "chown {}", path.display());
            }
        }
        let output = pg
            .command("initdb")
            .arg("-D")
            .arg(pg.data())
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        pg.run();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.current_dir(self.dir.path());
        command
    }

    /// Starts the server on the data directory (again). Retries while the
    /// backends of a killed server still hold its shared memory.
    fn run(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off",
                self.port,
                self.data().display()
            );
            let status = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-w", "-t", "30", "-s", "-l"])
                .arg(self.dir.path().join("log"))
                .args(["start", "-o", &options])
                .status()
                .unwrap();
            if status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start: {}",
                std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The postmaster's pid, from its lock file.
    fn postmaster_pid(&self) -> u32 {
        let lock = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap();
        lock.lines().next().unwrap().trim().parse().unwrap()
    }

    /// `kill -9` of the postmaster and of every backend it started, as an
    /// out-of-memory kill or a crashed host would do; waits until none is left.
    fn kill(&self) {
        let postmaster = self.postmaster_pid();
        let children = children_of(postmaster);
        for pid in std::iter::once(postmaster).chain(children.iter().copied()) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::iter::once(postmaster)
            .chain(children.iter().copied())
            .any(|pid| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid))
        {
            assert!(Instant::now() < deadline, "postgres processes survived");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-s", "-w", "-m", "immediate", "stop"])
            .status();
    }
}

fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // The fields after the parenthesised command name.
                    let rest = stat.rsplit_once(')')?.1.to_owned();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|s| s == "Z"))
        })
        .unwrap_or(true)
}

/// Status, `Retry-After` and body of a response.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Answer {
        status,
        retry_after,
        body: response.text().await.unwrap_or_default(),
    }
}

/// What the server under test needs for each endpoint.
struct Fixture {
    secret: String,
    refresh_token: String,
    device: Authenticator,
    email: String,
    password: String,
}

impl Fixture {
    async fn token(&self, app: &TestApp) -> Answer {
        answer(
            app.http
                .post(app.url("/token"))
                .basic_auth(CLIENT, Some(&self.secret))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &self.refresh_token),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn device_list(&self, app: &TestApp) -> Answer {
        let path = "/api/device/v1/devices";
        let proof = self.device.request_proof("GET", path);
        answer(
            app.http
                .get(app.url(path))
                .header("Authorization", format!("Device {proof}"))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A code request for the app holder (`i` = 0) or someone else: distinct
    /// addresses, since each address has its own attempt limit (5), counted
    /// before the database is asked.
    async fn activation_code(&self, app: &TestApp, i: usize) -> Answer {
        let email = match i {
            0 => self.email.clone(),
            i => format!("someone-{i}@example.fr"),
        };
        answer(
            app.http
                .post(app.url("/api/device/v1/activation/code"))
                .json(&serde_json::json!({ "email": email, "password": self.password }))
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

/// A phone page opened while the database was up: browser, `tx`, CSRF token.
struct PhoneForm {
    browser: Browser,
    tx: String,
    csrf: String,
}

impl PhoneForm {
    /// Types phone number `n`: finding its account needs the database.
    async fn post(&mut self, n: usize) -> Answer {
        let phone = format!("06 {:02} 00 00 {:02}", 20 + n % 70, n % 100);
        let (tx, csrf) = (self.tx.clone(), self.csrf.clone());
        let page = self
            .browser
            .post(
                "/login/telephone",
                &[("tx", &tx), ("csrf", &csrf), ("phone", &phone)],
            )
            .await;
        Answer {
            status: page.status,
            retry_after: page
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: page.body,
        }
    }
}

async fn setup(app: &TestApp) -> (Fixture, Vec<PhoneForm>) {
    let secret = kit::register_client(app, CLIENT, &kit::client_metadata()).unwrap();
    let citizen = kit::create_citizen(app, true);
    let mut browser = Browser::new(&app.base);
    let request = manual_authorize(&app.base, CLIENT, "openid offline_access", &[]);
    let code = kit::code(&mut browser, &request, &citizen).await;
    let (status, _, tokens) = post_form(
        app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &request.verifier),
        ],
        Some((CLIENT, &secret)),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    // A second citizen with a phone and an activated app.
    let (holder, activation) = kit::verified_with_activation_code(app, "+33611223344").await;
    let mut device = Authenticator::new(app.http.clone(), &app.base, &app.base).unwrap();
    device
        .activate(&holder.email, &holder.password, &activation, PIN, "Pixel")
        .await
        .expect("activation");

    // Phone pages, opened while the database is up: each POST of one of
    // them needs the database to find the number's account.
    let mut phone_forms = Vec::new();
    for _ in 0..N + 1 {
        let mut browser = Browser::new(&app.base);
        let request = manual_authorize(&app.base, CLIENT, "openid", &[("acr_values", "eidas2")]);
        let start = browser.get(&request.url).await;
        let location = start.location.clone().expect("redirect to the phone page");
        let form = browser.get(&location).await;
        assert_eq!(form.status, 200, "{}", form.body);
        let (tx, csrf) = (form.field("tx").unwrap(), form.field("csrf").unwrap());
        phone_forms.push(PhoneForm { browser, tx, csrf });
    }
    let fixture = Fixture {
        secret,
        refresh_token,
        device,
        email: holder.email,
        password: holder.password,
    };
    (fixture, phone_forms)
}

/// Every answer is a 503 with `Retry-After` in the expected shape; returns
/// how many were 500s (for the message).
fn assert_all_unavailable(endpoint: &str, answers: &[Answer], json: bool) {
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    let internal = statuses.iter().filter(|&&s| s == 500).count();
    assert!(
        answers.iter().all(|a| a.status == 503),
        "{endpoint}: every request must answer 503, got {statuses:?} ({internal}×500); first \
         other body: {}",
        answers
            .iter()
            .find(|a| a.status != 503)
            .map_or("", |a| a.body.as_str())
    );
    for a in answers {
        assert!(
            a.retry_after.is_some(),
            "{endpoint}: 503 without Retry-After"
        );
        if json {
            let body: serde_json::Value = serde_json::from_str(&a.body)
                .unwrap_or_else(|_| panic!("{endpoint}: not JSON: {}", a.body));
            assert_eq!(body["error"], "temporarily_unavailable", "{endpoint}");
        } else {
            assert!(
                a.body.contains("<html"),
                "{endpoint}: not a page: {}",
                a.body
            );
        }
        assert!(
            !a.body.contains("127.0.0.1") && !a.body.contains("connection"),
            "{endpoint}: internal detail in the answer: {}",
            a.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_answers_503_and_the_pool_recovers() {
    // Redis is the shared one; PostgreSQL is our own.
    if !Backend::PostgresRedis.available() {
        return;
    }
    let Some(bin) = pg_bin() else {
        assert!(
            std::env::var("CI").map_or(true, |v| v.is_empty() || v == "false"),
            "CI is set but initdb/pg_ctl/postgres were not found"
        );
        eprintln!("skipping: initdb/pg_ctl/postgres not found");
        return;
    };
    let pg = tokio::task::spawn_blocking(move || OwnPostgres::start(bin))
        .await
        .unwrap();
    let redis = RedisNamespace::new();
    let env = TestEnv::new(Backend::Embedded);
    let mut config = env.config();
    config.database.url = pg.url();
    config.database.acquire_timeout_ms = 500;
    config.ephemeral.url = redis.url.clone();
    config.ephemeral.namespace = redis.name.clone();
    config.login.phone_ip_limit = 1000;
    // No background reads (the key reloader's) that would find the dead
    // connections before the requests do.
    config.keys.reload_secs = 3600;
    let app = env.spawn_with(config).await;
    let (fixture, mut phone_forms) = setup(&app).await;
    // Every pooled connection is open (and will be dead after the kill).
    let warm: Vec<Answer> = join_all((0..8).map(|_| fixture.device_list(&app))).await;
    assert!(warm.iter().all(|a| a.status == 200));

    let pg = tokio::task::spawn_blocking(move || {
        pg.kill();
        pg
    })
    .await
    .unwrap();

    let started = Instant::now();
    let token = join_all((0..N).map(|_| fixture.token(&app))).await;
    assert_all_unavailable("/token", &token, true);
    let devices = join_all((0..N).map(|_| fixture.device_list(&app))).await;
    assert_all_unavailable("GET /api/device/v1/devices", &devices, true);
    let codes = join_all((0..N).map(|i| fixture.activation_code(&app, i))).await;
    assert_all_unavailable("POST /api/device/v1/activation/code", &codes, true);
    let phone = join_all(
        phone_forms[..N]
            .iter_mut()
            .enumerate()
            .map(|(i, form)| form.post(i)),
    )
    .await;
    assert_all_unavailable("POST /login/telephone", &phone, false);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "outage answers come promptly ({:?})",
        started.elapsed()
    );
    let (status, body) = {
        let response = app.get("/readyz").await;
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(status, 503, "{body}");

    // Same data directory, same port: the server recovers by itself.
    let pg = tokio::task::spawn_blocking(move || {
        pg.run();
        pg
    })
    .await
    .unwrap();
    assert!(
        eventually(Duration::from_secs(20), || async {
            fixture.token(&app).await.status == 200
        })
        .await,
        "/token works again after PostgreSQL restarted"
    );
    assert!(
        eventually(Duration::from_secs(20), || async {
            fixture.device_list(&app).await.status == 200
        })
        .await,
        "the device API works again after PostgreSQL restarted"
    );
    let last = &mut phone_forms[N];
    let phone = last.post(99).await;
    assert_eq!(
        phone.status, 303,
        "the phone page works again: {}",
        phone.body
    );
    // No dead connection is left in the pool: a burst wider than the pool
    // all succeeds.
    let burst = join_all((0..12).map(|_| fixture.device_list(&app))).await;
    let statuses: Vec<u16> = burst.iter().map(|a| a.status).collect();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");

    // A short crash that no request noticed: kill and restart at once, then
    // read-only calls. The first use of a dead connection fails (503); the
    // pool must then retire every connection of before the crash, not hand
    // them out one after the other.
    let pg = tokio::task::spawn_blocking(move || {
        pg.kill();
        pg.run();
        pg
    })
    .await
    .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = app.get("/readyz").await;
        statuses.push(response.status().as_u16());
    }
    let failed = statuses.iter().filter(|&&s| s != 200).count();
    assert!(
        failed <= 1 && statuses[1..].iter().all(|&s| s == 200),
        "at most the first read after the crash fails: {statuses:?}"
    );
    drop(app);
    drop(pg);
}
