//! `idp-server`: the identity provider process.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use idp_server::app::Application;
use idp_server::config::Config;

/// The server's allocator. Under load glibc's malloc slowed down as the
/// in-process store filled (its free lists fragment between long-lived
/// entries and per-request buffers: `_int_malloc` 6.4 % → 8.6 % of the
/// server's CPU over 6 minutes); mimalloc's per-size-class pages do not
/// (docs/performance.md, round 2).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "idp-server",
    version,
    about = "Sésame OpenID Connect identity provider"
)]
struct Args {
    /// Configuration file layered over the embedded defaults (config/default.toml).
    #[arg(long, short, env = "IDP_CONFIG")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("idp-server: {e}");
            return ExitCode::from(2);
        }
    };
    idp_server::telemetry::init(&config.log);
    let runtime = match actix_web::rt::System::new().block_on(serve(config)) {
        Ok(()) => return ExitCode::SUCCESS,
        Err(e) => e,
    };
    eprintln!("idp-server: {runtime}");
    ExitCode::FAILURE
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let issuer = config.issuer().to_owned();
    let app = Application::build(config).await?;
    let core = app.core();
    println!("Sésame identity provider");
    println!("  issuer     {issuer}");
    println!("  discovery  {issuer}/.well-known/openid-configuration");
    println!(
        "  storage    {} + {} ephemeral store",
        core.db.backend().name(),
        core.ephemeral.kind()
    );
    app.run_until_signal().await?;
    Ok(())
}
