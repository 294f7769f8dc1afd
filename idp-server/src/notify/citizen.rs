//! Messages to a citizen about the security of their identity (blocked,
//! a login they reported, a refused verification, a document expiring), and their best-effort delivery: the change they
//! tell about is already written when they are sent.

use super::{EmailMessage, Notifier, SmsMessage};
use crate::domain::account::RefusalCategory;

/// What was attempted, as a fraud report tells the citizen.
pub struct Attempt<'a> {
    pub partner: &'a str,
    /// Unix seconds.
    pub at: i64,
    /// The reduced address (`203.0.113.x`), possibly empty.
    pub place: &'a str,
}

/// The identity was blocked (every device revoked).
pub fn identity_blocked(email: &str, phone: Option<&str>) -> (EmailMessage, Option<SmsMessage>) {
    let email = EmailMessage {
        to: email.to_owned(),
        subject: "Votre identité numérique Sésame est bloquée".to_owned(),
        text: "Bonjour,\n\nVotre identité numérique Sésame vient d'être bloquée : toutes vos \
               applications Sésame ont été révoquées, les connexions en cours ont été fermées et \
               aucune connexion ne peut plus être approuvée.\n\n\
               Pour la débloquer, demandez un nouveau code d'activation au guichet d'un bureau \
               de poste (avec votre pièce d'identité) ou au support, puis activez à nouveau \
               l'application.\n\n\
               Si vous n'êtes pas à l'origine de ce blocage, contactez le support.\n"
            .to_owned(),
        html: None,
    };
    let sms = phone.map(|to| SmsMessage {
        to: to.to_owned(),
        text: "Sésame : votre identité numérique est bloquée, vos applications sont révoquées. \
               Pour la débloquer : nouveau code d'activation au bureau de poste ou au support."
            .to_owned(),
    });
    (email, sms)
}

/// The citizen answered "Ce n'est pas moi" to a login request. `account_url`
/// is the citizen space (`…/compte`), where the identity can be blocked.
pub fn fraud_reported(
    email: &str,
    phone: Option<&str>,
    attempt: &Attempt<'_>,
    account_url: &str,
    approvals_paused: bool,
) -> (EmailMessage, Option<SmsMessage>) {
    let when = crate::domain::paris::format(attempt.at);
    let place = if attempt.place.is_empty() {
        "inconnue".to_owned()
    } else {
        format!("adresse {}", attempt.place)
    };
    let paused = if approvals_paused {
        "\nC'est le troisième signalement en 24 heures : les demandes de connexion à votre \
         identité sont suspendues. Connectez-vous à votre espace avec votre mot de passe pour \
         les reprendre.\n"
    } else {
        ""
    };
    let email = EmailMessage {
        to: email.to_owned(),
        subject: "Connexion refusée : « Ce n'est pas moi »".to_owned(),
        text: format!(
            "Bonjour,\n\nVous avez indiqué que cette demande de connexion ne venait pas de vous :\n\
             - service : {partner}\n- le {when} (heure de Paris)\n- depuis : {place} \
             (approximatif)\n\nLa connexion a été refusée. Quelqu'un connaît peut-être votre \
             numéro de téléphone. Si vous pensez que votre téléphone ou votre compte est \
             compromis, bloquez votre identité numérique depuis votre espace : {account_url}\n\
             {paused}",
            partner = attempt.partner,
        ),
        html: None,
    };
    let sms = phone.map(|to| SmsMessage {
        to: to.to_owned(),
        text: format!(
            "Sésame : connexion à {} refusée (« Ce n'est pas moi ») le {when}. En cas de doute, \
             bloquez votre identité : {account_url}",
            attempt.partner
        ),
    });
    (email, sms)
}

/// A clerk or a reviewer refused the verification: why, in its category,
/// and how to correct the information from the citizen space (`account_url`).
pub fn verification_refused(
    email: &str,
    phone: Option<&str>,
    category: RefusalCategory,
    account_url: &str,
) -> (EmailMessage, Option<SmsMessage>) {
    let why = category.french();
    let email = EmailMessage {
        to: email.to_owned(),
        subject: "Votre demande de vérification d'identité a été refusée".to_owned(),
        text: format!(
            "Bonjour,\n\nVotre demande de vérification d'identité Sésame a été refusée. \
             Motif : {why}.\n\n\
             Vous pouvez corriger vos informations et faire une nouvelle demande depuis votre \
             espace, rubrique « Corriger mes informations » : {account_url}\n"
        ),
        html: None,
    };
    let sms = phone.map(|to| SmsMessage {
        to: to.to_owned(),
        text: format!(
            "Sésame : vérification d'identité refusée ({why}). Corrigez vos informations : \
             {account_url}"
        ),
    });
    (email, sms)
}

/// The online verification request (photos and video) is in the review
/// queue: what happens next, in the words of its confirmation page.
pub fn remote_submitted(email: &str, account_url: &str) -> EmailMessage {
    EmailMessage {
        to: email.to_owned(),
        subject: "Votre demande de vérification en ligne est envoyée".to_owned(),
        text: format!(
            "Bonjour,\n\nNous avons bien reçu les photos de votre pièce d'identité et votre \
             vidéo. Un agent les examine, généralement sous 24 heures.\n\n\
             Une fois votre identité vérifiée, vous recevrez par SMS le code d'activation de \
             l'application Sésame. Si la vérification n'aboutit pas, nous vous dirons pourquoi \
             et comment corriger votre demande.\n\n\
             Suivre votre demande : {account_url}\n"
        ),
        html: None,
    }
}

/// The identity document expires on `expires_on` (`YYYY-MM-DD`): sent once,
/// some 30 days before, by `idp-admin accounts expiring --notify`.
pub fn document_expiring(email: &str, expires_on: &str, account_url: &str) -> EmailMessage {
    let day = chrono::NaiveDate::parse_from_str(expires_on, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| expires_on.to_owned());
    EmailMessage {
        to: email.to_owned(),
        subject: "Votre pièce d'identité arrive à expiration".to_owned(),
        text: format!(
            "Bonjour,\n\nLa pièce d'identité vérifiée pour votre identité numérique Sésame \
             expire le {day}. Après cette date, l'application Sésame ne pourra plus approuver \
             vos connexions : la connexion avec votre adresse électronique et votre mot de \
             passe restera possible.\n\n\
             Pour continuer à utiliser l'application, faites vérifier une pièce en cours de \
             validité. Votre espace vous indique la marche à suivre : {account_url}\n"
        ),
        html: None,
    }
}

/// Sends the email and the SMS; a failure is logged (never the text).
pub async fn send(
    notifier: &Notifier,
    kind: &str,
    (email, sms): (EmailMessage, Option<SmsMessage>),
) {
    if let Err(e) = notifier.send_email(&email).await {
        tracing::warn!(error = %e, kind, "could not send the email");
    }
    if let Some(sms) = sms
        && let Err(e) = notifier.send_sms(&sms).await
    {
        tracing::warn!(error = %e, kind, "could not send the SMS");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fraud_report_says_what_where_and_when() {
        let attempt = Attempt {
            partner: "Impots",
            at: 1_796_293_200, // 2026-12-03T10:20:00Z
            place: "203.0.113.x",
        };
        let (email, sms) = fraud_reported(
            "a@example.fr",
            Some("+33612345678"),
            &attempt,
            "https://sesame.example/compte",
            false,
        );
        assert!(email.text.contains("Impots"));
        assert!(email.text.contains("03/12/2026 11:20"), "{}", email.text);
        assert!(email.text.contains("203.0.113.x"));
        assert!(email.text.contains("https://sesame.example/compte"));
        assert!(!email.text.contains("suspendues"));
        let sms = sms.unwrap();
        assert_eq!(sms.to, "+33612345678");
        assert!(sms.text.contains("Impots"));
        let (email, _) = fraud_reported("a@example.fr", None, &attempt, "u", true);
        assert!(email.text.contains("suspendues"));
    }
}
