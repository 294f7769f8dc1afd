//! Email through an SMTP server (lettre on tokio, native TLS).
//!
//! `notify.smtp.tls` picks the protection: `starttls` (required: a server that
//! does not offer STARTTLS is an error, never a plain-text fallback), `tls`
//! (implicit TLS) or `none`. Certificates are checked against the system's
//! roots plus `notify.smtp.ca_file`. One connection per message (no pool):
//! verification emails are rare next to logins.
//!
//! Errors name the server and the SMTP reply code, never the password or the
//! message; permanent refusals (5xx) are `Rejected` except authentication
//! failures, which are the operator's problem and so `Unavailable`.

use std::path::Path;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Channel, EmailMessage, NotifyError, error_chain};
use crate::config::{NotifyConfig, SmtpTls};

/// Reply codes of a refused authentication (RFC 4954): a configuration problem.
const AUTH_FAILURE_CODES: [&str; 4] = ["530", "534", "535", "538"];

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    /// `host:port`, for errors.
    server: String,
}

impl SmtpSender {
    /// Prepares the transport; connects only when a message is sent.
    pub fn from_config(config: &NotifyConfig) -> Result<Self, NotifyError> {
        let smtp = &config.smtp;
        let from = config
            .from_mailbox()
            .map_err(|e| NotifyError::Config(e.to_string()))?;
        let host = smtp.host.trim();
        if host.is_empty() {
            return Err(NotifyError::Config(
                "notify.smtp.host must be set when notify.email = \"smtp\"".to_owned(),
            ));
        }
        let port = smtp.effective_port();
        let tls = match smtp.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters(host, &smtp.ca_file)?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters(host, &smtp.ca_file)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(smtp.timeout()));
        if !smtp.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                smtp.username.clone(),
                smtp.password.clone(),
            ));
        }
        Ok(SmtpSender {
            transport: builder.build(),
            from,
            timeout: smtp.timeout(),
            server: format!("{host}:{port}"),
        })
    }

    fn build(&self, message: &EmailMessage) -> Result<Message, NotifyError> {
        let to: Address = message.to.trim().parse().map_err(|_| {
            NotifyError::Rejected("the recipient is not a valid email address".to_owned())
        })?;
        // Header values cannot carry line breaks; lettre encodes the rest (RFC 2047).
        let subject: String = message
            .subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject)
            .message_id(None);
        match &message.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(SinglePart::plain(message.text.clone())),
        }
        .map_err(|e| NotifyError::Rejected(format!("the email cannot be built: {e}")))
    }

    fn classify(&self, error: &lettre::transport::smtp::Error) -> NotifyError {
        let server = &self.server;
        match error.status() {
            Some(code) if error.is_permanent() => {
                let code = code.to_string();
                if AUTH_FAILURE_CODES.contains(&code.as_str()) {
                    NotifyError::Unavailable(format!(
                        "SMTP server {server} refused the credentials ({code}); check notify.smtp.username and notify.smtp.password"
                    ))
                } else {
                    NotifyError::Rejected(format!(
                        "SMTP server {server} refused the message ({code})"
                    ))
                }
            }
            Some(code) => NotifyError::Unavailable(format!(
                "SMTP server {server} answered {code} (temporary failure)"
            )),
            None if error.is_timeout() => {
                NotifyError::Unavailable(format!("SMTP server {server} timed out"))
            }
            None if error.is_tls() => NotifyError::Unavailable(format!(
                "TLS with SMTP server {server} failed: {}",
                error_chain(error)
            )),
            None => {
                NotifyError::Unavailable(format!("SMTP server {server}: {}", error_chain(error)))
            }
        }
    }
}

impl Channel<EmailMessage> for SmtpSender {
    async fn deliver(&self, message: &EmailMessage) -> Result<(), NotifyError> {
        let email = self.build(message)?;
        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(self.classify(&e)),
            Err(_) => Err(NotifyError::Unavailable(format!(
                "SMTP server {} did not take the message within {} ms",
                self.server,
                self.timeout.as_millis()
            ))),
        }
    }
    fn name(&self) -> &'static str {
        "smtp"
    }
}

/// TLS settings for `host`: system roots plus the certificates of `ca_file`.
fn tls_parameters(host: &str, ca_file: &Path) -> Result<TlsParameters, NotifyError> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if !ca_file.as_os_str().is_empty() {
        let key = "notify.smtp.ca_file";
        let pem = std::fs::read_to_string(ca_file).map_err(|e| {
            NotifyError::Config(format!("{key}: cannot read {}: {e}", ca_file.display()))
        })?;
        let certificates = pem_certificates(&pem);
        if certificates.is_empty() {
            return Err(NotifyError::Config(format!(
                "{key}: {} holds no PEM certificate",
                ca_file.display()
            )));
        }
        for pem in certificates {
            let certificate = Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                NotifyError::Config(format!(
                    "{key}: {} holds an invalid certificate: {e}",
                    ca_file.display()
                ))
            })?;
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| NotifyError::Config(format!("notify.smtp.tls: cannot set up TLS: {e}")))
}

/// Each `BEGIN CERTIFICATE` … `END CERTIFICATE` block of a PEM bundle.
fn pem_certificates(pem: &str) -> Vec<&str> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        blocks.push(&rest[start..end]);
        rest = &rest[end..];
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(env: &[(&str, &str)]) -> NotifyConfig {
        Config::load_from(
            None,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap()
        .notify
    }

    #[test]
    fn pem_bundles_are_split() {
        let one = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
        let bundle = format!("# a comment\n{one}\n\n{one}\n-----BEGIN CERTIFICATE-----\ntruncated");
        assert_eq!(pem_certificates(&bundle), vec![one, one]);
        assert!(pem_certificates("nothing").is_empty());
    }

    #[test]
    fn a_missing_ca_file_names_the_key() {
        let notify = config(&[
            ("IDP__NOTIFY__EMAIL", "smtp"),
            ("IDP__NOTIFY__SMTP__HOST", "smtp.example.fr"),
            ("IDP__NOTIFY__SMTP__CA_FILE", "/nonexistent/ca.pem"),
        ]);
        let Err(NotifyError::Config(message)) = SmtpSender::from_config(&notify) else {
            panic!("a missing CA file is a configuration error");
        };
        assert!(message.contains("notify.smtp.ca_file"), "{message}");
    }

    #[test]
    fn messages_are_built_with_encoded_subjects() {
        let notify = config(&[
            ("IDP__NOTIFY__EMAIL", "smtp"),
            ("IDP__NOTIFY__SMTP__HOST", "smtp.example.fr"),
        ]);
        let sender = SmtpSender::from_config(&notify).unwrap();
        let built = sender
            .build(&EmailMessage {
                to: "marie@example.fr".into(),
                subject: "Vérifiez votre adresse\r\nBcc: x@evil.example".into(),
                text: "Code : 123456".into(),
                html: None,
            })
            .unwrap();
        let raw = String::from_utf8(built.formatted()).unwrap();
        assert!(raw.contains("To: marie@example.fr"), "{raw}");
        assert!(!raw.contains("\r\nBcc:"), "no header injection: {raw}");
        assert!(raw.contains("Subject: =?utf-8?"), "encoded subject: {raw}");
        assert!(raw.contains("Message-ID: <"), "{raw}");
        let bad = sender.build(&EmailMessage {
            to: "not an address".into(),
            subject: "x".into(),
            text: "123456".into(),
            html: None,
        });
        assert!(matches!(bad, Err(NotifyError::Rejected(m)) if !m.contains("123456")));
    }
}
