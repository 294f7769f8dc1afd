//! One outcome shape for the services: a call either succeeds, or is
//! `Refused` for a reason the person or the client caused (a wrong code, a
//! limit, an unknown grant, which the web layer renders as that refusal's page
//! or protocol error), or `Failed` because the infrastructure did (503/500).
//! `?` on an infrastructure error gives `Failed`; the web layer maps each
//! refusal to a response in one place (`web::error`).

/// Why a service call did not succeed: `Refused(R)` (the caller's input or a
/// limit) or `Failed(E)` (the store, Redis, a mailer …).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError<R, E> {
    #[error("refused: {0:?}")]
    Refused(R),
    #[error(transparent)]
    Failed(E),
}

impl<R, E> From<E> for ServiceError<R, E> {
    fn from(e: E) -> Self {
        ServiceError::Failed(e)
    }
}

impl<R, E> ServiceError<R, E> {
    /// The same failure with another refusal type.
    pub fn map_refused<S>(self, f: impl FnOnce(R) -> S) -> ServiceError<S, E> {
        match self {
            ServiceError::Refused(r) => ServiceError::Refused(f(r)),
            ServiceError::Failed(e) => ServiceError::Failed(e),
        }
    }
}

/// For a caller that shows a refusal in place (a form shown again, a line on
/// the CLI) and passes failures on with `?`:
/// `match service().await.split()? { Ok(v) => …, Err(refusal) => … }`.
pub trait Split<T, R, E> {
    fn split(self) -> Result<Result<T, R>, E>;
}

impl<T, R, E> Split<T, R, E> for Result<T, ServiceError<R, E>> {
    fn split(self) -> Result<Result<T, R>, E> {
        match self {
            Ok(value) => Ok(Ok(value)),
            Err(ServiceError::Refused(reason)) => Ok(Err(reason)),
            Err(ServiceError::Failed(e)) => Err(e),
        }
    }
}

/// A refusal, as a service returns it: `return refuse(reason)`.
pub fn refuse<T, R, E>(reason: R) -> Result<T, ServiceError<R, E>> {
    Err(ServiceError::Refused(reason))
}

/// `?` on the infrastructure errors of a layer: each becomes `Failed(E)`
/// through `E: From<source>`.
macro_rules! failed_from {
    ($target:ty: $($source:ty),* $(,)?) => {$(
        impl<R> From<$source> for $crate::outcome::ServiceError<R, $target> {
            fn from(e: $source) -> Self {
                $crate::outcome::ServiceError::Failed(e.into())
            }
        }
    )*};
}

failed_from!(crate::oidc::error::OidcError:
    crate::store::StoreError,
    crate::ephemeral::EphemeralError,
    crate::oidc::error::OAuthError,
    crate::crypto::CryptoError,
    josekit::JoseError,
    serde_json::Error,
);
failed_from!(crate::enrol::EnrolError:
    crate::store::StoreError,
    crate::ephemeral::EphemeralError,
    crate::notify::NotifyError,
    crate::oidc::error::OidcError,
);
failed_from!(crate::device::DeviceError:
    crate::store::StoreError,
    crate::ephemeral::EphemeralError,
    crate::enrol::EnrolError,
    crate::oidc::error::OidcError,
    crate::crypto::CryptoError,
    serde_json::Error,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::error::OidcError;
    use crate::store::StoreError;

    fn store_fails() -> Result<(), StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }

    fn service(refuse_it: bool) -> Result<u8, ServiceError<&'static str, OidcError>> {
        if refuse_it {
            return refuse("no");
        }
        store_fails()?;
        Ok(1)
    }

    #[test]
    fn question_mark_on_an_infrastructure_error_is_failed() {
        assert!(matches!(
            service(false),
            Err(ServiceError::Failed(OidcError::Store(
                StoreError::Unavailable(_)
            )))
        ));
    }

    #[test]
    fn a_refusal_keeps_its_type_and_can_be_mapped() {
        let refused = service(true).map_err(|e| e.map_refused(str::len));
        assert!(matches!(refused, Err(ServiceError::Refused(2))));
    }
}
