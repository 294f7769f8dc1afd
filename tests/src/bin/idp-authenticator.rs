//! `idp-authenticator`: the Sésame app on the command line, for scripts,
//! support and load tests. It speaks the same device API as `/app`.
//!
//!   idp-authenticator activate --server URL --email E --password P --code C --pin 1357
//!   idp-authenticator wait                      # prints the next challenge (JSON)
//!   idp-authenticator approve --pin 1357 --number 42
//!   idp-authenticator deny | fraud
//!   idp-authenticator devices | rename --device ID --name N | revoke --device ID
//!
//! The device key and id are kept in `--state` (default
//! `idp-authenticator.json`), written readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use idp_tests::authenticator::{Authenticator, Saved};
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(
    name = "idp-authenticator",
    version,
    about = "The Sésame authenticator on the command line"
)]
struct Cli {
    /// File holding this authenticator's key and device id.
    #[arg(
        long,
        global = true,
        default_value = "idp-authenticator.json",
        env = "IDP_AUTHENTICATOR_STATE"
    )]
    state: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Activate a new device (creates the key and the state file).
    Activate {
        /// Base URL of the Sésame server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long)]
        email: String,
        /// Account password (prefer the environment variable).
        #[arg(long, env = "IDP_PASSWORD", hide_env_values = true)]
        password: String,
        /// The 6-digit activation code received by SMS.
        #[arg(long)]
        code: String,
        /// The new 4-digit PIN.
        #[arg(long, env = "IDP_PIN", hide_env_values = true)]
        pin: String,
        #[arg(long, default_value = "idp-authenticator")]
        name: String,
    },
    /// Ask for a new activation code by SMS (after a lock).
    RequestCode {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long)]
        email: String,
        #[arg(long, env = "IDP_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Wait for the next challenge and print it as JSON.
    Wait {
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Wait for a challenge and approve it with the PIN and the number shown in the browser.
    Approve {
        #[arg(long, env = "IDP_PIN", hide_env_values = true)]
        pin: String,
        #[arg(long)]
        number: i64,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Wait for a challenge and refuse it.
    Deny {
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// Wait for a challenge and report it as fraud ("ce n'est pas moi").
    Fraud {
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// List this account's devices.
    Devices,
    /// Rename one of this account's devices.
    Rename {
        #[arg(long)]
        device: String,
        #[arg(long)]
        name: String,
    },
    /// Revoke one of this account's devices.
    Revoke {
        #[arg(long)]
        device: String,
    },
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

fn load(path: &Path) -> Result<Authenticator, String> {
    let raw = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read {}: {e} (run `idp-authenticator activate` first)",
            path.display()
        )
    })?;
    let saved: Saved = serde_json::from_str(&raw)
        .map_err(|e| format!("{} is not a state file: {e}", path.display()))?;
    Authenticator::load(http(), &saved)
}

fn store(path: &Path, authenticator: &Authenticator) -> Result<(), String> {
    let body = serde_json::to_vec_pretty(&authenticator.save()).map_err(|e| e.to_string())?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(&body))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

async fn next_challenge(a: &Authenticator, seconds: u64) -> Result<Value, String> {
    a.challenges(seconds.min(30))
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or_else(|| format!("no challenge arrived within {seconds} s"))
}

async fn run(cli: Cli) -> Result<Value, String> {
    match cli.command {
        Command::Activate {
            server,
            email,
            password,
            code,
            pin,
            name,
        } => {
            let http = http();
            let issuer = Authenticator::discover_issuer(&http, &server).await?;
            let mut a = Authenticator::new(http, &server, &issuer)?;
            let body = a
                .activate(&email, &password, &code, &pin, &name)
                .await
                .map_err(|e| e.to_string())?;
            store(&cli.state, &a)?;
            Ok(body)
        }
        Command::RequestCode {
            server,
            email,
            password,
        } => {
            let http = http();
            let issuer = Authenticator::discover_issuer(&http, &server).await?;
            Authenticator::new(http, &server, &issuer)?
                .request_code(&email, &password)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Wait { seconds } => next_challenge(&load(&cli.state)?, seconds).await,
        Command::Approve {
            pin,
            number,
            seconds,
        } => {
            let a = load(&cli.state)?;
            let challenge = next_challenge(&a, seconds).await?;
            a.approve(&challenge, &pin, number)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Deny { seconds } | Command::Fraud { seconds } => {
            let action = if matches!(cli.command, Command::Deny { .. }) {
                "deny"
            } else {
                "fraud"
            };
            let a = load(&cli.state)?;
            let challenge = next_challenge(&a, seconds).await?;
            a.decide(&challenge, action, None, None)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Devices => load(&cli.state)?
            .devices()
            .await
            .map(Value::Array)
            .map_err(|e| e.to_string()),
        Command::Rename { device, name } => load(&cli.state)?
            .rename(&device, &name)
            .await
            .map_err(|e| e.to_string()),
        Command::Revoke { device } => load(&cli.state)?
            .revoke(&device)
            .await
            .map(|_| serde_json::json!({ "revoked": device }))
            .map_err(|e| e.to_string()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(body) => {
            println!("{body}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("idp-authenticator: {message}");
            ExitCode::FAILURE
        }
    }
}
