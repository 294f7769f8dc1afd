//! SMS through an HTTP gateway: one POST per message to `notify.sms_http.url`
//! with an optional authentication header and a JSON body made from
//! `notify.sms_http.body_template`.
//!
//! The template is parsed as JSON once; in every string of it (at any depth),
//! `{{to}}` and `{{text}}` are replaced by the values, and the body is then
//! serialised, so quotes, backslashes and line breaks in a text always give
//! valid JSON. Redirects are not followed.
//!
//! 2xx: sent. 408, 429, 5xx, timeouts and connection failures: `Unavailable`.
//! Other 4xx: `Rejected`. The gateway's answer is not read (it may echo the
//! text); errors name the gateway without its query string.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use url::Url;

use super::{Channel, NotifyError, SmsMessage, error_chain};
use crate::config::{SmsHttpConfig, gateway_for_logs};

pub struct HttpSms {
    client: reqwest::Client,
    url: Url,
    auth: Option<(HeaderName, HeaderValue)>,
    template: Value,
    timeout: Duration,
    /// The URL without query or user information, for errors.
    gateway: String,
}

impl HttpSms {
    pub fn from_config(config: &SmsHttpConfig) -> Result<Self, NotifyError> {
        let config_error = |e: crate::config::ConfigError| NotifyError::Config(e.to_string());
        let url = config.url().map_err(config_error)?;
        let auth = config.auth_header_parts().map_err(config_error)?;
        let template = config.body_template_json().map_err(config_error)?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout())
            .connect_timeout(config.timeout())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                NotifyError::Config(format!(
                    "notify.sms_http: cannot build the HTTP client: {}",
                    error_chain(&e)
                ))
            })?;
        Ok(HttpSms {
            client,
            gateway: gateway_for_logs(url.as_str()),
            url,
            auth,
            template,
            timeout: config.timeout(),
        })
    }

    fn status_outcome(&self, status: StatusCode) -> Result<(), NotifyError> {
        let gateway = &self.gateway;
        let code = status.as_u16();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
        {
            Err(NotifyError::Unavailable(format!(
                "SMS gateway {gateway} answered HTTP {code}"
            )))
        } else if status.is_client_error() {
            Err(NotifyError::Rejected(format!(
                "SMS gateway {gateway} refused the message (HTTP {code})"
            )))
        } else {
            Err(NotifyError::Unavailable(format!(
                "SMS gateway {gateway} answered HTTP {code} (redirects are not followed: check notify.sms_http.url)"
            )))
        }
    }
}

impl Channel<SmsMessage> for HttpSms {
    async fn deliver(&self, message: &SmsMessage) -> Result<(), NotifyError> {
        let body = render_body(&self.template, &message.to, &message.text);
        let mut request = self.client.post(self.url.clone()).json(&body);
        if let Some((name, value)) = &self.auth {
            request = request.header(name.clone(), value.clone());
        }
        let response = request.send().await.map_err(|e| {
            let e = e.without_url();
            if e.is_timeout() {
                NotifyError::Unavailable(format!(
                    "SMS gateway {} did not answer within {} ms",
                    self.gateway,
                    self.timeout.as_millis()
                ))
            } else {
                NotifyError::Unavailable(format!(
                    "SMS gateway {}: {}",
                    self.gateway,
                    error_chain(&e)
                ))
            }
        })?;
        self.status_outcome(response.status())
    }
    fn name(&self) -> &'static str {
        "http"
    }
}

/// The request body: `template` with `{{to}}` and `{{text}}` replaced in every
/// string value (object keys are left alone).
pub fn render_body(template: &Value, to: &str, text: &str) -> Value {
    match template {
        Value::String(s) => Value::String(fill(s, to, text)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| render_body(item, to, text))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_body(v, to, text)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replaces the placeholders in one pass, so a text that itself contains
/// `{{to}}` is sent as written.
fn fill(template: &str, to: &str, text: &str) -> String {
    let mut out = String::with_capacity(template.len() + to.len() + text.len());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{to}}") {
            out.push_str(to);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{{text}}") {
            out.push_str(text);
            rest = after;
        } else {
            out.push_str("{{");
            rest = &tail[2..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tricky_texts_give_valid_json() {
        let template: Value = serde_json::from_str(
            r#"{"messages": [{"to": "{{to}}", "body": "Sésame : {{text}}"}], "sender": "SESAME", "n": 1, "flash": false}"#,
        )
        .unwrap();
        let text = "Code \"123456\"\\ ligne 1\nligne 2\t{{to}} {{nope}} </script> \u{0}é";
        let body = render_body(&template, "+33612345678", text);
        assert_eq!(
            body,
            json!({
                "messages": [{"to": "+33612345678", "body": format!("Sésame : {text}")}],
                "sender": "SESAME",
                "n": 1,
                "flash": false
            })
        );
        let wire = serde_json::to_string(&body).unwrap();
        let back: Value = serde_json::from_str(&wire).unwrap();
        assert_eq!(back["messages"][0]["body"], format!("Sésame : {text}"));
    }

    #[test]
    fn placeholders_are_replaced_once() {
        assert_eq!(fill("{{to}}/{{text}}", "+33", "{{to}}"), "+33/{{to}}");
        assert_eq!(fill("{{text}}{{text}}", "", "ab"), "abab");
        assert_eq!(fill("{{ {{x}} {{", "", ""), "{{ {{x}} {{");
        assert_eq!(fill("", "a", "b"), "");
    }

    #[test]
    fn statuses_are_classified() {
        let config = crate::config::Config::load_from(
            None,
            [
                ("IDP__NOTIFY__SMS".to_owned(), "http".to_owned()),
                (
                    "IDP__NOTIFY__SMS_HTTP__URL".to_owned(),
                    "http://gw.example/sms?api_key=s3cret".to_owned(),
                ),
            ],
        )
        .unwrap();
        let sms = HttpSms::from_config(&config.notify.sms_http).unwrap();
        assert!(sms.status_outcome(StatusCode::OK).is_ok());
        assert!(sms.status_outcome(StatusCode::ACCEPTED).is_ok());
        for status in [502, 503, 408, 429, 302] {
            let outcome = sms.status_outcome(StatusCode::from_u16(status).unwrap());
            assert!(
                matches!(outcome, Err(NotifyError::Unavailable(_))),
                "{status}"
            );
        }
        for status in [400, 401, 404, 422] {
            let outcome = sms.status_outcome(StatusCode::from_u16(status).unwrap());
            let Err(NotifyError::Rejected(message)) = outcome else {
                panic!("{status} is a refusal");
            };
            assert!(message.contains("http://gw.example/sms"), "{message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
    }
}
