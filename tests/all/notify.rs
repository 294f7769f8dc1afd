//! Notifications against real servers: SMTP delivery to aiosmtpd (a real SMTP
//! server, run from the tests' Python venv by tests/scripts/smtp-sink.sh;
//! plain, STARTTLS with a certificate it generates, AUTH, refusals), SMS to
//! an HTTP gateway started here (actix-web on port 0), and the file outbox,
//! including the one a running server is configured with.
//!
//! Every configuration goes through `Config::load_from` with `IDP__NOTIFY__…`
//! variables, so the environment overrides of the nested tables are exercised
//! too.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use idp_server::config::{Config, NotifyConfig};
use idp_server::notify::{
    EmailMessage, Notifier, NotifyError, OutboxKind, SmsMessage, read_outbox,
};
use idp_tests::{Backend, TestEnv, eventually};
use serde_json::{Value, json};

const SINK_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/smtp-sink.sh");
/// Generous: the first run may create the venv and install from PyPI.
const SINK_START_TIMEOUT: Duration = Duration::from_secs(600);
const CODE: &str = "482913";

fn notify_config(vars: &[(&str, &str)]) -> NotifyConfig {
    let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::load_from(None, env)
        .unwrap_or_else(|e| panic!("test configuration {vars:?}: {e}"))
        .notify
}

fn smtp_config(port: u16, extra: &[(&str, &str)]) -> NotifyConfig {
    let port = port.to_string();
    let mut vars = vec![
        ("IDP__NOTIFY__EMAIL", "smtp"),
        ("IDP__NOTIFY__SMTP__HOST", "127.0.0.1"),
        ("IDP__NOTIFY__SMTP__PORT", port.as_str()),
        ("IDP__NOTIFY__SMTP__TIMEOUT_MS", "10000"),
        ("IDP__NOTIFY__FROM", "Sésame <ne-pas-repondre@sesame.test>"),
    ];
    vars.extend_from_slice(extra);
    notify_config(&vars)
}

fn verification_email(to: &str) -> EmailMessage {
    EmailMessage {
        to: to.to_owned(),
        subject: "Vérifiez votre adresse électronique — Sésame".to_owned(),
        text: format!(
            "Bonjour,\n\nVotre code de vérification : {CODE}\n\nIl expire dans 15 minutes. « Ne le communiquez à personne. »"
        ),
        html: Some(format!(
            "<p>Votre code de vérification : <strong>{CODE}</strong></p>"
        )),
    }
}

/// Normalises the line endings the parser kept (SMTP uses CRLF).
fn lines(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_default()
        .replace("\r\n", "\n")
        .trim_end()
        .to_owned()
}

fn assert_secret_free(error: &NotifyError, secrets: &[&str]) {
    let line = error.to_string();
    for secret in secrets {
        assert!(!line.contains(secret), "{secret:?} leaked into: {line}");
    }
}

/// aiosmtpd, listening on a free port of 127.0.0.1 until dropped.
struct SmtpSink {
    port: u16,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl SmtpSink {
    async fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("sink.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = tokio::process::Command::new(SINK_SCRIPT)
            .arg("--dir")
            .arg(dir.path().join("mail"))
            .args(args)
            // The sink stops when its stdin closes, even if this process is killed.
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {SINK_SCRIPT}: {e}"));
        let deadline = tokio::time::Instant::now() + SINK_START_TIMEOUT;
        loop {
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(port) = output
                .lines()
                .find_map(|l| l.strip_prefix("READY "))
                .and_then(|p| p.trim().parse().ok())
            {
                return SmtpSink {
                    port,
                    dir,
                    _child: child,
                };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{SINK_SCRIPT} exited ({status}) before listening:\n{output}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{SINK_SCRIPT} did not listen within {SINK_START_TIMEOUT:?}:\n{output}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// The sink's record of the `n`-th message it accepted (1-based).
    async fn message(&self, n: usize) -> Value {
        let path = self.mail_dir().join(format!("{n}.json"));
        let arrived = eventually(Duration::from_secs(10), || {
            let path = path.clone();
            async move { path.exists() }
        })
        .await;
        assert!(
            arrived,
            "message {n} never reached the sink:\n{}",
            self.log()
        );
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    fn accepted(&self) -> usize {
        std::fs::read_dir(self.mail_dir())
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sink.log")).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_delivers_to_a_real_server() {
    let sink = SmtpSink::start(&[]).await;
    let notifier = Notifier::from_config(&smtp_config(
        sink.port,
        &[("IDP__NOTIFY__SMTP__TLS", "none")],
    ))
    .unwrap();
    assert_eq!(notifier.channels().0, "smtp");
    assert_eq!(
        notifier.outbox_dir(),
        Some(Path::new("data/outbox")),
        "SMS still go to the outbox"
    );

    let message = verification_email("marie.durand@example.fr");
    notifier.send_email(&message).await.unwrap();
    let got = sink.message(1).await;
    assert_eq!(got["rcpt_tos"], json!(["marie.durand@example.fr"]), "{got}");
    assert_eq!(got["mail_from"], "ne-pas-repondre@sesame.test", "{got}");
    assert_eq!(got["to"], "marie.durand@example.fr", "{got}");
    assert_eq!(got["from"], "Sésame <ne-pas-repondre@sesame.test>", "{got}");
    assert_eq!(got["subject"], message.subject, "decoded subject: {got}");
    assert_eq!(got["content_type"], "multipart/alternative", "{got}");
    assert_eq!(lines(&got["text"]), message.text, "{got}");
    assert_eq!(
        lines(&got["html"]),
        message.html.clone().unwrap_or_default(),
        "{got}"
    );
    assert_eq!(got["tls"], false);
    assert_eq!(got["auth_login"], Value::Null);

    let plain = EmailMessage {
        html: None,
        ..verification_email("jean@example.fr")
    };
    notifier.send_email(&plain).await.unwrap();
    let got = sink.message(2).await;
    assert_eq!(got["content_type"], "text/plain", "{got}");
    assert_eq!(lines(&got["text"]), plain.text, "{got}");
    assert_eq!(got["html"], Value::Null);

    // The server refuses the recipient for good (550): Rejected, no leak.
    let refused = notifier
        .send_email(&verification_email("rejected.user@example.fr"))
        .await
        .unwrap_err();
    assert!(matches!(refused, NotifyError::Rejected(_)), "{refused}");
    assert!(refused.to_string().contains("550"), "{refused}");
    assert_secret_free(&refused, &[CODE, "rejected.user"]);

    // tls = "starttls" is required, not opportunistic: this server has no STARTTLS.
    let strict = Notifier::from_config(&smtp_config(
        sink.port,
        &[("IDP__NOTIFY__SMTP__TLS", "starttls")],
    ))
    .unwrap();
    let err = strict
        .send_email(&verification_email("marie.durand@example.fr"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err}");
    assert_secret_free(&err, &[CODE]);
    assert_eq!(sink.accepted(), 2, "nothing sent in plain text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_starttls_with_authentication() {
    const PASSWORD: &str = "correct horse battery";
    let sink = SmtpSink::start(&["--starttls", "--auth", &format!("sesame:{PASSWORD}")]).await;
    // The sink writes its self-signed certificate (for 127.0.0.1) before listening.
    let ca = sink.mail_dir().join("cert.pem");
    let ca = ca.to_str().unwrap();
    let tls = |mode: &str, password: &str, ca_file: &str| {
        smtp_config(
            sink.port,
            &[
                ("IDP__NOTIFY__SMTP__TLS", mode),
                ("IDP__NOTIFY__SMTP__USERNAME", "sesame"),
                ("IDP__NOTIFY__SMTP__PASSWORD", password),
                ("IDP__NOTIFY__SMTP__CA_FILE", ca_file),
            ],
        )
    };

    let notifier = Notifier::from_config(&tls("starttls", PASSWORD, ca)).unwrap();
    let message = verification_email("marie.durand@example.fr");
    notifier.send_email(&message).await.unwrap();
    let got = sink.message(1).await;
    assert_eq!(got["tls"], true, "delivered over STARTTLS: {got}");
    assert_eq!(got["auth_login"], "sesame", "{got}");
    assert_eq!(got["subject"], message.subject, "{got}");
    assert_eq!(lines(&got["text"]), message.text, "{got}");

    // A wrong password: the operator's problem (Unavailable), and no secret in the error.
    let wrong = Notifier::from_config(&tls("starttls", "wrong-Pa55word", ca)).unwrap();
    let err = wrong.send_email(&message).await.unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("535"), "{err}");
    assert_secret_free(&err, &["wrong-Pa55word", PASSWORD, CODE]);

    // Without the CA file the self-signed certificate is not trusted.
    let untrusting = Notifier::from_config(&tls("starttls", PASSWORD, "")).unwrap();
    let err = untrusting.send_email(&message).await.unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err}");
    assert_secret_free(&err, &[PASSWORD, CODE]);

    // Implicit TLS against a server that speaks plain text first.
    let implicit = Notifier::from_config(&tls("tls", PASSWORD, ca)).unwrap();
    let err = implicit.send_email(&message).await.unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err}");

    assert_eq!(sink.accepted(), 1, "only the first message was delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_outages_are_unavailable() {
    // Nobody listens: connection refused.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let notifier =
        Notifier::from_config(&smtp_config(port, &[("IDP__NOTIFY__SMTP__TLS", "none")])).unwrap();
    let err = notifier
        .send_email(&verification_email("marie@example.fr"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err}");

    // A server that accepts the connection but never greets: the time limit applies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let notifier = Notifier::from_config(&smtp_config(
        port,
        &[
            ("IDP__NOTIFY__SMTP__TLS", "none"),
            ("IDP__NOTIFY__SMTP__TIMEOUT_MS", "500"),
        ],
    ))
    .unwrap();
    let started = std::time::Instant::now();
    let err = notifier
        .send_email(&verification_email("marie@example.fr"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    drop(silent);
}

/// One request as the gateway saw it.
#[derive(Debug, Clone)]
struct Captured {
    method: String,
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// An SMS gateway on a free port: `/v1/sms` accepts (202), `/down` answers 503,
/// `/bad` 400, `/slow` answers after 5 s. Returns its base URL and what it saw.
fn start_gateway() -> (String, Arc<Mutex<Vec<Captured>>>) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let captured = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&captured);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let seen = Arc::clone(&seen);
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                seen.lock().unwrap().push(Captured {
                    method: req.method().to_string(),
                    path: req.uri().to_string(),
                    authorization: header("authorization"),
                    content_type: header("content-type"),
                    body: body.to_vec(),
                });
                match req.path() {
                    "/v1/sms" => HttpResponse::Accepted().json(json!({"id": "msg-1"})),
                    "/down" => HttpResponse::ServiceUnavailable().finish(),
                    // A gateway that echoes the text back: it must not reach the error.
                    "/bad" => HttpResponse::BadRequest().body(body.to_vec()),
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        HttpResponse::Ok().finish()
                    }
                    _ => HttpResponse::NotFound().finish(),
                }
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), captured)
}

fn sms_notifier(url: &str, extra: &[(&str, &str)]) -> Notifier {
    let mut vars = vec![
        ("IDP__NOTIFY__SMS", "http"),
        ("IDP__NOTIFY__SMS_HTTP__URL", url),
        (
            "IDP__NOTIFY__SMS_HTTP__AUTH_HEADER",
            "Authorization: Bearer gw-t0ken: with colon",
        ),
        (
            "IDP__NOTIFY__SMS_HTTP__BODY_TEMPLATE",
            r#"{"messages": [{"to": "{{to}}", "body": "{{text}}"}], "sender": "SESAME", "options": {"flash": false}}"#,
        ),
    ];
    vars.extend_from_slice(extra);
    Notifier::from_config(&notify_config(&vars)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_go_through_an_http_gateway() {
    let (base, captured) = start_gateway();
    let notifier = sms_notifier(&format!("{base}/v1/sms?route=fr"), &[]);
    assert_eq!(notifier.channels().1, "http");
    let text = format!(
        "Sésame : votre code est {CODE}.\nNe le donnez à personne, même \"au support\" \\ {{{{to}}}}"
    );
    let message = SmsMessage {
        to: "+33612345678".to_owned(),
        text: text.clone(),
    };
    notifier.send_sms(&message).await.unwrap();

    let request = captured.lock().unwrap().last().cloned().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/sms?route=fr");
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer gw-t0ken: with colon"),
        "split at the first colon"
    );
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body)
        .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {:?}", request.body));
    assert_eq!(
        body,
        json!({
            "messages": [{"to": "+33612345678", "body": text}],
            "sender": "SESAME",
            "options": {"flash": false}
        })
    );

    // 503: try later. 400: refused for good. Neither error carries a secret.
    let down = sms_notifier(&format!("{base}/down"), &[])
        .send_sms(&message)
        .await
        .unwrap_err();
    assert!(matches!(down, NotifyError::Unavailable(_)), "{down}");
    assert!(down.to_string().contains("503"), "{down}");
    let bad = sms_notifier(&format!("{base}/bad?api_key=q-s3cret"), &[])
        .send_sms(&message)
        .await
        .unwrap_err();
    assert!(matches!(bad, NotifyError::Rejected(_)), "{bad}");
    assert!(bad.to_string().contains("400"), "{bad}");
    for err in [&down, &bad] {
        assert_secret_free(err, &[CODE, "gw-t0ken", "q-s3cret", "+33612345678"]);
    }

    // A gateway slower than the time limit.
    let slow = sms_notifier(
        &format!("{base}/slow"),
        &[("IDP__NOTIFY__SMS_HTTP__TIMEOUT_MS", "300")],
    );
    let started = std::time::Instant::now();
    let err = slow.send_sms(&message).await.unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(4), "{err}");

    // No gateway at all.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = sms_notifier(&format!("http://127.0.0.1:{port}/sms"), &[])
        .send_sms(&message)
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err}");
    assert_secret_free(&err, &[CODE, "gw-t0ken"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_keeps_every_message_for_the_dev_page() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let notifier = Notifier::from_config(&notify_config(&[(
        "IDP__NOTIFY__OUTBOX_DIR",
        outbox.to_str().unwrap(),
    )]))
    .unwrap();
    assert_eq!(notifier.channels(), ("outbox", "outbox"));
    assert_eq!(notifier.outbox_dir(), Some(outbox.as_path()));
    assert!(notifier.recent_outbox(10).await.unwrap().is_empty());

    let email = verification_email("marie.durand@example.fr");
    notifier.send_email(&email).await.unwrap();
    let sms = SmsMessage {
        to: "+33612345678".to_owned(),
        text: format!("Code Sésame : {CODE}"),
    };
    notifier.send_sms(&sms).await.unwrap();

    let entries = read_outbox(&outbox, 10).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].kind, OutboxKind::Sms, "newest first");
    assert_eq!(entries[0].to, sms.to);
    assert_eq!(entries[0].text, sms.text);
    assert_eq!(entries[1].kind, OutboxKind::Email);
    assert_eq!(entries[1].to, email.to);
    assert_eq!(entries[1].subject.as_deref(), Some(email.subject.as_str()));
    assert_eq!(entries[1].text, email.text);
    assert_eq!(entries[1].html, email.html);
    assert_eq!(notifier.recent_outbox(1).await.unwrap(), entries[..1]);

    // The files are the documented JSON, one per message.
    let file: Value =
        serde_json::from_slice(&std::fs::read(outbox.join(&entries[1].file)).unwrap()).unwrap();
    assert_eq!(file["kind"], "email");
    assert_eq!(file["to"], "marie.durand@example.fr");
    assert_eq!(file["subject"], email.subject);
    assert!(file["sent_at"].as_str().is_some_and(|s| s.ends_with('Z')));
    // The dev page can serialise entries as they are.
    let shown = serde_json::to_value(&entries[0]).unwrap();
    assert_eq!(shown["kind"], "sms");
}

/// The server's `Core` carries the notifier built from its configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_core_sends_through_the_configured_outbox() {
    let env = TestEnv::new(Backend::Embedded);
    let mut config = env.config();
    let outbox = env.dir.path().join("outbox");
    config.notify.outbox_dir = outbox.clone();
    let app = env.spawn_with(config).await;
    assert_eq!(app.core.notifier.outbox_dir(), Some(outbox.as_path()));
    app.core
        .notifier
        .send_sms(&SmsMessage {
            to: "+33712345678".to_owned(),
            text: format!("Votre code : {CODE}"),
        })
        .await
        .unwrap();
    let entries = read_outbox(Path::new(&outbox), 10).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].to, "+33712345678");
    app.stop().await;
}
