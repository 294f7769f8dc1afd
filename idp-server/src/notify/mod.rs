//! Notifications: email and SMS behind one trait, [`Channel`].
//!
//! Email goes to an SMTP server ([`smtp`], lettre) or to the file outbox;
//! SMS go to an HTTP gateway ([`sms_http`], reqwest) or to the file outbox.
//! The outbox ([`outbox`]) is the embedded default: one JSON file per message,
//! listed by the development page through [`read_outbox`].
//!
//! Messages carry codes, so their text is a secret: it never appears in an
//! error or a log line. Logs name the kind of message and the recipient,
//! masked ([`mask_email`], [`mask_phone`]); errors never contain the SMTP
//! password or the gateway's authentication header either.

pub mod citizen;
pub mod outbox;
pub mod sms_http;
pub mod smtp;

use crate::metrics::{Channel as MetricChannel, NotifyCounters};
use std::path::Path;
use std::sync::Arc;

pub use outbox::{Outbox, OutboxEntry, OutboxKind, read_outbox};
pub use sms_http::HttpSms;
pub use smtp::SmtpSender;

use crate::config::{EmailTransport, NotifyConfig, SmsTransport};

/// An email to one recipient. `html`, when given, is sent as the alternative
/// to `text` (multipart/alternative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// An SMS to one E.164 number (`+33612345678`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMessage {
    pub to: String,
    pub text: String,
}

/// Why a message was not delivered. No variant ever holds a secret: no
/// message text, SMTP password or gateway authentication header.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The server or gateway cannot be reached, timed out or failed (5xx);
    /// trying again later may work (the web layer answers 503).
    #[error("notification service unavailable: {0}")]
    Unavailable(String),
    /// The message was refused for good (bad address, 4xx): retrying the same
    /// message will not help.
    #[error("notification refused: {0}")]
    Rejected(String),
    /// The notification settings cannot be used (names the configuration key).
    #[error("notification configuration: {0}")]
    Config(String),
}

/// One way to deliver messages of type `M`; every transport implements it for
/// the messages it can carry, and [`Notifier`] for both.
#[allow(async_fn_in_trait)]
pub trait Channel<M> {
    /// Delivers `message` or says why not. Never logs the message text.
    async fn deliver(&self, message: &M) -> Result<(), NotifyError>;
    /// A short name for logs ("smtp", "outbox", "http").
    fn name(&self) -> &'static str;
}

enum EmailChannel {
    Outbox(Outbox),
    Smtp(Box<SmtpSender>),
}

enum SmsChannel {
    Outbox(Outbox),
    Http(Box<HttpSms>),
}

impl Channel<EmailMessage> for EmailChannel {
    async fn deliver(&self, message: &EmailMessage) -> Result<(), NotifyError> {
        match self {
            EmailChannel::Outbox(c) => c.deliver(message).await,
            EmailChannel::Smtp(c) => c.deliver(message).await,
        }
    }
    fn name(&self) -> &'static str {
        match self {
            EmailChannel::Outbox(c) => Channel::<EmailMessage>::name(c),
            EmailChannel::Smtp(c) => c.name(),
        }
    }
}

impl Channel<SmsMessage> for SmsChannel {
    async fn deliver(&self, message: &SmsMessage) -> Result<(), NotifyError> {
        match self {
            SmsChannel::Outbox(c) => c.deliver(message).await,
            SmsChannel::Http(c) => c.deliver(message).await,
        }
    }
    fn name(&self) -> &'static str {
        match self {
            SmsChannel::Outbox(c) => Channel::<SmsMessage>::name(c),
            SmsChannel::Http(c) => c.name(),
        }
    }
}

struct Inner {
    email: EmailChannel,
    sms: SmsChannel,
    /// Set when at least one kind of message goes to the outbox.
    outbox: Option<Outbox>,
}

/// The configured email and SMS channels. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
    counters: NotifyCounters,
}

impl Notifier {
    /// Builds the channels of `config` (already validated by `config.rs`).
    /// Does no network I/O; reads `notify.smtp.ca_file` when one is set.
    pub fn from_config(config: &NotifyConfig) -> Result<Self, NotifyError> {
        let email = match config.email {
            EmailTransport::Outbox => EmailChannel::Outbox(Outbox::new(&config.outbox_dir)),
            EmailTransport::Smtp => EmailChannel::Smtp(Box::new(SmtpSender::from_config(config)?)),
        };
        let sms = match config.sms {
            SmsTransport::Outbox => SmsChannel::Outbox(Outbox::new(&config.outbox_dir)),
            SmsTransport::Http => {
                SmsChannel::Http(Box::new(HttpSms::from_config(&config.sms_http)?))
            }
        };
        let outbox = (config.email == EmailTransport::Outbox || config.sms == SmsTransport::Outbox)
            .then(|| Outbox::new(&config.outbox_dir));
        Ok(Notifier {
            inner: Arc::new(Inner { email, sms, outbox }),
            counters: NotifyCounters::default(),
        })
    }

    /// Counts messages sent and delivery failures in `counters` (the
    /// metrics' own series).
    pub fn counting(mut self, counters: NotifyCounters) -> Self {
        self.counters = counters;
        self
    }

    /// Sends an email through the configured channel.
    pub async fn send_email(&self, message: &EmailMessage) -> Result<(), NotifyError> {
        let channel = &self.inner.email;
        let to = mask_email(&message.to);
        let result = channel.deliver(message).await;
        self.counters.count(MetricChannel::Email, result.is_ok());
        log_outcome("email", channel.name(), &to, &result);
        result
    }

    /// Sends an SMS through the configured channel.
    pub async fn send_sms(&self, message: &SmsMessage) -> Result<(), NotifyError> {
        let channel = &self.inner.sms;
        let to = mask_phone(&message.to);
        let result = channel.deliver(message).await;
        self.counters.count(MetricChannel::Sms, result.is_ok());
        log_outcome("sms", channel.name(), &to, &result);
        result
    }

    /// The outbox directory when email or SMS go there (development), else `None`.
    pub fn outbox_dir(&self) -> Option<&Path> {
        self.inner.outbox.as_ref().map(Outbox::dir)
    }

    /// The newest `limit` outbox messages, newest first; empty when nothing
    /// goes to the outbox. Runs the file reads on the blocking pool.
    pub async fn recent_outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>, NotifyError> {
        let Some(dir) = self.outbox_dir().map(Path::to_path_buf) else {
            return Ok(Vec::new());
        };
        tokio::task::spawn_blocking(move || read_outbox(&dir, limit))
            .await
            .map_err(|e| NotifyError::Unavailable(format!("outbox reader stopped: {e}")))?
    }

    /// Which channels are configured, e.g. `("smtp", "outbox")`, for start-up logs.
    pub fn channels(&self) -> (&'static str, &'static str) {
        (self.inner.email.name(), self.inner.sms.name())
    }
}

impl Channel<EmailMessage> for Notifier {
    async fn deliver(&self, message: &EmailMessage) -> Result<(), NotifyError> {
        self.send_email(message).await
    }
    fn name(&self) -> &'static str {
        self.inner.email.name()
    }
}

impl Channel<SmsMessage> for Notifier {
    async fn deliver(&self, message: &SmsMessage) -> Result<(), NotifyError> {
        self.send_sms(message).await
    }
    fn name(&self) -> &'static str {
        self.inner.sms.name()
    }
}

fn log_outcome(kind: &str, channel: &str, to: &str, result: &Result<(), NotifyError>) {
    match result {
        Ok(()) => tracing::info!(kind, channel, to, "notification sent"),
        Err(e) => tracing::warn!(kind, channel, to, error = %e, "notification not sent"),
    }
}

/// An email address as logs may show it: `m***@example.fr`.
pub fn mask_email(address: &str) -> String {
    match address.trim().rsplit_once('@') {
        Some((local, domain)) => match local.chars().next() {
            Some(first) => format!("{first}***@{domain}"),
            None => format!("***@{domain}"),
        },
        None => "***".to_owned(),
    }
}

/// A phone number as logs may show it: `+33 6 ** ** ** 78` for a French
/// number, the country code's first digits and the last two elsewhere.
pub fn mask_phone(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len();
    if n < 6 {
        return "***".to_owned();
    }
    let tail: String = digits[n - 2..].iter().collect();
    if n == 11 && digits[0] == '3' && digits[1] == '3' {
        return format!("+33 {} ** ** ** {tail}", digits[2]);
    }
    let head: String = digits[..2].iter().collect();
    format!("+{head} {} {tail}", "*".repeat(n - 4))
}

/// An error and its sources on one line (`a: b: c`), for wrapped I/O errors.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = e.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_masked() {
        assert_eq!(mask_email("marie.durand@example.fr"), "m***@example.fr");
        assert_eq!(mask_email("élise@exemple.fr"), "é***@exemple.fr");
        assert_eq!(mask_email("@example.fr"), "***@example.fr");
        assert_eq!(mask_email("no-at-sign"), "***");
        assert_eq!(mask_email(""), "***");
    }

    #[test]
    fn phones_are_masked() {
        assert_eq!(mask_phone("+33612345678"), "+33 6 ** ** ** 78");
        assert_eq!(mask_phone("+33712345699"), "+33 7 ** ** ** 99");
        assert_eq!(mask_phone("+4915112345678"), "+49 ********* 78");
        assert_eq!(mask_phone("+1"), "***");
        assert_eq!(mask_phone("garbage"), "***");
        for masked in [mask_phone("+33612345678"), mask_phone("+4915112345678")] {
            assert!(!masked.contains("1234"), "{masked}");
        }
    }

    #[test]
    fn errors_chain_sources_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(error_chain(&io), "refused");
    }
}
