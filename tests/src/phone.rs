//! The eidas2 login in the browser, as a person does it: the phone page,
//! then the waiting page with the number to pick on the phone.

use crate::browser::{Browser, Page};
use crate::oidc::manual_authorize;

/// The number the waiting page shows (the person picks it on the phone).
pub fn shown_number(body: &str) -> i64 {
    let start = body
        .find("id=\"match-number\"")
        .unwrap_or_else(|| panic!("no number on the page: {body}"));
    let rest = &body[start..];
    rest[rest.find('>').expect("a tag") + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a two-digit number")
}

/// Opens `authorize_url` (an eidas2 request) in `browser` up to the phone
/// page: the request's (tx, csrf).
pub async fn open_phone_page(browser: &mut Browser, authorize_url: &str) -> (String, String) {
    let start = browser.get(authorize_url).await;
    let location = start.location.expect("a redirect to the phone page");
    assert!(location.contains("/login/telephone?tx="), "{location}");
    let form = browser.get(&location).await;
    assert_eq!(form.status, 200, "{}", form.body);
    (
        form.field("tx").expect("tx"),
        form.field("csrf").expect("csrf"),
    )
}

/// Types `phone` on the phone page of `tx`: the waiting page.
pub async fn submit_phone(browser: &mut Browser, tx: &str, csrf: &str, phone: &str) -> Page {
    let posted = browser
        .post(
            "/login/telephone",
            &[("tx", tx), ("csrf", csrf), ("phone", phone)],
        )
        .await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    let waiting = browser
        .get(posted.location.as_deref().expect("to the waiting page"))
        .await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    waiting
}

/// A browser on the phone page of a new eidas2 login of `client_id`:
/// (browser, tx, csrf).
pub async fn on_phone_page(base: &str, client_id: &str, scope: &str) -> (Browser, String, String) {
    let request = manual_authorize(base, client_id, scope, &[("acr_values", "eidas2")]);
    let mut browser = Browser::new(base);
    let (tx, csrf) = open_phone_page(&mut browser, &request.url).await;
    (browser, tx, csrf)
}

/// The same, with `phone` typed: the browser at the waiting page, with the
/// request's tx and the number shown.
pub async fn at_waiting_page(
    base: &str,
    client_id: &str,
    scope: &str,
    phone: &str,
) -> (Browser, String, i64) {
    let (mut browser, tx, csrf) = on_phone_page(base, client_id, scope).await;
    let waiting = submit_phone(&mut browser, &tx, &csrf, phone).await;
    (browser, tx, shown_number(&waiting.body))
}
