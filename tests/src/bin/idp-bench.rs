//! `idp-bench`: the load driver and the seeding command of `make bench`
//! (docs/performance.md).
//!
//! - `seed`: creates N verified, active accounts, each with an active device
//!   and a remembered consent for the bench client, directly through the
//!   service layer (one transaction and one audit entry per batch).
//! - `run`: N virtual users doing complete eidas2 logins for a fixed time
//!   (authorize with PKCE → phone page → phone → waiting page → device
//!   challenge → signed approval with PIN and number → code → token with
//!   client_secret_basic → userinfo), with per-step latencies, errors, and
//!   the CPU time and peak RSS of the watched server processes.
//! - `endpoint`: one endpoint alone (discovery, JWKS, token).
//! - `wait`: many browsers waiting on approvals at once (SSE open), then
//!   approved; reports the server's RSS with all of them waiting.
//! - `report`: merges the JSON lines of a run into the results file and the
//!   Markdown table.
//!
//! Device keys: the seeder writes a small pool of P-256 keys to the state
//! file; account `i` uses key `i % pool`. The server stores one public key
//! per device row, so sharing keys between seeded devices changes nothing on
//! its path (each device is still looked up by its own id).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Parser, Subcommand};
use idp_tests::authenticator::{Authenticator, Saved};
use reqwest::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;

#[path = "idp-bench/client.rs"]
mod client;
use client::{Conn, Jar, RETRIES, Resp};

const CLIENT_ID: &str = "bench-rp";
const REDIRECT_URI: &str = "http://127.0.0.1:9/bench/callback";
const PIN: &str = "2580";
const SCOPE: &str = "openid profile";
const SEED_ACTOR: &str = "cli:bench-seed";

#[derive(Parser)]
#[command(about = "Sésame load driver and seeder (make bench)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the bench client and N active accounts with devices.
    Seed {
        /// Configuration file of the server (same as idp-server --config).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value_t = 10_000)]
        accounts: u64,
        /// Accounts per transaction.
        #[arg(long, default_value_t = 5_000)]
        batch: u64,
        /// Distinct device keys shared round-robin by the accounts.
        #[arg(long, default_value_t = 64)]
        key_pool: usize,
        /// Where the driver's state (client secret, device keys) is written.
        #[arg(long)]
        state: PathBuf,
    },
    /// Complete eidas2 logins by N virtual users for a fixed time.
    Run {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Unmeasured warm-up before the measured period.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        /// Verify the ID token signature on one flow in this many.
        #[arg(long, default_value_t = 50)]
        verify_every: u64,
    },
    /// One endpoint alone: discovery, jwks or token (invalid code, valid client).
    Endpoint {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// N browsers waiting on approvals at once (SSE open), then all approved.
    Wait {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 10_000)]
        browsers: u64,
        /// Logins started in parallel while building up.
        #[arg(long, default_value_t = 64)]
        parallel: usize,
    },
    /// Merge JSON lines into results JSON and a Markdown table.
    Report {
        /// JSON lines written by run/endpoint/wait (and the script's notes).
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        json_out: PathBuf,
        #[arg(long)]
        md_out: PathBuf,
    },
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Base URL of the server (also the issuer).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    #[arg(long)]
    state: PathBuf,
    /// Label of the configuration (e.g. postgres-redis, embedded).
    #[arg(long, default_value = "")]
    label: String,
    /// Processes to watch, as name=pid[,pid…] (CPU: the process, its
    /// reaped children and its live children; RSS: the first pid).
    #[arg(long)]
    watch: Vec<String>,
    /// Driver worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Where one JSON line with the result is appended.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Use accounts [offset, offset + count) only (0 = all).
    #[arg(long, default_value_t = 0)]
    offset: u64,
    #[arg(long, default_value_t = 0)]
    count: u64,
    /// Which repetition of this configuration (bench/run.sh's BENCH_RUNS).
    #[arg(long, default_value_t = 1)]
    round: u32,
    /// The server is the peer (bench/peer: node-oidc-provider): the login is
    /// its login + consent interaction instead of the phone and the app.
    #[arg(long)]
    peer: bool,
}

#[derive(Serialize, Deserialize)]
struct State {
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    accounts: u64,
    pin: String,
    keys: Vec<String>,
}

fn account_id(i: u64) -> String {
    format!("b0000000-0000-4000-8000-{i:012}")
}
fn device_id(i: u64) -> String {
    format!("d0000000-0000-4000-8000-{i:012}")
}
/// +33 61 xxx xxxx: 10 million distinct valid French mobiles.
fn phone(i: u64) -> String {
    format!("+3361{:07}", i % 10_000_000)
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Seed {
            config,
            accounts,
            batch,
            key_pool,
            state,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(seed(config, accounts, batch.max(1), key_pool.max(1), state));
        }
        Command::Report {
            input,
            json_out,
            md_out,
        } => report(&input, &json_out, &md_out),
        Command::Run {
            common,
            concurrency,
            seconds,
            warmup,
            verify_every,
        } => {
            // The virtual users run on threads of their own (run).
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let line = rt.block_on(run(
                &common,
                concurrency,
                seconds,
                warmup,
                verify_every.max(1),
            ));
            emit(&common, &line);
        }
        Command::Endpoint {
            common,
            name,
            concurrency,
            seconds,
        } => {
            let rt = runtime(common.threads);
            let line = rt.block_on(endpoint(&common, &name, concurrency, seconds));
            emit(&common, &line);
        }
        Command::Wait {
            common,
            browsers,
            parallel,
        } => {
            let rt = runtime(common.threads);
            let line = rt.block_on(wait(&common, browsers, parallel.max(1)));
            emit(&common, &line);
        }
    }
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .unwrap()
}

fn emit(common: &Common, line: &Value) {
    let text = serde_json::to_string(line).unwrap();
    println!("{}", serde_json::to_string_pretty(line).unwrap());
    if let Some(path) = &common.out {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{text}").unwrap();
    }
}

// ------------------------------------------------------------------ seeding

async fn seed(config: Option<PathBuf>, n: u64, batch: u64, key_pool: usize, state_path: PathBuf) {
    use idp_server::app::Core;
    use idp_server::config::Config;
    use idp_server::domain::acr::Acr;
    use idp_server::domain::client::ClientMetadata;
    use idp_server::domain::pin::Pin;
    use idp_server::oidc::clients;
    use idp_server::store::accounts::{self, IdentityRow, NewAccount};
    use idp_server::store::audit::{self, AuditEvent};
    use idp_server::store::{consents, devices, now_unix};

    let started = Instant::now();
    let config = Config::load(config.as_deref()).expect("configuration");
    let core = Core::init(config, std::env::var("IDP_MASTER_KEY").ok())
        .await
        .expect("core");

    // The state file is kept across runs so the keys match the seeded rows.
    let state: State = match std::fs::read(&state_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).expect("state file"),
        Err(_) => {
            let keys = (0..key_pool)
                .map(|_| {
                    let key = josekit::jws::ES256.generate_key_pair().unwrap();
                    String::from_utf8(key.to_pem_private_key()).unwrap()
                })
                .collect();
            let secret = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(
                uuid::Uuid::new_v4().as_bytes().as_slice(),
            ));
            State {
                client_id: CLIENT_ID.into(),
                client_secret: secret,
                redirect_uri: REDIRECT_URI.into(),
                accounts: 0,
                pin: PIN.into(),
                keys,
            }
        }
    };
    let jwks: Vec<String> = state
        .keys
        .iter()
        .map(|pem| {
            let a = Authenticator::load(
                reqwest::Client::new(),
                &Saved {
                    server: String::new(),
                    issuer: String::new(),
                    device_id: None,
                    private_key_pem: pem.clone(),
                },
            )
            .unwrap();
            a.public_jwk().to_string()
        })
        .collect();

    let metadata = ClientMetadata {
        redirect_uris: vec![REDIRECT_URI.into()],
        allowed_acr: vec![Acr::Eidas1, Acr::Eidas2],
        default_acr: Acr::Eidas2,
        ..ClientMetadata::default()
    };
    let db = core.db.clone();
    let key = core.subkeys.client_secret_key;
    let secret = state.client_secret.clone();
    tokio::task::spawn_blocking(move || {
        clients::ensure_blocking(
            &db,
            &key,
            CLIENT_ID,
            "Banc d'essai",
            &metadata,
            Some(&secret),
            SEED_ACTOR,
        )
    })
    .await
    .unwrap()
    .expect("bench client");

    let pin = Pin::parse(PIN).expect("PIN");
    let pepper = core.subkeys.pin_pepper;
    let scopes: Vec<String> = SCOPE.split(' ').map(str::to_owned).collect();
    let mut created = 0u64;
    let mut from = 0u64;
    while from < n {
        let to = (from + batch).min(n);
        let db = core.db.clone();
        let jwks = jwks.clone();
        let pin = pin.clone();
        let scopes = scopes.clone();
        let made = tokio::task::spawn_blocking(move || {
            db.write_blocking(|conn| {
                // Batches are all or nothing: skip the ones already there.
                if accounts::by_id(conn, &account_id(to - 1))?.is_some() {
                    return Ok(0);
                }
                let now = now_unix();
                // Multi-row INSERTs of at most CHUNK rows: one statement per
                // table and chunk instead of one per row.
                const CHUNK: u64 = 1_000;
                let mut start = from;
                while start < to {
                    let end = (start + CHUNK).min(to);
                    let ids: Vec<(String, String, String, String)> = (start..end)
                        .map(|i| {
                            (
                                account_id(i),
                                device_id(i),
                                format!("bench-{i}@bench.sesame.test"),
                                phone(i),
                            )
                        })
                        .collect();
                    let new_accounts: Vec<NewAccount<'_>> = ids
                        .iter()
                        .map(|(id, _, email, phone)| NewAccount {
                            id,
                            state: "active",
                            email,
                            password_hash: None,
                            phone: Some(phone),
                        })
                        .collect();
                    accounts::insert_many(conn, &new_accounts)?;
                    let identities: Vec<IdentityRow> = ids
                        .iter()
                        .map(|(id, ..)| IdentityRow {
                            account_id: id.clone(),
                            given_name: "Camille".into(),
                            family_name: "BANC".into(),
                            preferred_username: None,
                            birthdate: "1980-01-01".into(),
                            gender: "female".into(),
                            birthplace: "75056".into(),
                            birthcountry: "99100".into(),
                            verified_at: Some(now),
                            verification_method: Some(
                                idp_server::domain::account::VerificationMethod::FaceToFace,
                            ),
                        })
                        .collect();
                    accounts::insert_identities(conn, &identities)?;
                    let verifiers: Vec<String> = ids
                        .iter()
                        .map(|(_, dev, ..)| idp_server::device::pin_verifier(&pepper, dev, &pin))
                        .collect();
                    let new_devices: Vec<devices::NewDevice<'_>> = ids
                        .iter()
                        .zip(&verifiers)
                        .zip(start..end)
                        .map(|(((id, dev, ..), verifier), i)| devices::NewDevice {
                            id: dev,
                            account_id: id,
                            name: "Banc d'essai",
                            public_jwk: &jwks[(i % jwks.len() as u64) as usize],
                            pin_verifier: verifier,
                        })
                        .collect();
                    devices::insert_many(conn, &new_devices)?;
                    let account_ids: Vec<&str> = ids.iter().map(|(id, ..)| id.as_str()).collect();
                    consents::grant_new(conn, &account_ids, CLIENT_ID, &scopes)?;
                    start = end;
                }
                audit::append(
                    conn,
                    &AuditEvent {
                        actor: SEED_ACTOR,
                        action: "bench.seed_accounts",
                        subject: CLIENT_ID,
                        details: json!({ "from": from, "to": to }),
                    },
                )?;
                Ok(to - from)
            })
        })
        .await
        .unwrap()
        .expect("seeding batch");
        created += made;
        from = to;
        if made > 0 && (to.is_multiple_of(batch * 20) || to == n) {
            eprintln!(
                "idp-bench seed: {to}/{n} accounts ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    let state = State {
        accounts: state.accounts.max(n),
        ..state
    };
    std::fs::write(&state_path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    eprintln!(
        "idp-bench seed: {created} accounts created ({n} wanted) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ------------------------------------------------------------------ processes

/// utime + stime (+ reaped children) of `pid`, in seconds.
fn proc_cpu(pid: u32, with_children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // Fields after the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    let mut ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    if with_children {
        ticks += f.get(13)?.parse::<u64>().ok()? + f.get(14)?.parse::<u64>().ok()?;
    }
    Some(ticks as f64 / 100.0)
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat"))
                && let Some(close) = stat.rfind(')')
                && stat[close + 2..].split(' ').nth(1) == Some(&pid.to_string())
            {
                out.push(child);
            }
        }
    }
    out
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Watched {
    name: String,
    pids: Vec<u32>,
}

impl Watched {
    fn parse(specs: &[String]) -> Vec<Watched> {
        specs
            .iter()
            .filter_map(|s| {
                let (name, pids) = s.split_once('=')?;
                Some(Watched {
                    name: name.to_owned(),
                    pids: pids.split(',').filter_map(|p| p.parse().ok()).collect(),
                })
            })
            .collect()
    }

    /// CPU seconds of the processes, their reaped and their live children.
    fn cpu(&self) -> f64 {
        let mut total = 0.0;
        for &pid in &self.pids {
            total += proc_cpu(pid, true).unwrap_or(0.0);
            for child in children(pid) {
                total += proc_cpu(child, false).unwrap_or(0.0);
            }
        }
        total
    }
}

fn self_cpu() -> f64 {
    proc_cpu(std::process::id(), false).unwrap_or(0.0)
}

// ------------------------------------------------------------------ HTTP

fn http_client(max_idle: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(max_idle)
        // Below the server's keep-alive (actix: 5 s), so the pool does not
        // hand out a connection the server is closing.
        .pool_idle_timeout(std::time::Duration::from_secs(3))
        .tcp_nodelay(true)
        .build()
        .unwrap()
}

fn field(body: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = body.find(&needle)? + needle.len();
    let end = body[start..].find('"')? + start;
    Some(
        body[start..end]
            .replace("&#x2d;", "-")
            .replace("&#x5f;", "_"),
    )
}

fn shown_number(body: &str) -> Option<i64> {
    let start = body.find("id=\"match-number\"")?;
    let rest = &body[start..];
    let digits: String = rest[rest.find('>')? + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

// ------------------------------------------------------------------ the flow

const STEPS: [&str; 11] = [
    "authorize",
    "phone_page",
    "phone_post",
    "wait_page",
    "device_challenges",
    "device_approve",
    "wait_done",
    "consent",
    "token",
    "userinfo",
    "verify_id_token",
];

const FORM: &str = "application/x-www-form-urlencoded";

struct Ctx {
    http: reqwest::Client,
    base: String,
    state: State,
    basic: String,
    /// `/authorize?…` up to the per-login parameters.
    authorize_prefix: String,
    /// `&redirect_uri=…&code_verifier=` of the token request.
    token_middle: String,
    /// ES256 verifiers of the server's key set, by kid.
    jwks: HashMap<String, josekit::jws::alg::ecdsa::EcdsaJwsVerifier>,
    /// The server is the peer ([`peer_login`]).
    peer: bool,
    devices: Devices,
}

impl Ctx {
    async fn new(common: &Common, max_idle: usize) -> Arc<Ctx> {
        let state: State = serde_json::from_slice(&std::fs::read(&common.state).unwrap()).unwrap();
        let http = http_client(max_idle);
        let base = common.server.trim_end_matches('/').to_owned();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                form_encode(&state.client_id),
                form_encode(&state.client_secret)
            ))
        );
        let jwks_doc: Value = http
            .get(format!("{base}/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        let mut jwks = HashMap::new();
        if let Some(keys) = jwks_doc["keys"].as_array() {
            for key in keys {
                if key["kty"] == "EC"
                    && let Ok(jwk) =
                        josekit::jwk::Jwk::from_map(key.as_object().cloned().unwrap_or_default())
                    && let Ok(v) = josekit::jws::ES256.verifier_from_jwk(&jwk)
                {
                    jwks.insert(key["kid"].as_str().unwrap_or("").to_owned(), v);
                }
            }
        }
        let authorize_prefix = format!(
            "/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}",
            form_encode(&state.client_id),
            form_encode(&state.redirect_uri),
            form_encode(SCOPE),
        );
        let token_middle = format!(
            "&redirect_uri={}&code_verifier=",
            form_encode(&state.redirect_uri)
        );
        let devices = Devices::new(&http, &base, &state);
        Arc::new(Ctx {
            http,
            base,
            state,
            basic,
            authorize_prefix,
            token_middle,
            jwks,
            peer: common.peer,
            devices,
        })
    }

    /// A `Location` as a path on the server (the peer's are absolute).
    fn path<'a>(&self, location: &'a str) -> &'a str {
        location
            .strip_prefix(self.base.as_str())
            .unwrap_or(location)
    }
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The device keys, one authenticator per pool key, loaded once and shared
/// by all virtual users (loading 64 keys per user cost seconds at 64 users).
struct Devices(Vec<std::sync::Mutex<Authenticator>>);

impl Devices {
    fn new(http: &reqwest::Client, base: &str, state: &State) -> Devices {
        Devices(
            state
                .keys
                .iter()
                .map(|pem| {
                    std::sync::Mutex::new(
                        Authenticator::load(
                            http.clone(),
                            &Saved {
                                server: base.to_owned(),
                                issuer: base.to_owned(),
                                device_id: None,
                                private_key_pem: pem.clone(),
                            },
                        )
                        .unwrap(),
                    )
                })
                .collect(),
        )
    }

    /// `sign` with the key and the device id of account `i`.
    fn sign_as<T>(&self, i: u64, sign: impl FnOnce(&Authenticator) -> T) -> T {
        let n = self.0.len() as u64;
        let mut device = self.0[(i % n) as usize].lock().unwrap();
        device.device_id = Some(device_id(i));
        sign(&device)
    }
}

struct Timer<'a> {
    times: &'a mut [u64; STEPS.len()],
    at: Instant,
}

impl Timer<'_> {
    fn lap(&mut self, step: usize) {
        let now = Instant::now();
        self.times[step] += (now - self.at).as_micros() as u64;
        self.at = now;
    }
}

fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_path(ctx: &Ctx, state: &str, nonce: &str, challenge: &str) -> String {
    let mut path = String::with_capacity(ctx.authorize_prefix.len() + 200);
    for s in [
        ctx.authorize_prefix.as_str(),
        "&state=",
        state,
        "&nonce=",
        nonce,
        "&code_challenge=",
        challenge,
        "&code_challenge_method=S256&acr_values=eidas2",
    ] {
        path.push_str(s);
    }
    path
}

/// A browser at the waiting page.
struct Waiting {
    jar: Jar,
    tx: String,
    number: i64,
    verifier: String,
    state: String,
    nonce: String,
}

/// authorize → phone page → phone → waiting page. Errors name the step.
async fn start_login(
    ctx: &Ctx,
    conn: &mut Conn,
    account: u64,
    timer: &mut Timer<'_>,
) -> Result<Waiting, (usize, String)> {
    let mut jar = Jar::default();
    let (verifier, challenge) = pkce();
    let state = uuid::Uuid::new_v4().simple().to_string();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let path = authorize_path(ctx, &state, &nonce, &challenge);
    let r = conn
        .get(Some(&mut jar), &path, None)
        .await
        .map_err(|e| (0, e))?;
    let location = match (r.status, r.location) {
        (303, Some(l)) if l.starts_with("/login/telephone?") => l,
        (s, l) => return Err((0, format!("authorize: {s} {l:?}"))),
    };
    timer.lap(0);
    let r = conn
        .get(Some(&mut jar), &location, None)
        .await
        .map_err(|e| (1, e))?;
    let (Some(tx), Some(csrf)) = (field(&r.body, "tx"), field(&r.body, "csrf")) else {
        return Err((1, format!("phone page: {} without tx/csrf", r.status)));
    };
    timer.lap(1);
    let body = format!(
        "tx={}&csrf={}&phone={}",
        form_encode(&tx),
        form_encode(&csrf),
        form_encode(&phone(account))
    );
    let r = conn
        .post(Some(&mut jar), "/login/telephone", None, FORM, &body)
        .await
        .map_err(|e| (2, e))?;
    let location = match (r.status, r.location) {
        (303, Some(l)) if l.starts_with("/login/telephone/attente") => l,
        (s, _) => return Err((2, format!("phone post: {s} {}", snippet(&r.body)))),
    };
    timer.lap(2);
    let r = conn
        .get(Some(&mut jar), &location, None)
        .await
        .map_err(|e| (3, e))?;
    let Some(number) = shown_number(&r.body) else {
        return Err((3, format!("waiting page: {} without number", r.status)));
    };
    timer.lap(3);
    Ok(Waiting {
        jar,
        tx,
        number,
        verifier,
        state,
        nonce,
    })
}

fn snippet(body: &str) -> String {
    body.chars().take(120).collect()
}

#[derive(Deserialize)]
struct Challenges {
    challenges: Vec<Challenge>,
}

#[derive(Deserialize)]
struct Challenge {
    id: String,
    nonce: String,
}

/// The device: its pending challenge, approved with PIN and number; the
/// same requests as [`Authenticator::challenges`] and
/// [`Authenticator::approve`], signed by it, sent on the user's connection.
async fn approve(
    devices: &Devices,
    account: u64,
    conn: &mut Conn,
    number: i64,
    timer: &mut Timer<'_>,
) -> Result<(), (usize, String)> {
    let path = CHALLENGES;
    let proof = devices.sign_as(account, |d| d.request_proof("GET", path));
    let r = conn
        .get(
            None,
            &format!("{path}?wait=5"),
            Some(&format!("Device {proof}")),
        )
        .await
        .map_err(|e| (4, e))?;
    if r.status != 200 {
        return Err((4, format!("challenges: {} {}", r.status, snippet(&r.body))));
    }
    let list: Challenges = serde_json::from_str(&r.body).map_err(|e| (4, e.to_string()))?;
    let Some(challenge) = list.challenges.into_iter().next() else {
        return Err((4, "no pending challenge".into()));
    };
    timer.lap(4);
    let jws = devices.sign_as(account, |d| {
        d.decision(
            &challenge.id,
            &challenge.nonce,
            "approve",
            Some(PIN),
            Some(number),
        )
    });
    let path = format!("{path}/{}/decision", challenge.id);
    let r = conn
        .post(None, &path, None, "application/jose", &jws)
        .await
        .map_err(|e| (5, e))?;
    if !(200..300).contains(&r.status) {
        return Err((5, format!("decision: {} {}", r.status, snippet(&r.body))));
    }
    timer.lap(5);
    Ok(())
}

const CHALLENGES: &str = "/api/device/v1/challenges";

/// Waiting page after approval → (consent) → code → token → userinfo.
async fn finish_login(
    ctx: &Ctx,
    conn: &mut Conn,
    mut w: Waiting,
    verify: bool,
    timer: &mut Timer<'_>,
) -> Result<(), (usize, String)> {
    let path = format!("/login/telephone/attente?tx={}", w.tx);
    let mut r = conn
        .get(Some(&mut w.jar), &path, None)
        .await
        .map_err(|e| (6, e))?;
    timer.lap(6);
    for _ in 0..2 {
        match (&r.status, &r.location) {
            (303, Some(l)) if l.starts_with("/consent") => {
                let page = conn
                    .get(Some(&mut w.jar), l, None)
                    .await
                    .map_err(|e| (7, e))?;
                let csrf = field(&page.body, "csrf").ok_or((7, "consent page".to_owned()))?;
                let body = format!(
                    "tx={}&csrf={}&decision=approve",
                    form_encode(&w.tx),
                    form_encode(&csrf)
                );
                r = conn
                    .post(Some(&mut w.jar), "/consent", None, FORM, &body)
                    .await
                    .map_err(|e| (7, e))?;
                timer.lap(7);
            }
            _ => break,
        }
    }
    let location = match (r.status, r.location) {
        (303 | 302, Some(l)) if l.starts_with(&ctx.state.redirect_uri) => l,
        (s, l) => return Err((6, format!("after approval: {s} {l:?}"))),
    };
    redeem(ctx, conn, &w, &location, verify, timer).await
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    #[allow(dead_code)]
    sub: String,
}

/// The redirect to the client → token → userinfo (→ ID token checked).
async fn redeem(
    ctx: &Ctx,
    conn: &mut Conn,
    w: &Waiting,
    location: &str,
    verify: bool,
    timer: &mut Timer<'_>,
) -> Result<(), (usize, String)> {
    if query_param(location, "state").as_deref() != Some(w.state.as_str()) {
        return Err((6, "state mismatch".into()));
    }
    let code = query_param(location, "code").ok_or((6, format!("no code: {location}")))?;
    let mut body = String::with_capacity(200);
    for s in [
        "grant_type=authorization_code&code=",
        &form_encode(&code),
        &ctx.token_middle,
        &w.verifier,
    ] {
        body.push_str(s);
    }
    let r = conn
        .post(None, "/token", Some(&ctx.basic), FORM, &body)
        .await
        .map_err(|e| (8, e))?;
    let tokens: Tokens = match (r.status, serde_json::from_str(&r.body)) {
        (200, Ok(tokens)) => tokens,
        (s, _) => return Err((8, format!("token: {s} {}", snippet(&r.body)))),
    };
    timer.lap(8);
    let bearer = format!("Bearer {}", tokens.access_token);
    let r = conn
        .get(None, "/userinfo", Some(&bearer))
        .await
        .map_err(|e| (9, e))?;
    if r.status != 200 || serde_json::from_str::<UserInfo>(&r.body).is_err() {
        return Err((9, format!("userinfo: {} {}", r.status, snippet(&r.body))));
    }
    timer.lap(9);
    if verify {
        let id_token = tokens.id_token.as_deref().unwrap_or("");
        verify_id_token(ctx, id_token, &w.nonce).map_err(|e| (10, e))?;
        timer.lap(10);
    }
    Ok(())
}

/// The peer's login (bench/peer/server.js, node-oidc-provider's own
/// interaction): authorize → login page → login → resume → consent page →
/// consent → resume → then the same token and userinfo calls. Its steps are
/// timed in the first slots of [`STEPS`], whose names are Sésame's.
async fn peer_login(
    ctx: &Ctx,
    conn: &mut Conn,
    account: u64,
    verify: bool,
    timer: &mut Timer<'_>,
) -> Result<(), (usize, String)> {
    let mut w = Waiting {
        jar: Jar::default(),
        tx: String::new(),
        number: 0,
        verifier: String::new(),
        state: uuid::Uuid::new_v4().simple().to_string(),
        nonce: uuid::Uuid::new_v4().simple().to_string(),
    };
    let (verifier, challenge) = pkce();
    w.verifier = verifier;
    let path = authorize_path(ctx, &w.state, &w.nonce, &challenge);
    let r = conn.get(Some(&mut w.jar), &path, None).await;
    let mut location = peer_step(r, 0, timer)?;
    for (step, action) in [(1, "login"), (4, "confirm")] {
        let page = conn
            .get(Some(&mut w.jar), ctx.path(&location), None)
            .await
            .map_err(|e| (step, e))?;
        if page.status != 200 {
            return Err((step, format!("interaction page: {}", page.status)));
        }
        timer.lap(step);
        let form = match action {
            "login" => format!("login=bench-{account}&password=x"),
            _ => String::new(),
        };
        let post = format!("{}/{action}", ctx.path(&location));
        let r = conn.post(Some(&mut w.jar), &post, None, FORM, &form).await;
        let resume = peer_step(r, step + 1, timer)?;
        let r = conn.get(Some(&mut w.jar), ctx.path(&resume), None).await;
        location = peer_step(r, step + 2, timer)?;
    }
    if !location.starts_with(&ctx.state.redirect_uri) {
        return Err((6, format!("after consent: {location}")));
    }
    redeem(ctx, conn, &w, &location, verify, timer).await
}

/// One answer of the peer's login that must redirect; its `Location`.
fn peer_step(
    r: Result<Resp, String>,
    step: usize,
    timer: &mut Timer<'_>,
) -> Result<String, (usize, String)> {
    let r = r.map_err(|e| (step, e))?;
    let location = match (r.status, r.location) {
        (302 | 303, Some(l)) => l,
        (s, _) => return Err((step, format!("{s}: {}", snippet(&r.body)))),
    };
    timer.lap(step);
    Ok(location)
}

fn verify_id_token(ctx: &Ctx, token: &str, nonce: &str) -> Result<(), String> {
    let header = token.split('.').next().unwrap_or("");
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|e| format!("ID token header: {e}"))?,
    )
    .map_err(|e| e.to_string())?;
    let kid = header["kid"].as_str().unwrap_or("");
    let verifier = ctx
        .jwks
        .get(kid)
        .ok_or_else(|| format!("ID token: unknown kid {kid} (alg {})", header["alg"]))?;
    let (payload, _) = josekit::jws::deserialize_compact(token, verifier)
        .map_err(|e| format!("ID token signature: {e}"))?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
    if claims["nonce"] != nonce || claims["acr"] != "eidas2" || claims["iss"] != ctx.base {
        return Err(format!("ID token claims: {claims}"));
    }
    Ok(())
}

#[derive(Default)]
struct VuResult {
    flows: u64,
    latencies: Vec<u32>,
    steps: Vec<Vec<u32>>,
    errors: HashMap<String, (u64, String)>,
    /// Connections opened.
    connects: u64,
}

fn account_range(common: &Common, state: &State) -> (u64, u64) {
    let total = state.accounts;
    let count = if common.count == 0 {
        total.saturating_sub(common.offset)
    } else {
        common.count
    };
    (common.offset, count.max(1))
}

#[allow(clippy::too_many_arguments)]
async fn virtual_user(
    ctx: Arc<Ctx>,
    vu: u64,
    users: u64,
    range: (u64, u64),
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    counter: Arc<AtomicU64>,
    verify_every: u64,
) -> VuResult {
    let mut result = VuResult {
        steps: vec![Vec::new(); STEPS.len()],
        ..VuResult::default()
    };
    let mut conn = Conn::new(&ctx.base);
    // Each user walks its own slice of the accounts, so two users never
    // log in to the same account at once.
    let per_user = (range.1 / users).max(1);
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let account = range.0 + (vu * per_user + k % per_user) % range.1;
        k += 1;
        let seq = counter.fetch_add(1, Ordering::Relaxed);
        let verify = seq.is_multiple_of(verify_every);
        let mut times = [0u64; STEPS.len()];
        let started = Instant::now();
        let outcome = {
            let mut timer = Timer {
                times: &mut times,
                at: started,
            };
            async {
                let conn = &mut conn;
                if ctx.peer {
                    return peer_login(&ctx, conn, account, verify, &mut timer).await;
                }
                let w = start_login(&ctx, conn, account, &mut timer).await?;
                let number = w.number;
                approve(&ctx.devices, account, conn, number, &mut timer).await?;
                finish_login(&ctx, conn, w, verify, &mut timer).await
            }
            .await
        };
        let elapsed = started.elapsed().as_micros() as u32;
        if !measuring.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed) {
            continue;
        }
        match outcome {
            Ok(()) => {
                result.flows += 1;
                result.latencies.push(elapsed);
                for (i, t) in times.iter().enumerate() {
                    if *t > 0 || i < 7 || i == 8 || i == 9 {
                        result.steps[i].push(*t as u32);
                    }
                }
            }
            Err((step, message)) => {
                let key = format!(
                    "{}: {}",
                    STEPS[step],
                    message.chars().take(60).collect::<String>()
                );
                let e = result.errors.entry(key).or_insert((0, message));
                e.0 += 1;
            }
        }
    }
    result.connects = conn.connects;
    result
}

fn percentiles(mut v: Vec<u32>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_unstable();
    let at = |p: f64| {
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        (v[i] as f64 / 1000.0 * 100.0).round() / 100.0
    };
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1000.0;
    json!({
        "n": v.len(),
        "mean_ms": (mean * 100.0).round() / 100.0,
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
    })
}

struct Snapshot {
    at: Instant,
    cpu: Vec<f64>,
    driver: f64,
}

fn snapshot(watched: &[Watched]) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        cpu: watched.iter().map(Watched::cpu).collect(),
        driver: self_cpu(),
    }
}

/// CPU of each watched process between two snapshots, and its RSS now.
fn resources(watched: &[Watched], a: &Snapshot, b: &Snapshot, units: u64) -> (Value, f64) {
    let wall = (b.at - a.at).as_secs_f64();
    let mut out = serde_json::Map::new();
    let mut server_cpu = 0.0;
    for (i, w) in watched.iter().enumerate() {
        let cpu = b.cpu[i] - a.cpu[i];
        if w.name == "server" {
            server_cpu = cpu;
        }
        let pid = w.pids.first().copied().unwrap_or(0);
        out.insert(
            w.name.clone(),
            json!({
                "cpu_s": round3(cpu),
                "cores": round3(cpu / wall),
                "cpu_ms_per_unit": if units > 0 { round3(cpu * 1000.0 / units as f64) } else { 0.0 },
                "rss_mb": status_kb(pid, "VmRSS:").map(|k| round3(k as f64 / 1024.0)),
                "peak_rss_mb": status_kb(pid, "VmHWM:").map(|k| round3(k as f64 / 1024.0)),
            }),
        );
    }
    let driver = b.driver - a.driver;
    out.insert(
        "driver".into(),
        json!({
            "cpu_s": round3(driver),
            "cores": round3(driver / wall),
            "cpu_ms_per_unit": if units > 0 { round3(driver * 1000.0 / units as f64) } else { 0.0 },
            "peak_rss_mb": status_kb(std::process::id(), "VmHWM:").map(|k| round3(k as f64 / 1024.0)),
        }),
    );
    (Value::Object(out), server_cpu)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Waits `seconds`; for a run of two minutes or more, reports each minute
/// (logins started, server CPU per login, RSS), so a long run shows whether
/// it stays flat. Logins started stand in for logins done: they differ by at
/// most the number of virtual users per minute.
async fn by_minute(watched: &[Watched], started: &AtomicU64, seconds: u64) -> Vec<Value> {
    if seconds < 120 {
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        return Vec::new();
    }
    let mut minutes = Vec::new();
    let mut mark = (snapshot(watched), started.load(Ordering::Relaxed));
    let mut left = seconds;
    while left > 0 {
        let slice = left.min(60);
        tokio::time::sleep(Duration::from_secs(slice)).await;
        left -= slice;
        let now = (snapshot(watched), started.load(Ordering::Relaxed));
        let flows = now.1 - mark.1;
        let wall = (now.0.at - mark.0.at).as_secs_f64();
        let (res, server_cpu) = resources(watched, &mark.0, &now.0, flows);
        minutes.push(json!({
            "seconds": round3(wall),
            "flows_per_s": round3(flows as f64 / wall),
            "server_cpu_ms_per_flow": if flows > 0 { round3(server_cpu * 1000.0 / flows as f64) } else { 0.0 },
            "resources": res,
        }));
        mark = now;
    }
    minutes
}

async fn run(
    common: &Common,
    concurrency: usize,
    seconds: u64,
    warmup: u64,
    verify_every: u64,
) -> Value {
    let ctx = Ctx::new(common, concurrency * 2).await;
    let range = account_range(common, &ctx.state);
    let watched = Watched::parse(&common.watch);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    // One current-thread runtime per driver thread, the virtual users dealt
    // round-robin over them: no work stealing, no cross-thread wake-ups.
    let threads = common.threads.clamp(1, concurrency.max(1));
    let users: Vec<_> = (0..threads)
        .map(|t| {
            let (ctx, measuring, stop, counter) = (
                Arc::clone(&ctx),
                Arc::clone(&measuring),
                Arc::clone(&stop),
                Arc::clone(&counter),
            );
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let mine: Vec<_> = (t..concurrency)
                        .step_by(threads)
                        .map(|vu| {
                            tokio::spawn(virtual_user(
                                Arc::clone(&ctx),
                                vu as u64,
                                concurrency as u64,
                                range,
                                Arc::clone(&measuring),
                                Arc::clone(&stop),
                                Arc::clone(&counter),
                                verify_every,
                            ))
                        })
                        .collect();
                    let mut results = Vec::new();
                    for user in mine {
                        results.push(user.await.unwrap());
                    }
                    results
                })
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let before = snapshot(&watched);
    measuring.store(true, Ordering::Relaxed);
    let minutes = by_minute(&watched, &counter, seconds).await;
    let after = snapshot(&watched);
    stop.store(true, Ordering::Relaxed);
    let mut all = VuResult {
        steps: vec![Vec::new(); STEPS.len()],
        ..VuResult::default()
    };
    let users = tokio::task::spawn_blocking(move || {
        users
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for r in users {
        all.connects += r.connects;
        all.flows += r.flows;
        all.latencies.extend(r.latencies);
        for (i, s) in r.steps.into_iter().enumerate() {
            all.steps[i].extend(s);
        }
        for (k, (n, m)) in r.errors {
            all.errors.entry(k).or_insert((0, m)).0 += n;
        }
    }
    let wall = (after.at - before.at).as_secs_f64();
    let (res, server_cpu) = resources(&watched, &before, &after, all.flows);
    let errors: u64 = all.errors.values().map(|(n, _)| n).sum();
    let mut steps = serde_json::Map::new();
    for (i, s) in all.steps.into_iter().enumerate() {
        if !s.is_empty() {
            steps.insert(STEPS[i].into(), percentiles(s));
        }
    }
    json!({
        "kind": "flow",
        "label": common.label,
        "round": common.round,
        "accounts": range.1,
        "concurrency": concurrency,
        "driver_threads": common.threads,
        "peer": common.peer,
        "seconds": round3(wall),
        "flows": all.flows,
        "flows_per_s": round3(all.flows as f64 / wall),
        "errors": errors,
        "retries": RETRIES.load(Ordering::Relaxed),
        "connections": all.connects,
        "error_samples": all.errors.iter().map(|(k, (n, m))| json!({"what": k, "count": n, "sample": m})).collect::<Vec<_>>(),
        "latency": percentiles(all.latencies),
        "minutes": minutes,
        "steps": steps,
        "server_cpu_ms_per_flow": if all.flows > 0 { round3(server_cpu * 1000.0 / all.flows as f64) } else { 0.0 },
        "resources": res,
    })
}

// ------------------------------------------------------------------ endpoints alone

async fn endpoint(common: &Common, name: &str, concurrency: usize, seconds: u64) -> Value {
    let ctx = Ctx::new(common, concurrency * 2).await;
    let watched = Watched::parse(&common.watch);
    let stop = Arc::new(AtomicBool::new(false));
    let before = snapshot(&watched);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (ctx, stop, name) = (Arc::clone(&ctx), Arc::clone(&stop), name.to_owned());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let request = match name.as_str() {
                        "discovery" => ctx
                            .http
                            .get(format!("{}/.well-known/openid-configuration", ctx.base)),
                        "jwks" => ctx.http.get(format!("{}/jwks", ctx.base)),
                        _ => ctx
                            .http
                            .post(format!("{}/token", ctx.base))
                            .header(AUTHORIZATION, &ctx.basic)
                            .header("Content-Type", "application/x-www-form-urlencoded")
                            .body(format!(
                                "grant_type=authorization_code&code=unknown{}&redirect_uri={}&code_verifier={}",
                                uuid::Uuid::new_v4().simple(),
                                form_encode(&ctx.state.redirect_uri),
                                "x".repeat(43)
                            )),
                    };
                    let expected = if name == "token" { 400 } else { 200 };
                    match request.send().await {
                        Ok(r) if r.status().as_u16() == expected => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed().as_micros() as u32);
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = snapshot(&watched);
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        lat.extend(l);
        errors += e;
    }
    let n = lat.len() as u64;
    let wall = (after.at - before.at).as_secs_f64();
    let (res, server_cpu) = resources(&watched, &before, &after, n);
    json!({
        "kind": "endpoint",
        "label": common.label,
        "endpoint": name,
        "concurrency": concurrency,
        "seconds": round3(wall),
        "requests": n,
        "requests_per_s": round3(n as f64 / wall),
        "errors": errors,
        "latency": percentiles(lat),
        "server_cpu_ms_per_request": if n > 0 { round3(server_cpu * 1000.0 / n as f64) } else { 0.0 },
        "resources": res,
    })
}

// ------------------------------------------------------------------ waiting browsers

async fn wait(common: &Common, browsers: u64, parallel: usize) -> Value {
    let ctx = Ctx::new(common, parallel * 2).await;
    let range = account_range(common, &ctx.state);
    let browsers = browsers.min(range.1);
    let watched = Watched::parse(&common.watch);
    let server_pid = watched
        .iter()
        .find(|w| w.name == "server")
        .and_then(|w| w.pids.first().copied())
        .unwrap_or(0);
    let rss = || status_kb(server_pid, "VmRSS:").map(|k| round3(k as f64 / 1024.0));
    let rss_before = rss();
    let started = Instant::now();
    // Each waiting browser keeps its own connection open on the SSE stream.
    let sse_http = http_client(0);
    // Connections for the logins and approvals, one per task at a time.
    let conns = Arc::new(std::sync::Mutex::new(Vec::<Conn>::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let approved_seen = Arc::new(AtomicU64::new(0));
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut waiting = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for b in 0..browsers {
        let account = range.0 + b;
        let (ctx, sse_http, sem, errors, conns) = (
            Arc::clone(&ctx),
            sse_http.clone(),
            Arc::clone(&sem),
            Arc::clone(&errors),
            Arc::clone(&conns),
        );
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            let mut times = [0u64; STEPS.len()];
            let mut timer = Timer {
                times: &mut times,
                at: Instant::now(),
            };
            let mut conn = take_conn(&conns, &ctx);
            let started = start_login(&ctx, &mut conn, account, &mut timer).await;
            conns.lock().unwrap().push(conn);
            let w = match started {
                Ok(w) => w,
                Err((_, e)) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("wait: {e}");
                    return None;
                }
            };
            let response = sse_http
                .get(format!(
                    "{}/login/telephone/evenements?tx={}",
                    ctx.base, w.tx
                ))
                .header(reqwest::header::COOKIE, w.jar.header())
                .send()
                .await;
            match response {
                Ok(mut r) if r.status().is_success() => {
                    // The first event (pending) arrives at once.
                    let _ = r.chunk().await;
                    Some((account, w, r))
                }
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        });
    }
    while let Some(done) = set.join_next().await {
        if let Ok(Some(w)) = done {
            waiting.push(w);
        }
    }
    let build_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_waiting = rss();
    let open = waiting.len();
    // Approve them all; every SSE stream must then say "approved".
    let approve_start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (account, w, mut stream) in waiting {
        let (ctx, sem, errors, seen, conns) = (
            Arc::clone(&ctx),
            Arc::clone(&sem),
            Arc::clone(&errors),
            Arc::clone(&approved_seen),
            Arc::clone(&conns),
        );
        set.spawn(async move {
            {
                let _permit = sem.acquire_owned().await.unwrap();
                let mut times = [0u64; STEPS.len()];
                let mut timer = Timer {
                    times: &mut times,
                    at: Instant::now(),
                };
                let mut conn = take_conn(&conns, &ctx);
                let approved =
                    approve(&ctx.devices, account, &mut conn, w.number, &mut timer).await;
                conns.lock().unwrap().push(conn);
                if let Err((_, e)) = approved {
                    errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("wait/approve: {e}");
                    return;
                }
            }
            let got = tokio::time::timeout(Duration::from_secs(30), async {
                let mut text = String::new();
                while let Ok(Some(chunk)) = stream.chunk().await {
                    text.push_str(&String::from_utf8_lossy(&chunk));
                    if text.contains("data: approved") {
                        return true;
                    }
                }
                false
            })
            .await;
            if matches!(got, Ok(true)) {
                seen.fetch_add(1, Ordering::Relaxed);
            } else {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while set.join_next().await.is_some() {}
    json!({
        "kind": "wait",
        "label": common.label,
        "browsers": browsers,
        "waiting_at_once": open,
        "build_up_s": round3(build_s),
        "approve_s": round3(approve_start.elapsed().as_secs_f64()),
        "approved_events_seen": approved_seen.load(Ordering::Relaxed),
        "errors": errors.load(Ordering::Relaxed),
        "server_rss_mb_before": rss_before,
        "server_rss_mb_waiting": rss_waiting,
        "server_peak_rss_mb": status_kb(server_pid, "VmHWM:").map(|k| round3(k as f64 / 1024.0)),
    })
}

fn take_conn(conns: &std::sync::Mutex<Vec<Conn>>, ctx: &Ctx) -> Conn {
    conns
        .lock()
        .unwrap()
        .pop()
        .unwrap_or_else(|| Conn::new(&ctx.base))
}

// ------------------------------------------------------------------ report

fn report(input: &std::path::Path, json_out: &std::path::Path, md_out: &std::path::Path) {
    let text = std::fs::read_to_string(input).unwrap_or_default();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut md = String::new();
    let get = |v: &Value, path: &[&str]| -> String {
        let mut x = v;
        for p in path {
            x = &x[*p];
        }
        match x {
            Value::Null => "–".into(),
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(0.0);
                if f.fract() == 0.0 || f >= 100.0 {
                    format!("{f:.0}")
                } else {
                    format!("{f:.2}")
                }
            }
            other => other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned),
        }
    };
    for note in lines.iter().filter(|l| l["kind"] == "note") {
        md.push_str(&format!("- {}\n", get(note, &["text"])));
    }
    md.push_str(&summary(&lines));
    md.push_str("\n### Complete eidas2 logins, every run\n\n");
    md.push_str("| configuration | accounts | VUs | flows/s | p50 ms | p90 ms | p99 ms | errors | server CPU ms/flow | server cores | server peak RSS MB | PG CPU ms/flow | Redis CPU ms/flow | driver CPU ms/flow |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for l in lines.iter().filter(|l| l["kind"] == "flow") {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            get(l, &["label"]),
            get(l, &["accounts"]),
            get(l, &["concurrency"]),
            get(l, &["flows_per_s"]),
            get(l, &["latency", "p50_ms"]),
            get(l, &["latency", "p90_ms"]),
            get(l, &["latency", "p99_ms"]),
            get(l, &["errors"]),
            get(l, &["server_cpu_ms_per_flow"]),
            get(l, &["resources", "server", "cores"]),
            get(l, &["resources", "server", "peak_rss_mb"]),
            get(l, &["resources", "postgres", "cpu_ms_per_unit"]),
            get(l, &["resources", "redis", "cpu_ms_per_unit"]),
            get(l, &["resources", "driver", "cpu_ms_per_unit"]),
        ));
    }
    md.push_str("\n### Per-step latency (p50 / p99 ms)\n\n| configuration | VUs |");
    for s in STEPS {
        md.push_str(&format!(" {s} |"));
    }
    md.push_str("\n|---|---:|");
    for _ in STEPS {
        md.push_str("---:|");
    }
    md.push('\n');
    // The peer's steps are not these (peer_login).
    for l in lines
        .iter()
        .filter(|l| l["kind"] == "flow" && l["peer"] != true)
    {
        md.push_str(&format!(
            "| {} | {} |",
            get(l, &["label"]),
            get(l, &["concurrency"])
        ));
        for s in STEPS {
            md.push_str(&format!(
                " {} / {} |",
                get(l, &["steps", s, "p50_ms"]),
                get(l, &["steps", s, "p99_ms"])
            ));
        }
        md.push('\n');
    }
    md.push_str("\n### Endpoints alone\n\n| configuration | endpoint | VUs | req/s | p50 ms | p99 ms | errors | server CPU ms/req |\n|---|---|---:|---:|---:|---:|---:|---:|\n");
    for l in lines.iter().filter(|l| l["kind"] == "endpoint") {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            get(l, &["label"]),
            get(l, &["endpoint"]),
            get(l, &["concurrency"]),
            get(l, &["requests_per_s"]),
            get(l, &["latency", "p50_ms"]),
            get(l, &["latency", "p99_ms"]),
            get(l, &["errors"]),
            get(l, &["server_cpu_ms_per_request"]),
        ));
    }
    md.push_str(&side_by_side(&lines));
    let long: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "flow" && l["minutes"].as_array().is_some_and(|m| m.len() >= 2))
        .collect();
    if !long.is_empty() {
        md.push_str("\n### Long runs: first and last minute\n\n| configuration | VUs | minute | flows/s | server CPU ms/flow | server RSS MB | PG CPU ms/flow | Redis CPU ms/flow |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for l in long {
            let minutes = l["minutes"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (n, m) in [(1, minutes.first()), (minutes.len(), minutes.last())] {
                let Some(m) = m else { continue };
                md.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    get(l, &["label"]),
                    get(l, &["concurrency"]),
                    n,
                    get(m, &["flows_per_s"]),
                    get(m, &["server_cpu_ms_per_flow"]),
                    get(m, &["resources", "server", "rss_mb"]),
                    get(m, &["resources", "postgres", "cpu_ms_per_unit"]),
                    get(m, &["resources", "redis", "cpu_ms_per_unit"]),
                ));
            }
        }
    }
    let waits: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "wait").collect();
    if !waits.is_empty() {
        md.push_str("\n### Browsers waiting on approvals at once\n\n| configuration | browsers | waiting at once | errors | server RSS before MB | RSS while waiting MB | peak RSS MB | build-up s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for l in waits {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                get(l, &["label"]),
                get(l, &["browsers"]),
                get(l, &["waiting_at_once"]),
                get(l, &["errors"]),
                get(l, &["server_rss_mb_before"]),
                get(l, &["server_rss_mb_waiting"]),
                get(l, &["server_peak_rss_mb"]),
                get(l, &["build_up_s"]),
            ));
        }
    }
    std::fs::write(md_out, &md).unwrap();
    std::fs::write(
        json_out,
        serde_json::to_vec_pretty(&json!({ "results": lines })).unwrap(),
    )
    .unwrap();
    print!("{md}");
}

/// The runs of one configuration (label, accounts, virtual users, peer).
struct Group<'a> {
    first: &'a Value,
    runs: Vec<&'a Value>,
}

fn groups(lines: &[Value]) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for l in lines.iter().filter(|l| l["kind"] == "flow") {
        let same = |g: &&mut Group<'_>| {
            ["label", "accounts", "concurrency", "peer"]
                .iter()
                .all(|k| g.first[*k] == l[*k])
        };
        match out.iter_mut().find(|g| same(g)) {
            Some(g) => g.runs.push(l),
            None => out.push(Group {
                first: l,
                runs: vec![l],
            }),
        }
    }
    out
}

/// (min, median, max) of a figure over the runs that have it.
fn spread(runs: &[&Value], figure: impl Fn(&Value) -> Option<f64>) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = runs.iter().filter_map(|r| figure(r)).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((v[0], median, v[n - 1]))
}

fn number(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn min_median_max(s: Option<(f64, f64, f64)>) -> String {
    match s {
        None => "–".into(),
        Some((a, m, b)) => format!("{}–**{}**–{}", number(a), number(m), number(b)),
    }
}

fn at(v: &Value, path: &[&str]) -> Option<f64> {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_f64()
}

/// Server CPU per login with the PostgreSQL and Redis processes' (None
/// when neither was watched).
fn cpu_with_services(r: &Value) -> Option<f64> {
    let pg = at(r, &["resources", "postgres", "cpu_ms_per_unit"]);
    let redis = at(r, &["resources", "redis", "cpu_ms_per_unit"]);
    if pg.is_none() && redis.is_none() {
        return None;
    }
    Some(at(r, &["server_cpu_ms_per_flow"])? + pg.unwrap_or(0.0) + redis.unwrap_or(0.0))
}

fn summary(lines: &[Value]) -> String {
    let mut md = String::from(
        "\n### Complete eidas2 logins: min–**median**–max over the runs\n\n| configuration | accounts | VUs | runs | logins/s | server CPU ms/login | incl. PG + Redis | p50 ms | driver CPU ms/login | errors | retries |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for g in groups(lines) {
        let sum = |k: &str| g.runs.iter().filter_map(|r| r[k].as_u64()).sum::<u64>();
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            g.first["label"].as_str().unwrap_or(""),
            g.first["accounts"],
            g.first["concurrency"],
            g.runs.len(),
            min_median_max(spread(&g.runs, |r| at(r, &["flows_per_s"]))),
            min_median_max(spread(&g.runs, |r| at(r, &["server_cpu_ms_per_flow"]))),
            min_median_max(spread(&g.runs, cpu_with_services)),
            min_median_max(spread(&g.runs, |r| at(r, &["latency", "p50_ms"]))),
            min_median_max(spread(&g.runs, |r| at(
                r,
                &["resources", "driver", "cpu_ms_per_unit"]
            ))),
            sum("errors"),
            sum("retries"),
        ));
    }
    md
}

/// Sésame's logins/s over the peer's, on the medians of their runs.
fn side_by_side(lines: &[Value]) -> String {
    let all = groups(lines);
    let median = |g: &Group<'_>, path: &[&str]| spread(&g.runs, |r| at(r, path)).map(|s| s.1);
    let mut md = String::new();
    for peer in all.iter().filter(|g| g.first["peer"] == true) {
        if md.is_empty() {
            md.push_str("\n### Side by side with the peer (median logins/s, Sésame ÷ node-oidc-provider)\n\n| VUs | node-oidc-provider | configuration | logins/s | ratio | server CPU ms/login (peer) |\n|---:|---:|---|---:|---:|---:|\n");
        }
        let theirs = median(peer, &["flows_per_s"]).unwrap_or(0.0);
        let peer_cpu = median(peer, &["server_cpu_ms_per_flow"]).unwrap_or(0.0);
        for ours in all.iter().filter(|g| {
            g.first["peer"] != true
                && g.first["concurrency"] == peer.first["concurrency"]
                && g.first["accounts"] == peer.first["accounts"]
        }) {
            let mine = median(ours, &["flows_per_s"]).unwrap_or(0.0);
            let ratio = if theirs > 0.0 {
                format!("{:.2}×", mine / theirs)
            } else {
                "–".into()
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {ratio} | {} ({}) |\n",
                peer.first["concurrency"],
                number(theirs),
                ours.first["label"].as_str().unwrap_or(""),
                number(mine),
                number(median(ours, &["server_cpu_ms_per_flow"]).unwrap_or(0.0)),
                number(peer_cpu),
            ));
        }
    }
    md
}

#[cfg(test)]
mod report_tests {
    use super::*;

    #[test]
    fn spread_is_min_median_max() {
        let runs = [json!({"x": 3.0}), json!({"x": 1.0}), json!({"x": 2.0})];
        let refs: Vec<&Value> = runs.iter().collect();
        assert_eq!(spread(&refs, |r| at(r, &["x"])), Some((1.0, 2.0, 3.0)));
        assert_eq!(spread(&refs[..2], |r| at(r, &["x"])), Some((1.0, 2.0, 3.0)));
        assert_eq!(spread(&refs, |r| at(r, &["y"])), None);
    }

    #[test]
    fn runs_group_by_configuration_and_ratio_uses_medians() {
        let flow = |label: &str, peer: bool, rate: f64| json!({"kind": "flow", "label": label, "accounts": 10, "concurrency": 64, "peer": peer, "flows_per_s": rate, "server_cpu_ms_per_flow": 1.0});
        let lines = vec![
            flow("embedded", false, 900.0),
            flow("embedded", false, 1000.0),
            flow("embedded", false, 5000.0),
            flow("peer", true, 500.0),
        ];
        assert_eq!(groups(&lines).len(), 2);
        assert!(side_by_side(&lines).contains("| 64 | 500 | embedded | 1000 | 2.00× |"));
    }
}
