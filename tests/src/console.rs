//! Helpers of the agents' console tests.

use crate::browser::Browser;

/// A new password the policy accepts, for tests.
pub const NEW_PASSWORD: &str = "Tournesol-Lyon-2026!";

/// Right after password + TOTP, the console sends an agent created with an
/// initial password to `/mon-compte` and opens nothing else. This goes
/// through that page: the initial password is replaced by [`NEW_PASSWORD`],
/// then set back through "Mon compte", so callers keep logging in with the
/// initial one. Does nothing for an agent who already changed it.
pub async fn replace_initial_password(console: &mut Browser, initial: &str) {
    let home = console.get("/").await;
    if !home
        .location
        .as_deref()
        .is_some_and(|l| l.ends_with("/mon-compte"))
    {
        return;
    }
    for (current, new) in [(initial, NEW_PASSWORD), (NEW_PASSWORD, initial)] {
        let page = console.get("/mon-compte").await;
        let csrf = page.field("csrf").expect("the password form");
        let done = console
            .post(
                "/mon-compte",
                &[
                    ("csrf", &csrf),
                    ("current", current),
                    ("new", new),
                    ("confirm", new),
                ],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Mot de passe changé"), "{}", done.body);
    }
}

/// Logs a newly created agent in: password, enrolment of a TOTP code (read
/// from the enrolment page), then [`replace_initial_password`]. Afterwards
/// every page the agent's role opens is reachable.
pub async fn log_in_new_agent(console: &mut Browser, username: &str, password: &str) {
    let (_, csrf) = crate::enrolment::form(console, "/connexion").await;
    let page = console
        .post(
            "/connexion",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await;
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.ends_with("/totp")),
        "{}",
        page.body
    );
    let totp = console.get("/totp").await;
    let csrf = totp.field("csrf").expect("the TOTP enrolment form");
    let start = totp
        .body
        .find("<code id=\"totp-secret\">")
        .expect("the TOTP secret")
        + 23;
    let end = start + totp.body[start..].find('<').expect("the end of the secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    let code =
        idp_server::agents::totp::code_for(&totp.body[start..end], now).expect("a TOTP code");
    let page = console
        .post("/totp", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    replace_initial_password(console, password).await;
}
