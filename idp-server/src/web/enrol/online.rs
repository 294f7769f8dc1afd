//! Online verification: photos of the document, then a short video.
//! Multipart forms: their `csrf` part is checked with `csrf::matches`.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;

use super::extract::{AccountAt, AtRemote, AtSubmitted, forged};
use super::page::{Field, HomePage, OnPage, StepPage, refused, see_other, spelled};
use crate::enrol::{self, MediaKind, MediaProblem, StepError};
use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::csrf;
use crate::web::error::{OrPage, PageError};
use crate::web::i18n::{self, Texts};

/// A multipart form: its `csrf` field and its files (name, bytes).
struct Upload {
    csrf: String,
    files: Vec<(String, Vec<u8>)>,
}

/// Reads the form; `Err` when a part is malformed or a file passes `limit`.
async fn read_upload(mut payload: Multipart, limit: usize) -> Result<Upload, ()> {
    let mut upload = Upload {
        csrf: String::new(),
        files: Vec::new(),
    };
    while let Some(item) = payload.next().await {
        let mut field = item.map_err(|_| ())?;
        let name = field.name().unwrap_or("").to_owned();
        let is_file = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .is_some();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| ())?;
            if bytes.len() + chunk.len() > limit {
                return Err(());
            }
            bytes.extend_from_slice(&chunk);
        }
        if is_file {
            upload.files.push((name, bytes));
        } else if name == "csrf" && bytes.len() <= 4096 {
            upload.csrf = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    Ok(upload)
}

fn photos_page(lang: Lang, csrf: &str, present: &[String], error: Option<String>) -> StepPage {
    let e = i18n::texts(lang).enrol;
    let mut page = StepPage::new(lang, e.photos_title, "/inscription/en-ligne/photos", csrf)
        .intro(e.photos_intro);
    page.progress = Some(e.photos_progress.to_owned());
    page.error = error;
    page.multipart = true;
    for (name, label) in [("front", e.front), ("back", e.back)] {
        let mut field = Field::input(name, label, "file", "");
        field.accept = Some("image/jpeg,image/png,application/pdf");
        if present.iter().any(|p| p == name) {
            field.hint = Some(e.photo_received.to_owned());
        }
        page = page.field(field);
    }
    page.submit(e.send_photos)
}

/// The media the collecting request already has (none when unreadable).
async fn present_media(provider: &Provider, account_id: &str) -> Vec<String> {
    match enrol::collecting_request(provider, account_id).await {
        Ok(Some(r)) => enrol::media_present(provider, &r.id)
            .await
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

pub async fn remote_get(
    provider: web::Data<Provider>,
    at: AccountAt<AtSubmitted>,
) -> Result<HttpResponse, PageError> {
    let (lang, account_id) = (at.lang(), at.account_id());
    let collecting = enrol::collecting_request(&provider, account_id);
    let Some(request) = collecting.await.or_page(lang)? else {
        return Ok(see_other("/inscription/verification"));
    };
    let present = enrol::media_present(&provider, &request.id).await;
    let present = present.or_page(lang)?;
    let has = |kind: &str| present.iter().any(|p| p == kind);
    if has("front") && has("back") {
        return Ok(see_other("/inscription/en-ligne/video"));
    }
    photos_page(lang, at.csrf(), &present, None).ok()
}

/// Stores the non-empty `front` and `back` files.
async fn store_photos(
    provider: &Provider,
    account_id: &str,
    files: Vec<(String, Vec<u8>)>,
) -> Result<(), StepError<MediaProblem>> {
    for (name, bytes) in files {
        let kind = match name.as_str() {
            "front" => MediaKind::Front,
            "back" => MediaKind::Back,
            _ => continue,
        };
        if !bytes.is_empty() {
            enrol::upload(provider, account_id, kind, bytes).await?;
        }
    }
    Ok(())
}

pub async fn photos_post(
    provider: web::Data<Provider>,
    at: AccountAt<AtSubmitted>,
    payload: Multipart,
) -> Result<HttpResponse, PageError> {
    let (lang, account_id, csrf) = (at.lang(), at.account_id(), at.csrf());
    let page = |present: &[String], error| photos_page(lang, csrf, present, Some(error));
    let upload = read_upload(payload, enrol::MAX_PHOTO_BYTES + 1).await;
    let upload = upload.map_err(|_| refused(lang, &MediaProblem::TooLarge, |e| page(&[], e)))?;
    if !csrf::matches(csrf, &upload.csrf) {
        return Ok(forged(lang));
    }
    match store_photos(&provider, account_id, upload.files).await {
        Ok(()) => Ok(see_other("/inscription/en-ligne")),
        Err(StepError::Refused(problem)) => {
            let present = present_media(&provider, account_id).await;
            Err(refused(lang, &problem, |e| page(&present, e)))
        }
        Err(StepError::Failed(e)) => Err(PageError::failure(lang, e)),
    }
}

#[derive(Template)]
#[template(path = "video.html")]
struct VideoPage {
    t: &'static Texts,
    challenge: String,
    spelled: String,
    csrf: String,
    error: Option<String>,
    /// The recorder stops by itself after this many seconds (`video.js`).
    max_seconds: u32,
    /// The same, as the timer shows it (`0:30`).
    max_clock: String,
    max_length: String,
}

fn video_page(lang: Lang, csrf: &str, challenge: &str, error: Option<String>) -> VideoPage {
    let t = i18n::texts(lang);
    let max = enrol::MAX_VIDEO_SECONDS;
    VideoPage {
        t,
        spelled: spelled(challenge),
        challenge: challenge.to_owned(),
        csrf: csrf.to_owned(),
        error,
        max_seconds: max,
        max_clock: format!("{}:{:02}", max / 60, max % 60),
        max_length: (t.guidance.video_max_length)(max),
    }
}

pub async fn video_get(
    provider: web::Data<Provider>,
    at: AccountAt<AtSubmitted>,
) -> Result<HttpResponse, PageError> {
    let collecting = enrol::collecting_request(&provider, at.account_id());
    let Some(request) = collecting.await.or_page(at.lang())? else {
        return Ok(see_other("/inscription/verification"));
    };
    let page = video_page(at.lang(), at.csrf(), &request.challenge, None);
    Ok(crate::web::pages::html(StatusCode::OK, &page))
}

/// The digits to say in the video ("" when unreadable).
async fn challenge_of(provider: &Provider, account_id: &str) -> String {
    let collecting = enrol::collecting_request(provider, account_id).await;
    collecting
        .ok()
        .flatten()
        .map(|r| r.challenge)
        .unwrap_or_default()
}

/// Stores the video and sends the complete request to the review queue.
async fn submit_video(
    provider: &Provider,
    account_id: &str,
    bytes: Vec<u8>,
) -> Result<(), StepError<MediaProblem>> {
    enrol::upload(provider, account_id, MediaKind::Video, bytes).await?;
    enrol::submit_remote(provider, account_id).await
}

pub async fn video_post(
    provider: web::Data<Provider>,
    at: AccountAt<AtSubmitted>,
    payload: Multipart,
) -> Result<HttpResponse, PageError> {
    let (lang, account_id, csrf) = (at.lang(), at.account_id(), at.csrf());
    let challenge = challenge_of(&provider, account_id).await;
    let page = |error| video_page(lang, csrf, &challenge, Some(error));
    let upload = read_upload(payload, enrol::MAX_VIDEO_BYTES + 1).await;
    let upload = upload.map_err(|_| refused(lang, &MediaProblem::TooLarge, page))?;
    if !csrf::matches(csrf, &upload.csrf) {
        return Ok(forged(lang));
    }
    let video = upload.files.into_iter().find(|(n, _)| n == "video");
    let (_, bytes) = video.ok_or_else(|| refused(lang, &MediaProblem::Empty, page))?;
    submit_video(&provider, account_id, bytes)
        .await
        .on_page(lang, page)?;
    Ok(see_other("/inscription/en-ligne/envoyee"))
}

/// The request is in the review queue: what happens next (the same words
/// as the email `enrol::submit_remote` sent).
pub async fn sent_get(at: AccountAt<AtRemote>) -> HttpResponse {
    let e = i18n::texts(at.lang()).guidance;
    let mut page = StepPage::new(at.lang(), e.video_sent_title, "", "")
        .intro(e.video_sent_intro)
        .intro(e.video_sent_next)
        .intro(e.video_sent_email);
    page.links = vec![("/compte".into(), e.video_sent_account.into())];
    crate::web::pages::html(StatusCode::OK, &HomePage { page })
}
