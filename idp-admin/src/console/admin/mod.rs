//! Administration pages: signing keys, agents and relying-party clients.
//! They call the same idp-server services as the CLI (`idp-admin keys`,
//! `agents`, `clients`), so both write the same audit entries.

pub mod agents;
pub mod clients;
pub mod keys;

use super::page::Failure;

/// Runs blocking service work (key generation, the clients' blocking API) off the workers.
async fn blocking<T: Send + 'static, E: Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<Result<T, E>, Failure> {
    tokio::task::spawn_blocking(f).await.map_err(Failure::from)
}
