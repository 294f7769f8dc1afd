//! What the counter and the review pages share: the identity summary, the
//! decision form and the sentences for the verification service's refusals.

use idp_server::domain::account::RefusalCategory;
use idp_server::domain::insee;
use idp_server::verification::{Decision, Refusal};
use idp_server::views::Identity;
use serde::Deserialize;

/// The declared identity as the summary shows it (French formats).
pub struct IdentityView {
    pub family_name: String,
    pub usage_name: String,
    pub given_name: String,
    pub gender: &'static str,
    pub birthdate: String,
    pub birthplace: String,
    pub birthcountry: String,
}

impl From<&Identity> for IdentityView {
    fn from(i: &Identity) -> Self {
        let birthplace = if i.birthplace.is_empty() {
            "—".to_owned()
        } else {
            let commune = insee::commune_name(&i.birthplace).unwrap_or("");
            format!("{commune} ({})", i.birthplace)
        };
        IdentityView {
            family_name: i.family_name.clone(),
            usage_name: i.preferred_username.clone().unwrap_or_else(|| "—".into()),
            given_name: i.given_name.clone(),
            gender: if i.gender == "female" {
                "Féminin"
            } else {
                "Masculin"
            },
            birthdate: french_date(&i.birthdate),
            birthplace,
            birthcountry: insee::country_name(&i.birthcountry)
                .unwrap_or(&i.birthcountry)
                .to_owned(),
        }
    }
}

/// The declared document as the counter and review pages show it.
pub struct DocumentView {
    pub kind: &'static str,
    pub number: String,
    pub issued_on: String,
    pub expires_on: String,
}

impl DocumentView {
    pub fn new(kind: &str, number: &str, issued_on: &str, expires_on: &str) -> Self {
        DocumentView {
            kind: document_kind_label(kind),
            number: number.to_owned(),
            issued_on: french_date(issued_on),
            expires_on: french_date(expires_on),
        }
    }
}

/// `1990-04-12` → `12/04/1990`, as printed on French documents.
pub fn french_date(iso: &str) -> String {
    chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| iso.to_owned())
}

/// The decision form of the counter and of the review page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    pub decision: String,
    pub reason: String,
    /// What the citizen is told of a refusal (`RefusalCategory`); "other"
    /// when absent.
    pub category: String,
    pub check_document: String,
    pub check_photo: String,
    pub check_data: String,
    /// Counter only: the reference, the office an admin names, the place.
    pub reference: String,
    pub office: String,
    pub place: String,
    /// Review only: "yes" on the confirmation page's form.
    pub confirm: String,
    /// Review only: "yes" from the confirmation page's "back" button.
    pub back: String,
}

/// What the agent entered in the decision form, shown again with an error
/// (or kept through the reviewer's confirmation page).
#[derive(Debug, Default, Clone)]
pub struct Entered {
    pub document: bool,
    pub photo: bool,
    pub data: bool,
    pub category: String,
    pub reason: String,
    /// Counter only: the visit was at home, and the office an admin typed.
    pub home: bool,
    pub office: String,
}

impl From<&DecisionForm> for Entered {
    fn from(f: &DecisionForm) -> Self {
        Entered {
            document: f.check_document == "yes",
            photo: f.check_photo == "yes",
            data: f.check_data == "yes",
            category: f.category.clone(),
            reason: f.reason.clone(),
            home: f.place == "home",
            office: f.office.clone(),
        }
    }
}

/// What the citizen is told of a refusal, as the form's list names it.
pub fn category_label(category: &str) -> &'static str {
    match category {
        "document" => "Pièce non valable, illisible ou expirée",
        "information" => "Informations déclarées différentes de la pièce",
        "person" => "La personne ne correspond pas à la pièce",
        _ => "Autre motif",
    }
}

/// The document kind as French agents name it.
pub fn document_kind_label(kind: &str) -> &'static str {
    match kind {
        "identity_card" => "Carte nationale d'identité",
        "passport" => "Passeport",
        _ => "Titre de séjour",
    }
}

/// What the form asks for.
pub enum Asked {
    /// No decision button was used.
    Nothing,
    /// "Verified" without the three checks ticked.
    Unticked,
    Decision(Decision),
}

impl DecisionForm {
    pub fn asked(&self) -> Asked {
        let ticked = [&self.check_document, &self.check_photo, &self.check_data]
            .iter()
            .all(|c| c.as_str() == "yes");
        match self.decision.as_str() {
            "verified" if ticked => Asked::Decision(Decision::Verified),
            "verified" => Asked::Unticked,
            "rejected" => Asked::Decision(Decision::Rejected {
                category: RefusalCategory::parse(&self.category).unwrap_or(RefusalCategory::Other),
                reason: self.reason.clone(),
            }),
            _ => Asked::Nothing,
        }
    }
}

pub const UNTICKED: &str = "Cochez les trois contrôles avant de valider l'identité.";
pub const EXPIRED: &str = "Formulaire expiré : recommencez.";

pub fn refusal_text(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::ReferenceMalformed => "La référence comporte 8 caractères (lettres et chiffres).",
        Refusal::NotFound => "Aucune demande ne correspond à cette référence.",
        Refusal::Expired => "Cette référence a expiré : la personne doit refaire une demande.",
        Refusal::AlreadyDecided => "Cette référence a déjà été traitée ou annulée.",
        Refusal::WrongMethod => "Cette demande est une vérification en ligne.",
        Refusal::Role => "Votre rôle ne permet pas cette vérification.",
        Refusal::Office => "Vous ne pouvez enregistrer une vérification que pour votre bureau.",
        Refusal::ReasonRequired => "Indiquez le motif du refus.",
    }
}
