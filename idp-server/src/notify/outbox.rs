//! The file outbox, the embedded default for email and SMS: one JSON file per
//! message in `notify.outbox_dir`, named `{unix_millis}-{email|sms}-{uuid}.json`
//! so that sorting names sorts messages by time. Files are created readable by
//! the server's user only (0600, directory 0700 when created here): they hold
//! codes. Each file is written under a hidden temporary name and renamed, so a
//! reader never sees half a message.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::{Channel, EmailMessage, NotifyError, SmsMessage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxKind {
    Email,
    Sms,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Email => "email",
            OutboxKind::Sms => "sms",
        }
    }
}

/// One message of the outbox, as the development page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    /// The file name: unique, and names sort chronologically.
    pub file: String,
    pub kind: OutboxKind,
    pub to: String,
    /// `None` for an SMS.
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    /// When it was written, RFC 3339 in UTC.
    pub sent_at: String,
}

/// The content of one outbox file.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    kind: OutboxKind,
    to: String,
    subject: Option<String>,
    text: String,
    html: Option<String>,
    sent_at: String,
}

/// Writes messages to a directory instead of sending them.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// Nothing is created until the first message is written.
    pub fn new(dir: &Path) -> Self {
        Outbox {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one file on the blocking pool; returns its path.
    async fn write(&self, record: Record) -> Result<PathBuf, NotifyError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || write_blocking(&dir, &record))
            .await
            .map_err(|e| NotifyError::Unavailable(format!("outbox writer stopped: {e}")))?
    }
}

impl Channel<EmailMessage> for Outbox {
    async fn deliver(&self, message: &EmailMessage) -> Result<(), NotifyError> {
        self.write(Record {
            kind: OutboxKind::Email,
            to: message.to.clone(),
            subject: Some(message.subject.clone()),
            text: message.text.clone(),
            html: message.html.clone(),
            sent_at: now_rfc3339(),
        })
        .await
        .map(drop)
    }
    fn name(&self) -> &'static str {
        "outbox"
    }
}

impl Channel<SmsMessage> for Outbox {
    async fn deliver(&self, message: &SmsMessage) -> Result<(), NotifyError> {
        self.write(Record {
            kind: OutboxKind::Sms,
            to: message.to.clone(),
            subject: None,
            text: message.text.clone(),
            html: None,
            sent_at: now_rfc3339(),
        })
        .await
        .map(drop)
    }
    fn name(&self) -> &'static str {
        "outbox"
    }
}

/// The newest `limit` messages of the outbox in `dir`, newest first. A missing
/// directory is an empty outbox; a file that cannot be read or parsed (being
/// deleted, edited by hand) is skipped with a warning.
///
/// Blocking file I/O: call it from `spawn_blocking` / `web::block` (or use
/// [`super::Notifier::recent_outbox`]).
pub fn read_outbox(dir: &Path, limit: usize) -> Result<Vec<OutboxEntry>, NotifyError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir, &e)),
    };
    let mut names: Vec<String> = listing
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| is_message_file(name))
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    let mut entries = Vec::new();
    for name in names {
        if entries.len() >= limit {
            break;
        }
        let parsed = std::fs::read(dir.join(&name))
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).map_err(|e| e.to_string()));
        match parsed {
            Ok(record) => entries.push(OutboxEntry {
                file: name,
                kind: record.kind,
                to: record.to,
                subject: record.subject,
                text: record.text,
                html: record.html,
                sent_at: record.sent_at,
            }),
            Err(error) => {
                tracing::warn!(file = %name, %error, "skipping an unreadable outbox file")
            }
        }
    }
    Ok(entries)
}

fn is_message_file(name: &str) -> bool {
    !name.starts_with('.') && name.ends_with(".json")
}

fn write_blocking(dir: &Path, record: &Record) -> Result<PathBuf, NotifyError> {
    create_private_dir(dir).map_err(|e| io_error(dir, &e))?;
    let name = format!(
        "{:013}-{}-{}.json",
        next_stamp(),
        record.kind.as_str(),
        uuid::Uuid::new_v4().simple()
    );
    let json = serde_json::to_vec_pretty(record)
        .map_err(|e| NotifyError::Unavailable(format!("outbox record: {e}")))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(&name);
    let written = create_private_file(&tmp)
        .and_then(|mut file| file.write_all(&json))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(dir, &e));
    }
    Ok(path)
}

/// Unix milliseconds, strictly increasing within this process, so that two
/// messages written in the same millisecond still sort in the order written.
fn next_stamp() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn io_error(dir: &Path, e: &std::io::Error) -> NotifyError {
    NotifyError::Unavailable(format!("outbox {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(to: &str, subject: &str) -> EmailMessage {
        EmailMessage {
            to: to.into(),
            subject: subject.into(),
            text: "Votre code : 123456".into(),
            html: Some("<p>Votre code : <b>123456</b></p>".into()),
        }
    }

    #[tokio::test]
    async fn messages_are_listed_newest_first() {
        let dir = tempfile_dir("order");
        let outbox = Outbox::new(&dir.join("nested/outbox"));
        for i in 0..5 {
            outbox
                .deliver(&email(&format!("u{i}@example.fr"), "Vérification"))
                .await
                .unwrap();
        }
        outbox
            .deliver(&SmsMessage {
                to: "+33612345678".into(),
                text: "Code \"654321\"\nSésame".into(),
            })
            .await
            .unwrap();

        let all = read_outbox(outbox.dir(), 100).unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(all[0].kind, OutboxKind::Sms);
        assert_eq!(all[0].to, "+33612345678");
        assert_eq!(all[0].text, "Code \"654321\"\nSésame");
        assert_eq!(all[0].subject, None);
        let emails: Vec<&str> = all[1..].iter().map(|e| e.to.as_str()).collect();
        assert_eq!(
            emails,
            [
                "u4@example.fr",
                "u3@example.fr",
                "u2@example.fr",
                "u1@example.fr",
                "u0@example.fr"
            ]
        );
        assert_eq!(all[1].subject.as_deref(), Some("Vérification"));
        assert_eq!(
            all[1].html.as_deref(),
            Some("<p>Votre code : <b>123456</b></p>")
        );
        assert!(chrono::DateTime::parse_from_rfc3339(&all[1].sent_at).is_ok());

        let two = read_outbox(outbox.dir(), 2).unwrap();
        assert_eq!(two, all[..2]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile_dir("perms");
        let outbox = Outbox::new(&dir.join("outbox"));
        outbox.deliver(&email("a@example.fr", "x")).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(outbox.dir()), 0o700);
        let files: Vec<_> = std::fs::read_dir(outbox.dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "no temporary file left: {files:?}");
        assert_eq!(mode(&files[0]), 0o600);
        let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.contains("-email-") && name.ends_with(".json"),
            "{name}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_empty_outbox_and_junk_is_skipped() {
        let dir = tempfile_dir("junk");
        assert!(read_outbox(&dir.join("absent"), 10).unwrap().is_empty());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("9999999999999-sms-x.json"), "{not json").unwrap();
        std::fs::write(dir.join(".0000000000001-sms-y.json.tmp"), "{}").unwrap();
        std::fs::write(dir.join("README"), "hello").unwrap();
        assert!(read_outbox(&dir, 10).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stamps_increase_strictly() {
        let stamps: Vec<u64> = (0..1000).map(|_| next_stamp()).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(format!("{:013}", stamps[0]).len(), 13);
    }

    fn tempfile_dir(label: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "idp-outbox-{label}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ))
    }
}
