//! Typed configuration: the embedded `config/default.toml`, an optional file on top,
//! then `IDP__SECTION__KEY` environment overrides. Every value is checked once here;
//! the rest of the code receives a `Config` that is known to be valid.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::{Table, Value};
use url::Url;

use crate::ephemeral::RedisTarget;

/// The defaults every deployment starts from; also the list of every key that exists.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

const ENV_PREFIX: &str = "IDP__";

/// A configuration problem, always naming the key (or file) and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("configuration key {key}: {reason}")]
    Key { key: String, reason: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub ephemeral: EphemeralConfig,
    pub keys: KeysConfig,
    pub oidc: OidcConfig,
    pub login: LoginConfig,
    pub console: ConsoleConfig,
    pub log: LogConfig,
    pub dev: DevConfig,
    pub notify: NotifyConfig,
    pub push: PushConfig,
    pub retention: RetentionConfig,
    pub help: HelpConfig,
    pub verification: VerificationConfig,
}

/// Where citizens find help: the `/aide` page every citizen page's
/// "Besoin d'aide ?" footer links to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelpConfig {
    /// The operator's help pages (http or https URL), "" for none.
    pub url: String,
    /// How to reach the operator's support (a phone number, an address,
    /// opening hours): one line of plain text, "" for none.
    pub contact: String,
}

impl HelpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.url.is_empty() {
            let parsed = url::Url::parse(&self.url);
            if !parsed.is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
                return Err(key_error(
                    "help.url",
                    "must be empty or an absolute http(s) URL, e.g. https://aide.example.fr",
                ));
            }
        }
        if self.contact.chars().count() > 200 || self.contact.chars().any(char::is_control) {
            return Err(key_error(
                "help.contact",
                "must be one line of at most 200 characters",
            ));
        }
        Ok(())
    }
}

/// Face-to-face verification: where citizens can go (`domain::places`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationConfig {
    /// The operator's list of places (TOML); empty: none listed.
    pub places_file: PathBuf,
    /// The places read from `places_file` at start-up.
    #[serde(skip)]
    pub places: std::sync::Arc<[crate::domain::places::Place]>,
}

impl VerificationConfig {
    /// Reads and checks the places file: one line naming the bad entry.
    fn load_places(&mut self) -> Result<(), ConfigError> {
        let path = &self.places_file;
        if path.as_os_str().is_empty() {
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            key_error(
                "verification.places_file",
                &format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let places = crate::domain::places::parse(&text).map_err(|e| {
            key_error(
                "verification.places_file",
                &format!("{}: {e}", path.display()),
            )
        })?;
        self.places = places.into();
        Ok(())
    }
}

/// Retention periods (docs/operations.md, "Retention"), enforced by
/// `idp-admin purge` (`citizen::retention`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Photos and video of an online verification, after its decision.
    pub media_after_decision_days: u32,
    /// An enrolment never verified, after its last activity.
    pub abandoned_enrolment_days: u32,
    /// Connection-history records.
    pub connection_history_days: u32,
    /// Refresh tokens, after their expiry.
    pub expired_refresh_token_days: u32,
}

impl RetentionConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, days, min) in [
            (
                "retention.media_after_decision_days",
                self.media_after_decision_days,
                1,
            ),
            // Longer than a face-to-face reference lives (30 days).
            (
                "retention.abandoned_enrolment_days",
                self.abandoned_enrolment_days,
                31,
            ),
            (
                "retention.connection_history_days",
                self.connection_history_days,
                1,
            ),
            (
                "retention.expired_refresh_token_days",
                self.expired_refresh_token_days,
                1,
            ),
        ] {
            if !(min..=3650).contains(&days) {
                return Err(key_error(
                    key,
                    &format!("must be between {min} and 3650 days"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    pub bind: SocketAddr,
    pub public_url: String,
    pub idle_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    pub code_ttl_secs: u64,
    /// Authorization requests stored per client IP and window (anonymous
    /// state is bounded).
    pub authorize_ip_limit: i64,
    pub authorize_ip_window_secs: u64,
    /// How long a stored authorization request lives until the person first
    /// submits a login form (then 30 minutes).
    pub authorize_idle_ttl_secs: u64,
}

/// Web Push to the app (RFC 8030, 8291, 8292): see `push/` and
/// docs/operations.md, "Web Push".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// Off: no push is sent and the app is told so (it waits with the app open).
    pub enabled: bool,
    /// Origins (scheme://host[:port]) of the push services the server may
    /// call; `https://*.example` matches any subdomain. A subscription on any
    /// other origin is refused.
    pub allowed_origins: Vec<String>,
    /// The VAPID `sub` claim (mailto: or https: contact); empty: the public URL.
    pub vapid_subject: String,
    /// Time limit of one request to a push service (connection included).
    pub timeout_ms: u64,
    /// Attempts per message when the push service answers 429 or 5xx, within the TTL.
    pub max_attempts: u32,
    /// First retry delay; doubled each time (a Retry-After header wins).
    pub retry_base_ms: u64,
    /// Deliveries in progress per process; beyond, a message is dropped (and counted).
    pub max_in_flight: usize,
}

impl PushConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for origin in &self.allowed_origins {
            crate::push::allowlist::Pattern::parse(origin).map_err(|reason| {
                key_error("push.allowed_origins", &format!("{origin:?}: {reason}"))
            })?;
        }
        let subject = &self.vapid_subject;
        if !subject.is_empty()
            && !subject.starts_with("mailto:")
            && !subject.starts_with("https://")
        {
            return Err(key_error(
                "push.vapid_subject",
                "must be a mailto: or https: URI (RFC 8292), or empty for the public URL",
            ));
        }
        if !(100..=60_000).contains(&self.timeout_ms) {
            return Err(key_error(
                "push.timeout_ms",
                "must be between 100 and 60000",
            ));
        }
        if !(1..=10).contains(&self.max_attempts) {
            return Err(key_error("push.max_attempts", "must be between 1 and 10"));
        }
        if !(10..=60_000).contains(&self.retry_base_ms) {
            return Err(key_error(
                "push.retry_base_ms",
                "must be between 10 and 60000",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(key_error("push.max_in_flight", "must be at least 1"));
        }
        Ok(())
    }
}

/// The eidas2 login: approval on the app (DESIGN §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// How long a person has to approve on the phone.
    pub approval_ttl_secs: u64,
    /// Approval requests per phone number in 15 minutes.
    pub approvals_per_phone: i64,
    /// Phone-number submissions per client IP in 15 minutes.
    pub phone_ip_limit: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub public_url: String,
    pub workers: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed (per-IP limits).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// After SIGTERM, how long in-flight requests may take to finish.
    pub shutdown_grace_secs: u64,
}

/// `Debug` hides the password of the URL.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    /// A file holding the PostgreSQL password (systemd credentials, container
    /// secrets); put into `url` at load time.
    pub password_file: PathBuf,
    pub pool_size: u32,
    pub acquire_timeout_ms: u64,
}

/// `Debug` hides the password of the URL.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EphemeralConfig {
    pub url: String,
    /// A file holding the Redis password; put into `url` at load time.
    pub password_file: PathBuf,
    /// PEM CA certificates trusted for `rediss://`; empty for the system roots.
    pub ca_file: PathBuf,
    pub namespace: String,
    pub timeout_ms: u64,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("password_file", &self.password_file)
            .field("pool_size", &self.pool_size)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .finish()
    }
}

impl std::fmt::Debug for EphemeralConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EphemeralConfig")
            .field("url", &redact_url(&self.url))
            .field("password_file", &self.password_file)
            .field("ca_file", &self.ca_file)
            .field("namespace", &self.namespace)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// The content of a secret file (one trailing newline dropped), or an error
/// naming the key and the path, never the content.
fn read_secret(key: &str, path: &Path) -> Result<String, ConfigError> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| key_error(key, &format!("cannot read {}: {e}", path.display())))?;
    let secret = raw
        .strip_suffix("\r\n")
        .or_else(|| raw.strip_suffix('\n'))
        .unwrap_or(&raw);
    if secret.is_empty() {
        return Err(key_error(key, &format!("{} is empty", path.display())));
    }
    Ok(secret.to_owned())
}

/// Puts the password read from `file` into the URL of `url_key`.
fn url_with_password(
    url_key: &str,
    file_key: &str,
    url: &str,
    file: &Path,
) -> Result<String, ConfigError> {
    if let Some(with) = sentinel_url_with_password(url_key, file_key, url.trim(), file)? {
        return Ok(with);
    }
    let mut parsed = Url::parse(url.trim()).map_err(|e| {
        key_error(
            url_key,
            &format!("is not a URL (needed with {file_key}): {e}"),
        )
    })?;
    if parsed.password().is_some() {
        return Err(key_error(
            file_key,
            &format!("{url_key} already holds a password; set only one of them"),
        ));
    }
    let password = read_secret(file_key, file)?;
    parsed.set_password(Some(&password)).map_err(|()| {
        key_error(
            url_key,
            &format!("cannot hold a password (needed with {file_key})"),
        )
    })?;
    Ok(parsed.to_string())
}

/// `redis+sentinel://` (several hosts, so no `Url`) with the password of
/// `file` put in; `None` for any other URL.
fn sentinel_url_with_password(
    url_key: &str,
    file_key: &str,
    url: &str,
    file: &Path,
) -> Result<Option<String>, ConfigError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(None);
    };
    if !scheme.ends_with("+sentinel") {
        return Ok(None);
    }
    let end = rest.find('/').unwrap_or(rest.len());
    if rest[..end].contains('@') {
        return Err(key_error(
            file_key,
            &format!("{url_key} already holds a password; set only one of them"),
        ));
    }
    let password = read_secret(file_key, file)?;
    // Percent-encoded as a `Url` would do it.
    let mut encoder =
        Url::parse("redis://localhost").map_err(|e| key_error(url_key, &e.to_string()))?;
    encoder
        .set_password(Some(&password))
        .map_err(|()| key_error(url_key, "cannot hold a password"))?;
    let encoded = encoder.password().unwrap_or_default();
    Ok(Some(format!("{scheme}://:{encoded}@{rest}")))
}

/// Reads a secret from `file` into `value`, which must be empty then.
fn secret_from_file(
    value_key: &str,
    file_key: &str,
    value: &mut String,
    file: &Path,
) -> Result<(), ConfigError> {
    if file.as_os_str().is_empty() {
        return Ok(());
    }
    if !value.is_empty() {
        return Err(key_error(
            file_key,
            &format!("{value_key} is set too; set only one of them"),
        ));
    }
    *value = read_secret(file_key, file)?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    pub master_key_file: PathBuf,
    pub generate_if_missing: bool,
    pub algorithms: Vec<String>,
    pub retiring_publish_secs: u64,
    pub reload_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevConfig {
    pub enabled: bool,
}

/// Where email goes: the file outbox (embedded default) or an SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    Outbox,
    Smtp,
}

/// Where SMS go: the file outbox (embedded default) or an HTTP gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsTransport {
    Outbox,
    Http,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required (never falls back).
    Starttls,
    /// TLS from the first byte (SMTPS, "implicit TLS").
    Tls,
    /// No encryption: only for a relay on the same host or network.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub email: EmailTransport,
    pub sms: SmsTransport,
    pub outbox_dir: PathBuf,
    pub from: String,
    pub smtp: SmtpConfig,
    pub sms_http: SmsHttpConfig,
}

/// `Debug` hides the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// 0 means the standard port of `tls` (see [`SmtpConfig::effective_port`]).
    pub port: u16,
    pub tls: SmtpTls,
    pub username: String,
    pub password: String,
    /// A file holding the password instead (read into `password` at load).
    pub password_file: PathBuf,
    /// Extra PEM certificates to trust for the server (empty: system roots only).
    pub ca_file: PathBuf,
    pub timeout_ms: u64,
}

/// `Debug` hides the value of the authentication header.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsHttpConfig {
    pub url: String,
    pub auth_header: String,
    /// A file holding the header instead (read into `auth_header` at load).
    pub auth_header_file: PathBuf,
    pub body_template: String,
    pub timeout_ms: u64,
}

impl NotifyConfig {
    /// The `From` of every email, parsed.
    pub fn from_mailbox(&self) -> Result<lettre::message::Mailbox, ConfigError> {
        self.from.parse().map_err(|e| {
            key_error(
                "notify.from",
                &format!("is not a mailbox such as \"Sésame <ne-pas-repondre@example.fr>\": {e}"),
            )
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.outbox_dir.as_os_str().is_empty() {
            return Err(key_error("notify.outbox_dir", "must not be empty"));
        }
        self.from_mailbox()?;
        if self.email == EmailTransport::Smtp {
            let smtp = &self.smtp;
            if smtp.host.trim().is_empty() {
                return Err(key_error(
                    "notify.smtp.host",
                    "must be set when notify.email = \"smtp\"",
                ));
            }
            if smtp.timeout_ms == 0 {
                return Err(key_error("notify.smtp.timeout_ms", "must be at least 1"));
            }
            if smtp.username.is_empty() != smtp.password.is_empty() {
                return Err(key_error(
                    "notify.smtp.username",
                    "and notify.smtp.password must be set together (or both left empty)",
                ));
            }
        }
        if self.sms == SmsTransport::Http {
            self.sms_http.url()?;
            self.sms_http.auth_header_parts()?;
            self.sms_http.body_template_json()?;
            if self.sms_http.timeout_ms == 0 {
                return Err(key_error(
                    "notify.sms_http.timeout_ms",
                    "must be at least 1",
                ));
            }
        }
        Ok(())
    }
}

impl SmtpConfig {
    /// `port`, or the standard port of the TLS mode when it is 0
    /// (465 for tls, 587 for starttls, 25 for none).
    pub fn effective_port(&self) -> u16 {
        match (self.port, self.tls) {
            (0, SmtpTls::Tls) => 465,
            (0, SmtpTls::Starttls) => 587,
            (0, SmtpTls::None) => 25,
            (port, _) => port,
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { "***" },
            )
            .field("ca_file", &self.ca_file)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl SmsHttpConfig {
    /// The gateway URL (http or https).
    pub fn url(&self) -> Result<Url, ConfigError> {
        let url = Url::parse(self.url.trim()).map_err(|e| {
            key_error(
                "notify.sms_http.url",
                &format!("must be set to the gateway's URL when notify.sms = \"http\": {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(key_error("notify.sms_http.url", "must use http or https"));
        }
        Ok(url)
    }

    /// `auth_header` (\"Name: value\") split at its first colon; `None` when empty.
    /// The value is marked sensitive and never appears in an error.
    pub fn auth_header_parts(
        &self,
    ) -> Result<Option<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>, ConfigError>
    {
        if self.auth_header.trim().is_empty() {
            return Ok(None);
        }
        let key = "notify.sms_http.auth_header";
        let (name, value) = self
            .auth_header
            .split_once(':')
            .ok_or_else(|| key_error(key, "must look like \"Authorization: Bearer <token>\""))?;
        let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| key_error(key, "the part before ':' is not a valid header name"))?;
        let value = value.trim();
        if value.is_empty() {
            return Err(key_error(key, "has an empty value after ':'"));
        }
        let mut value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
            key_error(
                key,
                "the part after ':' is not a valid header value (visible ASCII only)",
            )
        })?;
        value.set_sensitive(true);
        Ok(Some((name, value)))
    }

    /// `body_template` parsed as JSON; it must mention `{{text}}` in a string.
    pub fn body_template_json(&self) -> Result<serde_json::Value, ConfigError> {
        let key = "notify.sms_http.body_template";
        let template: serde_json::Value = serde_json::from_str(&self.body_template)
            .map_err(|e| key_error(key, &format!("is not valid JSON: {e}")))?;
        if !self.body_template.contains("{{text}}") {
            return Err(key_error(key, "must contain the {{text}} placeholder"));
        }
        Ok(template)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

impl std::fmt::Debug for SmsHttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth_header = match self.auth_header.split_once(':') {
            Some((name, _)) => format!("{}: ***", name.trim()),
            None if self.auth_header.is_empty() => String::new(),
            None => "***".to_owned(),
        };
        f.debug_struct("SmsHttpConfig")
            .field("url", &gateway_for_logs(&self.url))
            .field("auth_header", &auth_header)
            .field("body_template", &self.body_template)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// An SMS gateway URL as logs may show it: scheme, host, port and path only
/// (gateways often take an API key in the query or the user information).
pub fn gateway_for_logs(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(url) => {
            let host = url.host_str().unwrap_or_default();
            match url.port() {
                Some(port) => format!("{}://{host}:{port}{}", url.scheme(), url.path()),
                None => format!("{}://{host}{}", url.scheme(), url.path()),
            }
        }
        Err(_) if raw.is_empty() => String::new(),
        // A Sentinel URL (several hosts) is no `Url`: hide its user info by hand.
        Err(_) => match raw.split_once("://") {
            Some((scheme, rest)) => {
                let end = rest.find('/').unwrap_or(rest.len());
                match rest[..end].rfind('@') {
                    Some(at) => format!("{scheme}://***{}", &rest[at..]),
                    None => raw.to_owned(),
                }
            }
            None => "(unparseable URL)".to_owned(),
        },
    }
}

/// Which durable backend a database URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Postgres(String),
    Sqlite(PathBuf),
}

impl Config {
    /// Loads the defaults, then `file` when given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Same as [`Config::load`] with an explicit environment (tests use this).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = parse_table(DEFAULT_TOML, "config/default.toml (embedded)")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let overlay = parse_table(&text, &path.display().to_string())?;
            merge(&mut table, overlay, "", &path.display().to_string())?;
        }
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        env.sort();
        for (var, raw) in env {
            apply_env(&mut table, &var, &raw)?;
        }
        Self::from_table(table)
    }

    /// Deserialises and validates an already merged table.
    pub fn from_table(table: Table) -> Result<Self, ConfigError> {
        let config: Config =
            serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
                // The deserializer repeats the key on a second line; the path names it already.
                let message = e.inner().to_string();
                ConfigError::Key {
                    key: e.path().to_string(),
                    reason: message.lines().next().unwrap_or_default().to_owned(),
                }
            })?;
        config.validate()
    }

    fn validate(mut self) -> Result<Self, ConfigError> {
        self.read_secret_files()?;
        self.server.public_url = normalise_public_url(&self.server.public_url)?;
        self.database_target()?;
        self.ephemeral_target()?;
        if self.database.pool_size == 0 {
            return Err(key_error("database.pool_size", "must be at least 1"));
        }
        if self.database.acquire_timeout_ms == 0 {
            return Err(key_error(
                "database.acquire_timeout_ms",
                "must be at least 1",
            ));
        }
        if self.ephemeral.timeout_ms == 0 {
            return Err(key_error("ephemeral.timeout_ms", "must be at least 1"));
        }
        let ns = &self.ephemeral.namespace;
        if ns.is_empty()
            || !ns
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(key_error(
                "ephemeral.namespace",
                "must be non-empty and use only letters, digits, '-', '_' or '.'",
            ));
        }
        if self.keys.algorithms.is_empty() {
            return Err(key_error("keys.algorithms", "must list at least ES256"));
        }
        for alg in &self.keys.algorithms {
            if crate::crypto::SigningAlg::parse(alg).is_none() {
                return Err(key_error(
                    "keys.algorithms",
                    &format!("unsupported algorithm {alg:?} (use ES256, RS256, PS256)"),
                ));
            }
        }
        if !self.keys.algorithms.iter().any(|a| a == "ES256") {
            return Err(key_error(
                "keys.algorithms",
                "must include ES256, the default signing algorithm",
            ));
        }
        if !(1..=600).contains(&self.oidc.code_ttl_secs) {
            return Err(key_error("oidc.code_ttl_secs", "must be between 1 and 600"));
        }
        if !(1..=300).contains(&self.server.shutdown_grace_secs) {
            return Err(key_error(
                "server.shutdown_grace_secs",
                "must be between 1 and 300",
            ));
        }
        if self.oidc.authorize_ip_limit < 1 {
            return Err(key_error("oidc.authorize_ip_limit", "must be at least 1"));
        }
        if !(1..=86_400).contains(&self.oidc.authorize_ip_window_secs) {
            return Err(key_error(
                "oidc.authorize_ip_window_secs",
                "must be between 1 and 86400",
            ));
        }
        if !(30..=1800).contains(&self.oidc.authorize_idle_ttl_secs) {
            return Err(key_error(
                "oidc.authorize_idle_ttl_secs",
                "must be between 30 and 1800",
            ));
        }
        if !(1..=600).contains(&self.login.approval_ttl_secs) {
            return Err(key_error(
                "login.approval_ttl_secs",
                "must be between 1 and 600",
            ));
        }
        if self.login.approvals_per_phone < 1 {
            return Err(key_error("login.approvals_per_phone", "must be at least 1"));
        }
        if self.login.phone_ip_limit < 1 {
            return Err(key_error("login.phone_ip_limit", "must be at least 1"));
        }
        let console = Url::parse(&self.console.public_url)
            .map_err(|e| key_error("console.public_url", &format!("is not a URL: {e}")))?;
        if console
            .host_str()
            .is_none_or(|h| h.parse::<std::net::IpAddr>().is_ok() || h.starts_with('['))
        {
            return Err(key_error(
                "console.public_url",
                "needs a host name (WebAuthn does not accept IP addresses), e.g. http://localhost:8081",
            ));
        }
        if !(60..=86_400).contains(&self.console.idle_secs) {
            return Err(key_error(
                "console.idle_secs",
                "must be between 60 and 86400",
            ));
        }
        if self.keys.reload_secs == 0 {
            return Err(key_error("keys.reload_secs", "must be at least 1"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            return Err(key_error(
                "log.filter",
                "is not a valid filter directive (e.g. \"info\" or \"idp_server=debug,info\")",
            ));
        }
        self.notify.validate()?;
        self.push.validate()?;
        self.retention.validate()?;
        self.help.validate()?;
        self.verification.load_places()?;
        Ok(self)
    }

    /// The issuer identifier: the public URL without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.server.public_url
    }

    /// `*_file` keys: secrets kept out of the configuration file and the
    /// environment (systemd credentials, container secrets).
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        if !self.database.password_file.as_os_str().is_empty() {
            if !self.database.url.trim().starts_with("postgres") {
                return Err(key_error(
                    "database.password_file",
                    "is only for a postgres:// database.url",
                ));
            }
            self.database.url = url_with_password(
                "database.url",
                "database.password_file",
                &self.database.url,
                &self.database.password_file,
            )?;
        }
        if !self.ephemeral.password_file.as_os_str().is_empty() {
            if !self.ephemeral.url.trim().starts_with("redis") {
                return Err(key_error(
                    "ephemeral.password_file",
                    "is only for a redis:// or rediss:// ephemeral.url",
                ));
            }
            self.ephemeral.url = url_with_password(
                "ephemeral.url",
                "ephemeral.password_file",
                &self.ephemeral.url,
                &self.ephemeral.password_file,
            )?;
        }
        let smtp = &mut self.notify.smtp;
        secret_from_file(
            "notify.smtp.password",
            "notify.smtp.password_file",
            &mut smtp.password,
            &smtp.password_file,
        )?;
        let sms = &mut self.notify.sms_http;
        secret_from_file(
            "notify.sms_http.auth_header",
            "notify.sms_http.auth_header_file",
            &mut sms.auth_header,
            &sms.auth_header_file,
        )
    }

    pub fn database_target(&self) -> Result<DatabaseTarget, ConfigError> {
        let url = self.database.url.trim();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(key_error("database.url", "sqlite:// needs a file path"));
            }
            return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Url::parse(url).map_err(|e| {
                key_error(
                    "database.url",
                    &format!("is not a valid PostgreSQL URL: {e}"),
                )
            })?;
            return Ok(DatabaseTarget::Postgres(url.to_owned()));
        }
        Err(key_error(
            "database.url",
            "must start with sqlite:// or postgres://",
        ))
    }

    /// `None` for the in-process store, else where Redis is (with the CA of
    /// `ephemeral.ca_file` read in).
    pub fn ephemeral_target(&self) -> Result<Option<RedisTarget>, ConfigError> {
        let url = self.ephemeral.url.trim();
        let ca_file = &self.ephemeral.ca_file;
        if url == "memory://" {
            if !ca_file.as_os_str().is_empty() {
                return Err(key_error(
                    "ephemeral.ca_file",
                    "is only for a rediss:// ephemeral.url",
                ));
            }
            return Ok(None);
        }
        let target = RedisTarget::parse(url).map_err(|e| {
            key_error(
                "ephemeral.url",
                &format!("must be memory:// or a Redis URL; it {e}"),
            )
        })?;
        if ca_file.as_os_str().is_empty() {
            return Ok(Some(target));
        }
        if !target.is_tls() {
            return Err(key_error(
                "ephemeral.ca_file",
                "is only for a rediss:// or rediss+sentinel:// ephemeral.url",
            ));
        }
        let pem = std::fs::read(ca_file).map_err(|e| {
            key_error(
                "ephemeral.ca_file",
                &format!("cannot be read ({}): {e}", ca_file.display()),
            )
        })?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(key_error(
                "ephemeral.ca_file",
                &format!("holds no PEM certificate ({})", ca_file.display()),
            ));
        }
        Ok(Some(target.with_ca_pem(pem)))
    }

    pub fn ephemeral_timeout(&self) -> Duration {
        Duration::from_millis(self.ephemeral.timeout_ms)
    }
}

/// Hides the password of a URL before it is shown in a log line or an error.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "(unparseable URL)".to_owned(),
    }
}

fn key_error(key: &str, reason: &str) -> ConfigError {
    ConfigError::Key {
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

fn normalise_public_url(raw: &str) -> Result<String, ConfigError> {
    let url = Url::parse(raw)
        .map_err(|e| key_error("server.public_url", &format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(key_error("server.public_url", "must use http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(key_error(
            "server.public_url",
            "must not have a query or fragment (it is the OIDC issuer)",
        ));
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(key_error(
            "server.public_url",
            "must have a host and no user information",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn parse_table(text: &str, origin: &str) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|e| ConfigError::File {
        path: origin.to_owned(),
        reason: e.message().to_owned(),
    })
}

/// Deep-merges `overlay` into `base`. A key that the defaults do not define is
/// rejected here so that a typo in a file is reported with its full path.
fn merge(base: &mut Table, overlay: Table, prefix: &str, origin: &str) -> Result<(), ConfigError> {
    for (key, value) in overlay {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (base.get_mut(&key), value) {
            (Some(Value::Table(existing)), Value::Table(inner)) => {
                merge(existing, inner, &path, origin)?
            }
            (Some(slot), value) => *slot = value,
            (None, _) => {
                return Err(ConfigError::File {
                    path: origin.to_owned(),
                    reason: format!("unknown key {path}"),
                });
            }
        }
    }
    Ok(())
}

/// Applies `IDP__SECTION__KEY=value`. The value is read with the type of the
/// default it replaces, so `IDP__EPHEMERAL__NAMESPACE=123` stays a string.
fn apply_env(table: &mut Table, var: &str, raw: &str) -> Result<(), ConfigError> {
    let env_error = |reason: String| ConfigError::Env {
        var: var.to_owned(),
        reason,
    };
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    let (last, sections) = match path.split_last() {
        Some((last, sections)) if !last.is_empty() => (last, sections),
        _ => return Err(env_error("expected IDP__SECTION__KEY".to_owned())),
    };
    let mut current = table;
    for section in sections {
        current = match current.get_mut(section) {
            Some(Value::Table(inner)) => inner,
            _ => return Err(env_error(format!("unknown section {section}"))),
        };
    }
    let slot = current
        .get_mut(last)
        .ok_or_else(|| env_error(format!("unknown key {}", path.join("."))))?;
    let value = match slot {
        Value::String(_) => Value::String(raw.to_owned()),
        Value::Integer(_) => Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| env_error(format!("expected an integer, got {raw:?}")))?,
        ),
        Value::Boolean(_) => Value::Boolean(match raw.trim() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(env_error(format!("expected true or false, got {raw:?}"))),
        }),
        Value::Array(_) => {
            let parsed: Table = format!("v = {raw}")
                .parse()
                .map_err(|_| env_error("expected a TOML array such as [\"ES256\"]".to_owned()))?;
            match parsed.get("v") {
                Some(v @ Value::Array(_)) => v.clone(),
                _ => {
                    return Err(env_error(
                        "expected a TOML array such as [\"ES256\"]".to_owned(),
                    ));
                }
            }
        }
        _ => {
            return Err(env_error(
                "this key cannot be set from the environment".to_owned(),
            ));
        }
    };
    *slot = value;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A file with `content` in a fresh temporary directory (removed by the caller).
    fn secret_file(name: &str, content: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sesame-config-{}-{name}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn secrets_are_read_from_files_and_never_shown() {
        let db = secret_file("db", "p@ss w0rd/1\n");
        let redis = secret_file("redis", "r3dis-pw");
        let smtp = secret_file("smtp", "smtp-s3cret\r\n");
        let sms = secret_file("sms", "Authorization: Bearer sms-t0ken\n");
        let config = Config::load_from(
            None,
            env(&[
                (
                    "IDP__DATABASE__URL",
                    "postgres://sesame@db.example:5432/sesame",
                ),
                ("IDP__DATABASE__PASSWORD_FILE", db.to_str().unwrap()),
                ("IDP__EPHEMERAL__URL", "rediss://redis.example:6380/0"),
                ("IDP__EPHEMERAL__PASSWORD_FILE", redis.to_str().unwrap()),
                ("IDP__NOTIFY__SMTP__PASSWORD_FILE", smtp.to_str().unwrap()),
                (
                    "IDP__NOTIFY__SMS_HTTP__AUTH_HEADER_FILE",
                    sms.to_str().unwrap(),
                ),
            ]),
        )
        .unwrap();
        let url = Url::parse(&config.database.url).unwrap();
        assert_eq!(url.username(), "sesame");
        let password = url.password().unwrap();
        assert_eq!(
            percent_encoding_decode(password),
            "p@ss w0rd/1",
            "the newline is dropped, the rest is the password"
        );
        assert_eq!(
            Url::parse(&config.ephemeral.url).unwrap().password(),
            Some("r3dis-pw")
        );
        assert_eq!(config.notify.smtp.password, "smtp-s3cret");
        let (name, value) = config.notify.sms_http.auth_header_parts().unwrap().unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("authorization", "Bearer sms-t0ken")
        );
        let debug = format!("{config:?}");
        for secret in ["w0rd", "r3dis-pw", "smtp-s3cret", "sms-t0ken"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }

        // Both the value and its file: refused, naming the key.
        let err = Config::load_from(
            None,
            env(&[
                (
                    "IDP__DATABASE__URL",
                    "postgres://sesame:inline@db.example/sesame",
                ),
                ("IDP__DATABASE__PASSWORD_FILE", db.to_str().unwrap()),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("database.password_file") && err.contains("only one"),
            "{err}"
        );
        assert!(!err.contains("inline"), "{err}");
        let err = Config::load_from(
            None,
            env(&[
                ("IDP__NOTIFY__SMTP__PASSWORD", "x"),
                ("IDP__NOTIFY__SMTP__PASSWORD_FILE", smtp.to_str().unwrap()),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("notify.smtp.password_file"), "{err}");
        // A missing file names the key and the path; a SQLite URL has no password.
        let err = Config::load_from(
            None,
            env(&[(
                "IDP__NOTIFY__SMS_HTTP__AUTH_HEADER_FILE",
                "/nonexistent/sesame-sms",
            )]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("notify.sms_http.auth_header_file")
                && err.contains("/nonexistent/sesame-sms"),
            "{err}"
        );
        let err = Config::load_from(
            None,
            env(&[("IDP__DATABASE__PASSWORD_FILE", db.to_str().unwrap())]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only for a postgres"), "{err}");
        let empty = secret_file("empty", "\n");
        let err = Config::load_from(
            None,
            env(&[("IDP__NOTIFY__SMTP__PASSWORD_FILE", empty.to_str().unwrap())]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("is empty"), "{err}");
        for file in [db, redis, smtp, sms, empty] {
            std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
        }
    }

    fn percent_encoding_decode(raw: &str) -> String {
        url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap()
    }

    #[test]
    fn retention_periods_are_checked() {
        let config = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(config.retention.media_after_decision_days, 30);
        assert_eq!(config.retention.abandoned_enrolment_days, 90);
        for (var, value) in [
            ("IDP__RETENTION__MEDIA_AFTER_DECISION_DAYS", "0"),
            ("IDP__RETENTION__ABANDONED_ENROLMENT_DAYS", "7"),
            ("IDP__RETENTION__CONNECTION_HISTORY_DAYS", "4000"),
            ("IDP__RETENTION__EXPIRED_REFRESH_TOKEN_DAYS", "0"),
        ] {
            let err = Config::load_from(None, env(&[(var, value)])).unwrap_err();
            assert!(
                err.to_string().contains("retention."),
                "{var}={value}: {err}"
            );
        }
    }

    #[test]
    fn help_url_and_contact_are_checked() {
        let config = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(config.help.url, "");
        let ok = env(&[
            ("IDP__HELP__URL", "https://aide.example.fr/sesame"),
            (
                "IDP__HELP__CONTACT",
                "3631 (du lundi au samedi, 8 h – 20 h)",
            ),
        ]);
        let config = Config::load_from(None, ok).unwrap();
        assert_eq!(config.help.url, "https://aide.example.fr/sesame");
        for (var, value) in [
            ("IDP__HELP__URL", "aide.example.fr"),
            ("IDP__HELP__URL", "javascript:alert(1)"),
            ("IDP__HELP__CONTACT", "ligne 1\nligne 2"),
        ] {
            let err = Config::load_from(None, env(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains("help."), "{var}={value}: {err}");
        }
        let long = "x".repeat(201);
        let err = Config::load_from(None, env(&[("IDP__HELP__CONTACT", &long)])).unwrap_err();
        assert!(err.to_string().contains("help.contact"), "{err}");
    }

    #[test]
    fn push_origins_and_subject_are_checked() {
        let config = Config::load_from(None, env(&[])).unwrap();
        assert!(config.push.enabled);
        assert!(
            config
                .push
                .allowed_origins
                .iter()
                .any(|o| o == "https://fcm.googleapis.com")
        );
        for (var, value) in [
            ("IDP__PUSH__ALLOWED_ORIGINS", "[\"http://push.example\"]"),
            (
                "IDP__PUSH__ALLOWED_ORIGINS",
                "[\"https://push.example/send\"]",
            ),
            ("IDP__PUSH__ALLOWED_ORIGINS", "[\"https://*.com\"]"),
            ("IDP__PUSH__VAPID_SUBJECT", "ops@example.org"),
            ("IDP__PUSH__TIMEOUT_MS", "0"),
        ] {
            let err = Config::load_from(None, env(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains("push."), "{var}={value}: {err}");
        }
        let loopback = Config::load_from(
            None,
            env(&[("IDP__PUSH__ALLOWED_ORIGINS", "[\"http://127.0.0.1:9\"]")]),
        )
        .unwrap();
        assert_eq!(loopback.push.allowed_origins, ["http://127.0.0.1:9"]);
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(config.issuer(), "http://127.0.0.1:8080");
        assert_eq!(
            config.database_target().unwrap(),
            DatabaseTarget::Sqlite("data/sesame.db".into())
        );
        assert!(config.ephemeral_target().unwrap().is_none());
    }

    #[test]
    fn env_overrides_use_the_type_of_the_default() {
        let config = Config::load_from(
            None,
            env(&[
                ("IDP__EPHEMERAL__NAMESPACE", "123"),
                ("IDP__DATABASE__POOL_SIZE", "3"),
                ("IDP__DEV__ENABLED", "false"),
                ("IDP__KEYS__ALGORITHMS", "[\"ES256\"]"),
                ("IDP__SERVER__PUBLIC_URL", "https://idp.example.fr/"),
            ]),
        )
        .unwrap();
        assert_eq!(config.ephemeral.namespace, "123");
        assert_eq!(config.database.pool_size, 3);
        assert!(!config.dev.enabled);
        assert_eq!(config.keys.algorithms, vec!["ES256"]);
        assert_eq!(config.issuer(), "https://idp.example.fr");
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            (
                "IDP__DATABASE__POOL_SIZE",
                "many",
                "IDP__DATABASE__POOL_SIZE",
            ),
            ("IDP__SERVER__BIND", "nowhere", "server.bind"),
            ("IDP__SERVER__PUBLIC_URL", "ftp://x", "server.public_url"),
            (
                "IDP__SERVER__PUBLIC_URL",
                "https://x/?a=b",
                "server.public_url",
            ),
            ("IDP__DATABASE__URL", "mysql://x", "database.url"),
            ("IDP__EPHEMERAL__URL", "memcached://x", "ephemeral.url"),
            ("IDP__KEYS__ALGORITHMS", "[\"HS256\"]", "keys.algorithms"),
            ("IDP__KEYS__ALGORITHMS", "[\"RS256\"]", "keys.algorithms"),
            ("IDP__LOG__FORMAT", "xml", "log.format"),
            ("IDP__SERVER__COLOUR", "blue", "server.colour"),
            ("IDP__NOPE__X", "1", "nope"),
        ];
        for (var, value, needle) in cases {
            let err = Config::load_from(None, env(&[(var, value)])).unwrap_err();
            let line = err.to_string();
            assert!(line.contains(needle), "{var}={value}: {line}");
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn sentinel_urls_and_ca_files_are_checked() {
        let sentinel = "redis+sentinel://s1.example:26379,s2.example/mymaster/2";
        let config = Config::load_from(None, env(&[("IDP__EPHEMERAL__URL", sentinel)])).unwrap();
        let target = config.ephemeral_target().unwrap().unwrap();
        assert!(target.is_sentinel() && !target.is_tls());

        // The password of the file goes into the Sentinel URL, and never out.
        let pw = secret_file("sentinel-pw", "s3nt/nel pw\n");
        let config = Config::load_from(
            None,
            env(&[
                ("IDP__EPHEMERAL__URL", sentinel),
                ("IDP__EPHEMERAL__PASSWORD_FILE", pw.to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert!(
            config
                .ephemeral
                .url
                .starts_with("redis+sentinel://:s3nt%2Fnel%20pw@s1.example"),
            "{}",
            config.ephemeral.url
        );
        assert!(!format!("{config:?}").contains("s3nt"));
        assert!(!redact_url(&config.ephemeral.url).contains("s3nt"));
        assert!(config.ephemeral_target().unwrap().is_some());

        let ca = secret_file(
            "ca.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        );
        let not_pem = secret_file("ca.txt", "hello");
        let ca = ca.to_str().unwrap();
        let tls = Config::load_from(
            None,
            env(&[
                (
                    "IDP__EPHEMERAL__URL",
                    "rediss+sentinel://s1.example/mymaster",
                ),
                ("IDP__EPHEMERAL__CA_FILE", ca),
            ]),
        )
        .unwrap();
        let target = tls.ephemeral_target().unwrap().unwrap();
        assert!(target.is_tls() && target.is_sentinel());

        let cases = [
            ("redis+sentinel://s1.example", ""),
            ("redis+sentinel://s1.example/", ""),
            ("redis+sentinel://s1.example:x/m", ""),
            ("redis+sentinel://s1.example/m/-1", ""),
            ("redis+sentinel://s1.example/m/0/extra", ""),
            ("redis+sentinel://,s1.example/m", ""),
            ("redis://127.0.0.1:6379", ca),
            ("memory://", ca),
            ("rediss://127.0.0.1:6380", not_pem.to_str().unwrap()),
            ("rediss://127.0.0.1:6380", "/nonexistent/ca.pem"),
        ];
        for (url, ca_file) in cases {
            let err = Config::load_from(
                None,
                env(&[
                    ("IDP__EPHEMERAL__URL", url),
                    ("IDP__EPHEMERAL__CA_FILE", ca_file),
                ]),
            )
            .unwrap_err()
            .to_string();
            let key = if ca_file.is_empty() {
                "ephemeral.url"
            } else {
                "ephemeral.ca_file"
            };
            assert!(err.contains(key), "{url} {ca_file}: {err}");
        }
        // A bad Sentinel URL with a password does not repeat it.
        let err = Config::load_from(
            None,
            env(&[(
                "IDP__EPHEMERAL__URL",
                "redis+sentinel://:hunter2@s1.example",
            )]),
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn unknown_key_in_a_file_is_rejected_with_its_path() {
        let dir = std::env::temp_dir().join(format!("idp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "[server]\nbindd = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::load_from(Some(&file), env(&[])).unwrap_err();
        assert!(
            err.to_string().contains("unknown key server.bindd"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn notify_env_overrides_reach_nested_tables() {
        let config = Config::load_from(
            None,
            env(&[
                ("IDP__NOTIFY__EMAIL", "smtp"),
                ("IDP__NOTIFY__SMTP__HOST", "smtp.example.fr"),
                ("IDP__NOTIFY__SMTP__TLS", "tls"),
                ("IDP__NOTIFY__SMTP__USERNAME", "sesame"),
                ("IDP__NOTIFY__SMTP__PASSWORD", "s3cret-pw"),
                ("IDP__NOTIFY__SMS", "http"),
                (
                    "IDP__NOTIFY__SMS_HTTP__URL",
                    "https://sms.example.fr/send?key=k3y",
                ),
                (
                    "IDP__NOTIFY__SMS_HTTP__AUTH_HEADER",
                    "Authorization: Bearer t0ken",
                ),
                ("IDP__NOTIFY__SMS_HTTP__TIMEOUT_MS", "2500"),
            ]),
        )
        .unwrap();
        let notify = &config.notify;
        assert_eq!(notify.email, EmailTransport::Smtp);
        assert_eq!(notify.smtp.host, "smtp.example.fr");
        assert_eq!(notify.smtp.tls, SmtpTls::Tls);
        assert_eq!(notify.smtp.effective_port(), 465);
        assert_eq!(notify.sms, SmsTransport::Http);
        assert_eq!(notify.sms_http.timeout_ms, 2500);
        let (name, value) = notify.sms_http.auth_header_parts().unwrap().unwrap();
        assert_eq!(name.as_str(), "authorization");
        assert_eq!(value.to_str().unwrap(), "Bearer t0ken");
        assert!(value.is_sensitive());
        // Debug output (e.g. a logged config) shows no secret.
        let debug = format!("{config:?}");
        for secret in ["s3cret-pw", "t0ken", "k3y"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }

    #[test]
    fn notify_defaults_use_the_outbox() {
        let config = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(config.notify.email, EmailTransport::Outbox);
        assert_eq!(config.notify.sms, SmsTransport::Outbox);
        assert_eq!(config.notify.outbox_dir, PathBuf::from("data/outbox"));
        let from = config.notify.from_mailbox().unwrap();
        assert_eq!(from.email.to_string(), "ne-pas-repondre@sesame.localhost");
        assert_eq!(config.notify.smtp.effective_port(), 587);
        config.notify.sms_http.body_template_json().unwrap();
    }

    #[test]
    fn production_example_is_valid_once_secrets_come_from_the_environment() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/production.example.toml");
        let config = Config::load_from(
            Some(&file),
            env(&[("IDP__NOTIFY__SMTP__PASSWORD", "from-a-secret-store")]),
        )
        .unwrap();
        assert_eq!(config.notify.email, EmailTransport::Smtp);
        assert_eq!(config.notify.sms, SmsTransport::Http);
        assert!(
            config
                .notify
                .sms_http
                .auth_header_parts()
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn bad_notify_values_name_the_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("IDP__NOTIFY__EMAIL", "pigeon")], "notify.email"),
            (&[("IDP__NOTIFY__SMS", "fax")], "notify.sms"),
            (&[("IDP__NOTIFY__EMAIL", "smtp")], "notify.smtp.host"),
            (&[("IDP__NOTIFY__SMS", "http")], "notify.sms_http.url"),
            (&[("IDP__NOTIFY__FROM", "not a mailbox")], "notify.from"),
            (&[("IDP__NOTIFY__OUTBOX_DIR", "")], "notify.outbox_dir"),
            (&[("IDP__NOTIFY__SMTP__TLS", "ssl")], "notify.smtp.tls"),
            (&[("IDP__NOTIFY__SMTP__PORT", "70000")], "notify.smtp.port"),
            (
                &[
                    ("IDP__NOTIFY__EMAIL", "smtp"),
                    ("IDP__NOTIFY__SMTP__HOST", "h"),
                    ("IDP__NOTIFY__SMTP__PASSWORD", "pw-only"),
                ],
                "notify.smtp.username",
            ),
            (
                &[
                    ("IDP__NOTIFY__SMS", "http"),
                    ("IDP__NOTIFY__SMS_HTTP__URL", "ftp://gw"),
                ],
                "notify.sms_http.url",
            ),
            (
                &[
                    ("IDP__NOTIFY__SMS", "http"),
                    ("IDP__NOTIFY__SMS_HTTP__URL", "http://gw/sms"),
                    (
                        "IDP__NOTIFY__SMS_HTTP__AUTH_HEADER",
                        "Bearer no-colon-secret",
                    ),
                ],
                "notify.sms_http.auth_header",
            ),
            (
                &[
                    ("IDP__NOTIFY__SMS", "http"),
                    ("IDP__NOTIFY__SMS_HTTP__URL", "http://gw/sms"),
                    (
                        "IDP__NOTIFY__SMS_HTTP__BODY_TEMPLATE",
                        "{\"to\": \"{{to}}\"",
                    ),
                ],
                "notify.sms_http.body_template",
            ),
            (
                &[
                    ("IDP__NOTIFY__SMS", "http"),
                    ("IDP__NOTIFY__SMS_HTTP__URL", "http://gw/sms"),
                    (
                        "IDP__NOTIFY__SMS_HTTP__BODY_TEMPLATE",
                        "{\"to\": \"{{to}}\"}",
                    ),
                ],
                "notify.sms_http.body_template",
            ),
        ];
        for (vars, needle) in cases {
            let err = Config::load_from(None, env(vars)).unwrap_err();
            let line = err.to_string();
            assert!(line.contains(needle), "{vars:?}: {line}");
            assert!(!line.contains('\n'), "one line: {line}");
            for secret in ["pw-only", "no-colon-secret"] {
                assert!(!line.contains(secret), "{secret} in {line}");
            }
        }
    }

    #[test]
    fn redact_url_hides_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert!(!redact_url("redis://:pw@h").contains("pw"));
    }
}
