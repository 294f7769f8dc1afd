//! What a citizen reads before and around the steps: the home page (`/`,
//! the four steps, what is needed, where the app is), the help page
//! (`/aide`, the operator's `[help]` URL and contact, linked from the
//! "Besoin d'aide ?" footer every page has in `base.html`) and the QR code
//! of the app's address shown on `/compte`.
//!
//! The footer is the same static text on every page (error pages included,
//! which are rendered without the request's data), so the configurable part
//! lives on `/aide`, one click away.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpResponse, Route, web};
use askama::Template;

use crate::oidc::Provider;
use crate::oidc::types::Lang;
use crate::web::i18n::{self, Texts};
use crate::web::pages::html;

/// The address of the app's QR code (an SVG image; `img-src 'self'`).
pub const APP_QR: &str = "/compte/application.svg";

/// The guidance pages: (path, GET, POST), served by `web::routes`.
pub fn routes() -> Vec<(&'static str, Option<Route>, Option<Route>)> {
    use actix_web::web::get;
    vec![
        ("/", Some(get().to(home)), None),
        ("/aide", Some(get().to(help)), None),
        (APP_QR, Some(get().to(app_qr)), None),
    ]
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    t: &'static Texts,
}

pub async fn home(lang: Lang) -> HttpResponse {
    html(
        StatusCode::OK,
        &HomePage {
            t: i18n::texts(lang),
        },
    )
}

#[derive(Template)]
#[template(path = "help.html")]
struct HelpPage<'a> {
    t: &'static Texts,
    /// `help.url`, "" for none.
    url: &'a str,
    /// `help.contact`, "" for none.
    contact: &'a str,
}

pub async fn help(provider: web::Data<Provider>, lang: Lang) -> HttpResponse {
    let help = &provider.core.config.help;
    let page = HelpPage {
        t: i18n::texts(lang),
        url: &help.url,
        contact: &help.contact,
    };
    html(StatusCode::OK, &page)
}

/// The QR code of `<public_url>/app`, for a phone to open the app from the
/// account page seen on a computer. Public: it encodes a public address.
pub async fn app_qr(provider: web::Data<Provider>) -> HttpResponse {
    let address = format!("{}/app", provider.core.config.issuer());
    match qrcode::QrCode::new(address.as_bytes()) {
        Ok(code) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "image/svg+xml"))
            .body(
                code.render::<qrcode::render::svg::Color<'_>>()
                    .min_dimensions(200, 200)
                    .quiet_zone(true)
                    .build(),
            ),
        Err(_) => HttpResponse::NotFound().finish(),
    }
}
