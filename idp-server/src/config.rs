//! Typed configuration: the embedded `config/default.toml`, an optional file on top,
//! then `IDP__SECTION__KEY` environment overrides. Every value is checked once here;
//! the rest of the code receives a `Config` that is known to be valid.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::{Table, Value};
use url::Url;

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
    pub log: LogConfig,
    pub dev: DevConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    pub code_ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub public_url: String,
    pub workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EphemeralConfig {
    pub url: String,
    pub namespace: String,
    pub timeout_ms: u64,
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
        if self.keys.reload_secs == 0 {
            return Err(key_error("keys.reload_secs", "must be at least 1"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.filter).is_err() {
            return Err(key_error(
                "log.filter",
                "is not a valid filter directive (e.g. \"info\" or \"idp_server=debug,info\")",
            ));
        }
        Ok(self)
    }

    /// The issuer identifier: the public URL without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.server.public_url
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

    /// `None` for the in-process store, else the Redis URL.
    pub fn ephemeral_target(&self) -> Result<Option<String>, ConfigError> {
        let url = self.ephemeral.url.trim();
        if url == "memory://" {
            return Ok(None);
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            Url::parse(url).map_err(|e| {
                key_error("ephemeral.url", &format!("is not a valid Redis URL: {e}"))
            })?;
            return Ok(Some(url.to_owned()));
        }
        Err(key_error(
            "ephemeral.url",
            "must be memory:// or start with redis:// or rediss://",
        ))
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

    #[test]
    fn defaults_are_valid() {
        let config = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(config.issuer(), "http://127.0.0.1:8080");
        assert_eq!(
            config.database_target().unwrap(),
            DatabaseTarget::Sqlite("data/sesame.db".into())
        );
        assert_eq!(config.ephemeral_target().unwrap(), None);
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
    fn redact_url_hides_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert!(!redact_url("redis://:pw@h").contains("pw"));
    }
}
