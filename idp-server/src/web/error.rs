//! The one place where internal errors become HTTP responses.
//!
//! JSON errors use the OAuth 2.0 shape (`error`, `error_description`) everywhere,
//! so protocol endpoints and the JSON APIs answer alike. Internal details go to
//! the log (with the request id), never to the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};

use crate::ephemeral::EphemeralError;
use crate::keys::KeyError;
use crate::store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum WebError {
    /// A backing service (database, Redis) is unreachable: retry later.
    #[error("a backing service is unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => WebError::Unavailable(e.to_string()),
            _ => WebError::Internal(e.to_string()),
        }
    }
}

impl From<EphemeralError> for WebError {
    fn from(e: EphemeralError) -> Self {
        match e {
            EphemeralError::Unavailable(_) => WebError::Unavailable(e.to_string()),
            EphemeralError::Protocol(_) => WebError::Internal(e.to_string()),
        }
    }
}

impl From<KeyError> for WebError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(inner) => inner.into(),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<crate::oidc::error::OidcError> for WebError {
    fn from(e: crate::oidc::error::OidcError) -> Self {
        use crate::oidc::error::OidcError;
        match e {
            OidcError::Store(inner) => inner.into(),
            OidcError::Ephemeral(inner) => inner.into(),
            OidcError::OAuth(inner) => {
                WebError::Internal(format!("unhandled protocol error {inner}"))
            }
            OidcError::Internal(detail) => WebError::Internal(detail),
        }
    }
}

impl From<crate::enrol::EnrolError> for WebError {
    fn from(e: crate::enrol::EnrolError) -> Self {
        use crate::enrol::EnrolError;
        use crate::notify::NotifyError;
        match e {
            EnrolError::Store(inner) => inner.into(),
            EnrolError::Ephemeral(inner) => inner.into(),
            EnrolError::Oidc(inner) => inner.into(),
            // A mail or SMS relay that is down: the person can retry shortly.
            EnrolError::Notify(NotifyError::Unavailable(detail)) => WebError::Unavailable(detail),
            EnrolError::Notify(other) => WebError::Internal(other.to_string()),
            EnrolError::Internal(detail) => WebError::Internal(detail),
        }
    }
}

impl From<crate::crypto::CryptoError> for WebError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            WebError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "answering 503");
                let mut response = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "The service is temporarily unavailable; please retry shortly.",
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "answering 500");
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "An internal error occurred.",
                )
            }
        }
    }
}

impl ResponseError for crate::device::DeviceError {
    fn status_code(&self) -> StatusCode {
        device_error_parts(self).0
    }

    fn error_response(&self) -> HttpResponse {
        use crate::device::DeviceError as E;
        let (status, code) = device_error_parts(self);
        let mut body = serde_json::json!({ "error": code, "error_description": self.to_string() });
        match self {
            E::Store(_) | E::Ephemeral(_) | E::Enrol(_) | E::Internal(_) => {
                // Infrastructure: the detail goes to the log only.
                let detail = self.to_string();
                let mut response = if status == StatusCode::SERVICE_UNAVAILABLE {
                    WebError::Unavailable(detail)
                } else {
                    WebError::Internal(detail)
                }
                .error_response();
                response.extensions_mut().insert(DeviceErrorCode(code));
                return response;
            }
            E::InvalidActivationCode { attempts_left }
            | E::WrongPin { attempts_left }
            | E::WrongNumber { attempts_left } => {
                body["attempts_left"] = (*attempts_left).into();
            }
            E::DeviceLocked { reason } => body["lock_reason"] = reason.as_str().into(),
            _ => {}
        }
        let mut response = HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, "application/json"))
            .insert_header((CACHE_CONTROL, "no-store"))
            .body(body.to_string());
        // Counted by `middleware::observe`, which holds the metrics.
        response.extensions_mut().insert(DeviceErrorCode(code));
        if let E::Throttled { retry_after } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
        response
    }
}

/// The `error` code of a device-API error response, for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct DeviceErrorCode(pub &'static str);

/// Status and `error` code of each device-API error (DESIGN §8).
fn device_error_parts(error: &crate::device::DeviceError) -> (StatusCode, &'static str) {
    use crate::device::DeviceError as E;
    match error {
        E::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        E::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request"),
        E::InvalidDeviceRequest(_) => (StatusCode::UNAUTHORIZED, "invalid_device_request"),
        E::DeviceRevoked => (StatusCode::FORBIDDEN, "device_revoked"),
        E::DeviceLocked { .. } => (StatusCode::FORBIDDEN, "device_locked"),
        E::InvalidPin => (StatusCode::BAD_REQUEST, "invalid_pin"),
        E::WeakPin => (StatusCode::BAD_REQUEST, "weak_pin"),
        E::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        E::InvalidActivationCode { .. } => (StatusCode::BAD_REQUEST, "invalid_activation_code"),
        E::ActivationCodeVoid => (StatusCode::FORBIDDEN, "activation_code_void"),
        E::ActivationCodeExpired => (StatusCode::GONE, "activation_code_expired"),
        E::NoActivationCode => (StatusCode::NOT_FOUND, "no_activation_code"),
        E::NotActivatable => (StatusCode::CONFLICT, "not_activatable"),
        E::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        E::UnknownChallenge => (StatusCode::NOT_FOUND, "unknown_challenge"),
        E::ForeignChallenge => (StatusCode::FORBIDDEN, "foreign_challenge"),
        E::NonceMismatch => (StatusCode::BAD_REQUEST, "nonce_mismatch"),
        E::WrongPin { .. } => (StatusCode::FORBIDDEN, "wrong_pin"),
        E::WrongNumber { .. } => (StatusCode::FORBIDDEN, "wrong_number"),
        E::ChallengeDecided => (StatusCode::CONFLICT, "challenge_decided"),
        E::ChallengeExpired => (StatusCode::GONE, "challenge_expired"),
        E::UnknownDevice => (StatusCode::NOT_FOUND, "unknown_device"),
        E::Store(StoreError::Unavailable(_)) | E::Ephemeral(EphemeralError::Unavailable(_)) => {
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
        E::Enrol(inner) if enrol_unavailable(inner) => {
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
        E::Store(_) | E::Ephemeral(_) | E::Enrol(_) | E::Internal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
        }
    }
}

/// True when an enrolment-side error (issuing an activation code from the
/// device API, say) only says that a backing service is down.
fn enrol_unavailable(error: &crate::enrol::EnrolError) -> bool {
    use crate::enrol::EnrolError;
    use crate::oidc::error::OidcError;
    matches!(
        error,
        EnrolError::Store(StoreError::Unavailable(_))
            | EnrolError::Ephemeral(EphemeralError::Unavailable(_))
            | EnrolError::Notify(crate::notify::NotifyError::Unavailable(_))
            | EnrolError::Oidc(OidcError::Store(StoreError::Unavailable(_)))
            | EnrolError::Oidc(OidcError::Ephemeral(EphemeralError::Unavailable(_)))
    )
}

/// `{"error": code, "error_description": description}` with `no-store`.
pub fn json_error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    let body = serde_json::json!({ "error": code, "error_description": description });
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn outages_are_503_with_retry_after_and_no_internal_detail() {
        let err: WebError =
            EphemeralError::Unavailable("connection refused at 10.0.0.7:6379".into()).into();
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(RETRY_AFTER).unwrap(), "5");
        let body = response.into_body().try_into_bytes().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "temporarily_unavailable");
        assert!(!String::from_utf8_lossy(&body).contains("10.0.0.7"));
    }

    #[test]
    fn store_errors_map_by_kind() {
        let unavailable: WebError = StoreError::Unavailable("pool timeout".into()).into();
        assert_eq!(unavailable.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let corrupt: WebError = StoreError::Corrupt("bad row".into()).into();
        assert_eq!(corrupt.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn lost_connections_are_unavailable_and_other_query_errors_internal() {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        let lost = |kind, message: &str| -> WebError {
            StoreError::from(Error::DatabaseError(kind, Box::new(message.to_owned()))).into()
        };
        for (kind, message) in [
            (Kind::ClosedConnection, "no connection to the server"),
            (Kind::UnableToSendCommand, "could not send data"),
            (
                Kind::Unknown,
                "server closed the connection unexpectedly\n\tThis probably means",
            ),
            (
                Kind::Unknown,
                "terminating connection due to administrator command",
            ),
            (Kind::Unknown, "database is locked"),
            (Kind::Unknown, "canceling statement due to lock timeout"),
            (Kind::Unknown, "deadlock detected"),
        ] {
            assert_eq!(
                lost(kind, message).status_code(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{message}"
            );
        }
        let broken: WebError = StoreError::from(Error::BrokenTransactionManager).into();
        assert_eq!(broken.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let unique = StoreError::from(Error::DatabaseError(
            Kind::UniqueViolation,
            Box::new("duplicate key".to_owned()),
        ));
        assert!(unique.is_unique_violation());
        assert_eq!(
            WebError::from(unique).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            WebError::from(StoreError::from(Error::NotFound)).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}

// ------------------------------------------------------------------ pages

/// A service's refusal as a person reads it: the status, the sentence in
/// their language (from the texts structs, never inline) and when to retry.
/// Implemented in `web` for the services' refusal types, so services stay
/// free of HTTP and of wording.
pub trait UserFacing {
    fn status(&self) -> StatusCode;
    fn message(&self, t: &'static crate::web::i18n::Texts) -> String;
    fn retry_after(&self) -> Option<u64> {
        None
    }
}

/// Why a citizen page could not be served: an error page in the person's
/// language. Page handlers return `Result<HttpResponse, PageError>` and reach
/// it with `?` through [`OrPage::or_page`] or [`PageError::refused`].
#[derive(Debug)]
pub struct PageError {
    lang: crate::oidc::types::Lang,
    kind: PageErrorKind,
}

#[derive(Debug)]
enum PageErrorKind {
    Refused {
        status: StatusCode,
        message: String,
        retry_after: Option<u64>,
    },
    /// Not where this page belongs: 303 to the right one.
    Elsewhere(String),
    /// A page of its own, rendered: a form shown again with its errors.
    Page {
        status: StatusCode,
        body: String,
        retry_after: Option<u64>,
    },
    Failure(WebError),
}

impl PageError {
    pub fn refused(lang: crate::oidc::types::Lang, refusal: &impl UserFacing) -> Self {
        let t = crate::web::i18n::texts(lang);
        PageError {
            lang,
            kind: PageErrorKind::Refused {
                status: refusal.status(),
                message: refusal.message(t),
                retry_after: refusal.retry_after(),
            },
        }
    }

    pub fn see_other(lang: crate::oidc::types::Lang, location: impl Into<String>) -> Self {
        PageError {
            lang,
            kind: PageErrorKind::Elsewhere(location.into()),
        }
    }

    /// `page` (a form shown again with what to correct) answered with `status`.
    pub fn page(
        lang: crate::oidc::types::Lang,
        status: StatusCode,
        page: &impl askama::Template,
        retry_after: Option<u64>,
    ) -> Self {
        match page.render() {
            Ok(body) => PageError {
                lang,
                kind: PageErrorKind::Page {
                    status,
                    body,
                    retry_after,
                },
            },
            Err(e) => PageError::failure(lang, WebError::Internal(e.to_string())),
        }
    }

    pub fn failure(lang: crate::oidc::types::Lang, error: impl Into<WebError>) -> Self {
        PageError {
            lang,
            kind: PageErrorKind::Failure(error.into()),
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            PageErrorKind::Refused { status, .. } => write!(f, "page refused ({status})"),
            PageErrorKind::Elsewhere(location) => write!(f, "page redirected to {location}"),
            PageErrorKind::Page { status, .. } => write!(f, "form shown again ({status})"),
            PageErrorKind::Failure(e) => e.fmt(f),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match &self.kind {
            PageErrorKind::Refused { status, .. } => *status,
            PageErrorKind::Elsewhere(_) => StatusCode::SEE_OTHER,
            PageErrorKind::Page { status, .. } => *status,
            PageErrorKind::Failure(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        use crate::web::pages;
        match &self.kind {
            PageErrorKind::Refused {
                status,
                message,
                retry_after,
            } => {
                let mut response = pages::error_page(self.lang, *status, message);
                if let Some(seconds) = retry_after
                    && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
                {
                    response.headers_mut().insert(RETRY_AFTER, value);
                }
                response
            }
            PageErrorKind::Elsewhere(location) => HttpResponse::SeeOther()
                .insert_header(("Location", location.as_str()))
                .finish(),
            PageErrorKind::Page {
                status,
                body,
                retry_after,
            } => {
                let mut response = HttpResponse::build(*status)
                    .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
                    .body(body.clone());
                if let Some(seconds) = retry_after
                    && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
                {
                    response.headers_mut().insert(RETRY_AFTER, value);
                }
                response
            }
            PageErrorKind::Failure(e) => pages::failure_page(self.lang, e.clone()),
        }
    }
}

/// `?` on a service call inside a page handler: an infrastructure failure
/// becomes the 503/500 page in the person's language.
pub trait OrPage<T> {
    fn or_page(self, lang: crate::oidc::types::Lang) -> Result<T, PageError>;
}

impl<T, E: Into<WebError>> OrPage<T> for Result<T, E> {
    fn or_page(self, lang: crate::oidc::types::Lang) -> Result<T, PageError> {
        self.map_err(|e| PageError::failure(lang, e))
    }
}

/// A service outcome (`outcome::ServiceError`) inside a page handler: the
/// failure becomes the 503/500 page; the refusal becomes its own error page
/// ([`UserFacing`]) or goes back to the handler, which shows it on its form.
pub trait OnRefusal<T, R> {
    /// The refusal as its [`UserFacing`] error page.
    fn or_refused_page(self, lang: crate::oidc::types::Lang) -> Result<T, PageError>
    where
        R: UserFacing;
    /// The refusal for the handler to show (`Ok(Err(refusal))`).
    fn refusal_or_page(self, lang: crate::oidc::types::Lang) -> Result<Result<T, R>, PageError>;
}

impl<T, R, E: Into<WebError>> OnRefusal<T, R> for Result<T, crate::outcome::ServiceError<R, E>> {
    fn or_refused_page(self, lang: crate::oidc::types::Lang) -> Result<T, PageError>
    where
        R: UserFacing,
    {
        self.map_err(|e| match e {
            crate::outcome::ServiceError::Refused(refusal) => PageError::refused(lang, &refusal),
            crate::outcome::ServiceError::Failed(e) => PageError::failure(lang, e),
        })
    }

    fn refusal_or_page(self, lang: crate::oidc::types::Lang) -> Result<Result<T, R>, PageError> {
        match self {
            Ok(value) => Ok(Ok(value)),
            Err(crate::outcome::ServiceError::Refused(refusal)) => Ok(Err(refusal)),
            Err(crate::outcome::ServiceError::Failed(e)) => Err(PageError::failure(lang, e)),
        }
    }
}

impl From<crate::device::DeviceError> for WebError {
    fn from(e: crate::device::DeviceError) -> Self {
        use crate::device::DeviceError;
        match e {
            DeviceError::Store(inner) => inner.into(),
            DeviceError::Ephemeral(inner) => inner.into(),
            other => WebError::Internal(other.to_string()),
        }
    }
}

// ---- login pages: how the oidc services' refusals read

impl UserFacing for crate::oidc::authorize::Refusal {
    fn status(&self) -> StatusCode {
        use crate::oidc::authorize::Refusal;
        match self {
            Refusal::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn message(&self, t: &'static crate::web::i18n::Texts) -> String {
        use crate::oidc::authorize::Refusal;
        match self {
            Refusal::MissingClientId => t.missing_client_id,
            Refusal::UnknownClient => t.unknown_client,
            Refusal::MissingRedirectUri => t.missing_redirect_uri,
            Refusal::UnregisteredRedirectUri => t.unregistered_redirect_uri,
            Refusal::UnknownRequest => t.unknown_request,
            Refusal::RepeatedParameter => t.repeated_parameter,
            Refusal::Forged => t.forged,
            Refusal::TooManyRequests { .. } => t.authorize_throttled,
        }
        .to_owned()
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            crate::oidc::authorize::Refusal::TooManyRequests { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Shown on the login page itself (the person may try again).
impl UserFacing for crate::oidc::login::LoginFailure {
    fn status(&self) -> StatusCode {
        use crate::oidc::login::LoginFailure;
        match self {
            LoginFailure::Invalid => StatusCode::BAD_REQUEST,
            LoginFailure::Suspended => StatusCode::FORBIDDEN,
            LoginFailure::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn message(&self, t: &'static crate::web::i18n::Texts) -> String {
        use crate::oidc::login::LoginFailure;
        match self {
            LoginFailure::Invalid => t.bad_credentials,
            LoginFailure::Suspended => t.suspended,
            LoginFailure::Throttled { .. } => t.throttled,
        }
        .to_owned()
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            crate::oidc::login::LoginFailure::Throttled { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Shown on the phone page itself (the person may correct the number).
impl UserFacing for crate::device::challenge::StartRefusal {
    fn status(&self) -> StatusCode {
        use crate::device::challenge::StartRefusal;
        match self {
            StartRefusal::InvalidPhone => StatusCode::BAD_REQUEST,
            StartRefusal::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn message(&self, t: &'static crate::web::i18n::Texts) -> String {
        use crate::device::challenge::StartRefusal;
        match self {
            StartRefusal::InvalidPhone => t.phone_invalid,
            StartRefusal::Throttled { .. } => t.throttled,
        }
        .to_owned()
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            crate::device::challenge::StartRefusal::Throttled { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Adds `Retry-After: seconds` when there is one.
pub fn with_retry_after(mut response: HttpResponse, seconds: Option<u64>) -> HttpResponse {
    if let Some(seconds) = seconds
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

// ---- protocol endpoints: the OAuth JSON shape

/// Why a protocol endpoint (token, userinfo, revocation, introspection)
/// refused: rendered in the OAuth JSON shape, with the challenge header the
/// RFCs ask for.
#[derive(Debug)]
pub enum ProtocolError {
    /// 400 with the error (RFC 6749 §5.2).
    Invalid(crate::oidc::error::OAuthError),
    /// `invalid_client`: 401 with a Basic challenge (RFC 6749 §5.2).
    Client(crate::oidc::client_auth::ClientAuthError),
    /// No bearer token (`None`) or a refused one: 401 with a Bearer
    /// challenge (RFC 6750 §3).
    Bearer(Option<crate::oidc::error::OAuthError>),
    /// The database or Redis failed.
    Failure(WebError),
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::Invalid(e) | ProtocolError::Bearer(Some(e)) => e.fmt(f),
            ProtocolError::Client(e) => e.error.fmt(f),
            ProtocolError::Bearer(None) => f.write_str("no bearer token"),
            ProtocolError::Failure(e) => e.fmt(f),
        }
    }
}

impl From<crate::oidc::error::OidcError> for ProtocolError {
    fn from(e: crate::oidc::error::OidcError) -> Self {
        ProtocolError::Failure(e.into())
    }
}

/// A protocol service's outcome: its refusal as that refusal's response,
/// its failure as a 503/500.
impl<R> From<crate::outcome::ServiceError<R, crate::oidc::error::OidcError>> for ProtocolError
where
    ProtocolError: From<R>,
{
    fn from(e: crate::outcome::ServiceError<R, crate::oidc::error::OidcError>) -> Self {
        match e {
            crate::outcome::ServiceError::Refused(refusal) => refusal.into(),
            crate::outcome::ServiceError::Failed(e) => e.into(),
        }
    }
}

impl ProtocolError {
    /// The userinfo outcome: a refused token is a Bearer challenge (RFC 6750 §3).
    pub fn bearer(
        e: crate::outcome::ServiceError<
            crate::oidc::error::OAuthError,
            crate::oidc::error::OidcError,
        >,
    ) -> Self {
        match e {
            crate::outcome::ServiceError::Refused(e) => ProtocolError::Bearer(Some(e)),
            crate::outcome::ServiceError::Failed(e) => e.into(),
        }
    }
}

impl From<crate::oidc::client_auth::ClientAuthError> for ProtocolError {
    fn from(e: crate::oidc::client_auth::ClientAuthError) -> Self {
        ProtocolError::Client(e)
    }
}

impl From<crate::oidc::token::TokenError> for ProtocolError {
    fn from(e: crate::oidc::token::TokenError) -> Self {
        use crate::oidc::token::TokenError;
        match e {
            TokenError::Client(e) => ProtocolError::Client(e),
            TokenError::Grant(e) => ProtocolError::Invalid(e),
        }
    }
}

fn oauth_error(status: StatusCode, error: &crate::oidc::error::OAuthError) -> HttpResponse {
    json_error(status, error.code.as_str(), &error.description)
}

impl ResponseError for ProtocolError {
    fn status_code(&self) -> StatusCode {
        match self {
            ProtocolError::Invalid(_) => StatusCode::BAD_REQUEST,
            ProtocolError::Client(_) | ProtocolError::Bearer(_) => StatusCode::UNAUTHORIZED,
            ProtocolError::Failure(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        use actix_web::http::header::WWW_AUTHENTICATE;
        match self {
            ProtocolError::Invalid(e) => oauth_error(StatusCode::BAD_REQUEST, e),
            ProtocolError::Client(e) => {
                let mut response = oauth_error(StatusCode::UNAUTHORIZED, &e.error);
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"sesame\""),
                );
                response
            }
            ProtocolError::Bearer(error) => bearer_challenge(error.as_ref()),
            ProtocolError::Failure(e) => e.error_response(),
        }
    }
}

fn bearer_challenge(error: Option<&crate::oidc::error::OAuthError>) -> HttpResponse {
    use actix_web::http::header::WWW_AUTHENTICATE;
    let challenge = match error {
        Some(e) => format!(
            "Bearer realm=\"sesame\", error=\"{}\", error_description=\"{}\"",
            e.code.as_str(),
            e.description.replace('"', "'")
        ),
        None => "Bearer realm=\"sesame\"".to_owned(),
    };
    let mut response = match error {
        Some(e) => oauth_error(StatusCode::UNAUTHORIZED, e),
        None => HttpResponse::Unauthorized()
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish(),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod outcome_tests {
    use super::*;
    use crate::oidc::client_auth::ClientAuthError;
    use crate::oidc::error::{OAuthError, OidcError};
    use crate::outcome::ServiceError;

    #[test]
    fn a_refused_client_is_401_with_a_basic_challenge() {
        let refused: ServiceError<ClientAuthError, OidcError> =
            ServiceError::Refused(ClientAuthError {
                error: OAuthError::invalid_client("bad credentials"),
                basic: true,
            });
        let response = ProtocolError::from(refused).error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .headers()
                .get(actix_web::http::header::WWW_AUTHENTICATE)
                .unwrap(),
            "Basic realm=\"sesame\""
        );
    }

    #[test]
    fn a_failed_service_is_503_and_a_refused_token_a_bearer_challenge() {
        let failed: ServiceError<OAuthError, OidcError> =
            ServiceError::Failed(crate::store::StoreError::Unavailable("down".into()).into());
        assert_eq!(
            ProtocolError::bearer(failed).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let refused = ServiceError::Refused(OAuthError::invalid_token("expired"));
        let response = ProtocolError::bearer(refused).error_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response
            .headers()
            .get(actix_web::http::header::WWW_AUTHENTICATE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(challenge.contains("error=\"invalid_token\""));
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;
    use crate::oidc::types::Lang;

    #[derive(askama::Template)]
    #[template(source = "<p>{{ message }}</p>", ext = "html")]
    struct Shown<'a> {
        message: &'a str,
    }

    #[test]
    fn a_form_shown_again_keeps_its_status_body_and_retry_after() {
        let page = Shown { message: "d'abord" };
        let error = PageError::page(Lang::Fr, StatusCode::TOO_MANY_REQUESTS, &page, Some(30));
        assert_eq!(error.status_code(), StatusCode::TOO_MANY_REQUESTS);
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(RETRY_AFTER).unwrap(), "30");
        assert!(
            response
                .headers()
                .get(CONTENT_TYPE)
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = actix_web::body::MessageBody::try_into_bytes(response.into_body()).unwrap();
        assert_eq!(&body[..], b"<p>d&#39;abord</p>");
    }
}
