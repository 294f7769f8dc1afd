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
