//! The generic step page every enrolment form is drawn on, and the helpers
//! that show a refusal on it.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::enrol::StepError;
use crate::oidc::types::Lang;
use crate::web::error::{PageError, UserFacing};
use crate::web::i18n::{self, Texts};
use crate::web::pages::html;

pub enum FieldKind {
    Input(&'static str),
    Checkbox,
    Radio(Vec<(String, String)>),
    Select(Vec<(String, String)>),
}

pub struct Field {
    pub name: &'static str,
    pub label: String,
    pub kind: FieldKind,
    pub value: String,
    pub error: Option<String>,
    pub hint: Option<String>,
    pub autocomplete: &'static str,
    pub numeric: bool,
    pub accept: Option<&'static str>,
    /// Where `static/suggest.js` asks for suggestions as the person types
    /// (a `<datalist>`; without JavaScript the form's own search answers).
    pub suggest: Option<&'static str>,
}

impl Field {
    pub(crate) fn input(
        name: &'static str,
        label: &str,
        input_type: &'static str,
        value: &str,
    ) -> Self {
        Field {
            name,
            label: label.to_owned(),
            kind: FieldKind::Input(input_type),
            value: value.to_owned(),
            error: None,
            hint: None,
            autocomplete: "",
            numeric: false,
            accept: None,
            suggest: None,
        }
    }
    /// A field of another kind (checkbox, radio buttons, list).
    pub(crate) fn of(mut self, kind: FieldKind) -> Self {
        self.kind = kind;
        self
    }
    /// Passwords and files are never sent back to the browser.
    pub fn keeps_value(&self) -> bool {
        !matches!(self.kind, FieldKind::Input("password" | "file"))
    }
    pub(crate) fn hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_owned());
        self
    }
    pub(crate) fn autocomplete(mut self, value: &'static str) -> Self {
        self.autocomplete = value;
        self
    }
    pub(crate) fn suggest(mut self, url: &'static str) -> Self {
        self.suggest = Some(url);
        self
    }
    pub(crate) fn numeric(mut self) -> Self {
        self.numeric = true;
        self
    }
    pub(crate) fn error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }
}

#[derive(Template)]
#[template(path = "step.html")]
pub struct StepPage {
    pub t: &'static Texts,
    pub title: String,
    pub progress: Option<String>,
    pub intro: Vec<String>,
    /// A calm notice (not an error), read out by screen readers: the
    /// seconds before a new code can be asked for.
    pub notice: Option<String>,
    pub error: Option<String>,
    pub summary: Vec<(String, String)>,
    pub action: String,
    pub csrf: String,
    pub multipart: bool,
    pub fields: Vec<Field>,
    /// (name, value, label) of submit buttons; the first is the main action.
    pub buttons: Vec<(String, String, String)>,
    /// Other POST actions on the page: (action, label).
    pub secondary: Vec<(String, String)>,
    pub links: Vec<(String, String)>,
}

impl StepPage {
    /// How many fields are flagged: with more than one, the summary at the
    /// top lists each as a link to its field (the input, or the group of
    /// radio buttons).
    pub fn fields_in_error(&self) -> usize {
        self.fields.iter().filter(|f| f.error.is_some()).count()
    }
    /// Whether a field takes suggestions (the page then loads the script).
    pub fn suggests(&self) -> bool {
        self.fields.iter().any(|f| f.suggest.is_some())
    }
    pub(crate) fn new(lang: Lang, title: &str, action: &str, csrf: &str) -> Self {
        StepPage {
            t: i18n::texts(lang),
            title: title.to_owned(),
            progress: None,
            intro: Vec::new(),
            notice: None,
            error: None,
            summary: Vec::new(),
            action: action.to_owned(),
            csrf: csrf.to_owned(),
            multipart: false,
            fields: Vec::new(),
            buttons: Vec::new(),
            secondary: Vec::new(),
            links: Vec::new(),
        }
    }
    /// "Step n of 11".
    pub(crate) fn step(mut self, n: u8) -> Self {
        self.progress = Some((self.t.enrol.step_of)(n));
        self
    }
    pub(crate) fn intro(mut self, line: &str) -> Self {
        self.intro.push(line.to_owned());
        self
    }
    pub(crate) fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }
    pub(crate) fn submit(mut self, label: &str) -> Self {
        self.buttons
            .push((String::new(), String::new(), label.to_owned()));
        self
    }
    pub(crate) fn render(self, status: StatusCode) -> HttpResponse {
        html(status, &self)
    }
    pub(crate) fn ok(self) -> Result<HttpResponse, PageError> {
        Ok(self.render(StatusCode::OK))
    }
}

/// The home page: the step layout without a form.
#[derive(Template)]
#[template(
    source = r#"{% extends "base.html" %}{% block title %}Sésame{% endblock %}{% block content %}<h1>{{ page.title }}</h1>{% for line in page.intro %}<p>{{ line }}</p>{% endfor %}<ul>{% for (href, label) in page.links %}<li><a href="{{ href }}">{{ label }}</a></li>{% endfor %}</ul>{% endblock %}"#,
    ext = "html"
)]
pub struct HomePage {
    pub(crate) page: StepPage,
}

impl std::ops::Deref for HomePage {
    type Target = StepPage;
    fn deref(&self) -> &StepPage {
        &self.page
    }
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

/// `refusal` shown on the step's own page: `page` builds it around the
/// message; the status and `Retry-After` come from the refusal.
pub(crate) fn refused<P: Template>(
    lang: Lang,
    refusal: &impl UserFacing,
    page: impl FnOnce(String) -> P,
) -> PageError {
    let message = refusal.message(i18n::texts(lang));
    PageError::page(
        lang,
        refusal.status(),
        &page(message),
        refusal.retry_after(),
    )
}

/// A step's outcome on a page handler: a refusal shown on the step's page
/// ([`refused`]), an infrastructure failure as the 503/500 page.
pub(crate) trait OnPage<T> {
    fn on_page<P: Template>(
        self,
        lang: Lang,
        page: impl FnOnce(String) -> P,
    ) -> Result<T, PageError>;
}

impl<T, R: UserFacing> OnPage<T> for Result<T, StepError<R>> {
    fn on_page<P: Template>(
        self,
        lang: Lang,
        page: impl FnOnce(String) -> P,
    ) -> Result<T, PageError> {
        self.map_err(|e| match e {
            StepError::Refused(refusal) => refused(lang, &refusal, page),
            StepError::Failed(e) => PageError::failure(lang, e),
        })
    }
}

/// What a refusal of a new code says about the one-minute cooldown.
pub(crate) trait Cooldown {
    /// The seconds before a new code may be sent, if that is the refusal.
    fn cooldown(&self) -> Option<u64>;
}

impl Cooldown for crate::enrol::otp::SendRefusal {
    fn cooldown(&self) -> Option<u64> {
        match *self {
            Self::Cooldown { retry_after } => Some(retry_after),
            Self::HourlyCap { .. } => None,
        }
    }
}

/// "Renvoyer un code" on a code page: `Ok(Some(redirect))` when a code
/// went (303 to `sent`), the code page again (200) with the seconds left as
/// a notice while the cooldown runs (nothing was sent or counted), any
/// other refusal shown on the page as usual.
pub(crate) trait OnResend {
    fn on_resend(
        self,
        lang: Lang,
        page: impl FnOnce(Option<String>) -> StepPage,
        sent: &str,
    ) -> Result<HttpResponse, PageError>;
}

impl<R: UserFacing + Cooldown> OnResend for Result<(), StepError<R>> {
    fn on_resend(
        self,
        lang: Lang,
        page: impl FnOnce(Option<String>) -> StepPage,
        sent: &str,
    ) -> Result<HttpResponse, PageError> {
        match self {
            Ok(()) => Ok(see_other(sent)),
            Err(StepError::Refused(refusal)) => match refusal.cooldown() {
                Some(seconds) => {
                    let mut page = page(None);
                    page.notice = Some((page.t.face.code_wait)(seconds));
                    page.ok()
                }
                None => Err(refused(lang, &refusal, |error| page(Some(error)))),
            },
            Err(StepError::Failed(e)) => Err(PageError::failure(lang, e)),
        }
    }
}

/// "A B C": a code spelled out for screen readers.
pub(crate) fn spelled(value: &str) -> String {
    value
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The document kinds offered, with their labels.
pub(crate) fn kinds(t: &Texts) -> Vec<(String, String)> {
    vec![
        ("identity_card".into(), t.enrol.kind_identity_card.into()),
        ("passport".into(), t.enrol.kind_passport.into()),
        (
            "residence_permit".into(),
            t.enrol.kind_residence_permit.into(),
        ),
    ]
}

/// The label of a document kind.
pub(crate) fn kind_label(t: &Texts, kind: &str) -> String {
    kinds(t)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, l)| l)
        .unwrap_or_default()
}
