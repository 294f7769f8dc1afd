//! Graceful shutdown. On SIGTERM (or Ctrl-C) a replica stops accepting
//! connections, ends its long waits at once (device long-polls answer an
//! empty list, event streams close) so that their clients reconnect through
//! the load balancer to another replica, and lets in-flight requests finish
//! within `server.shutdown_grace_secs`.

use tokio::sync::watch;

/// What long waits watch: whether the replica is shutting down.
#[derive(Clone)]
pub struct Drain {
    rx: watch::Receiver<bool>,
}

/// Starts the drain (held by the application).
#[derive(Clone)]
pub struct DrainTrigger {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

pub fn channel() -> (DrainTrigger, Drain) {
    let (tx, rx) = watch::channel(false);
    (
        DrainTrigger {
            tx: std::sync::Arc::new(tx),
        },
        Drain { rx },
    )
}

impl DrainTrigger {
    pub fn start(&self) {
        self.tx.send_replace(true);
    }
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once the drain has started (never, if it does not).
    pub async fn started(&mut self) {
        if self.rx.wait_for(|draining| *draining).await.is_err() {
            // The trigger is gone with the application: nothing will start it.
            std::future::pending::<()>().await;
        }
    }
}

/// Waits for SIGTERM (service managers, orchestrators) or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
