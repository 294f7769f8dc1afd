// Languages of the app (#17): French, or English when the phone's first
// French-or-English language (navigator.languages) is English, as the server
// pages choose from Accept-Language. The app is written in French; this table
// gives each of its strings (index.html and app.js) in English. A string with
// `{a}`/`{b}` is a pattern: the parts they stand for are translated in turn
// (dates, "2 essais"…), or kept (names of sites and devices).
//
// In English, every text node and label the app shows is translated as it
// appears (a MutationObserver), so app.js keeps writing French.

const first = (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'fr'])
  .map((l) => String(l).toLowerCase())
  .find((l) => l.startsWith('fr') || l.startsWith('en'));
export const LANG = first && first.startsWith('en') ? 'en' : 'fr';
/** The locale of dates and times. */
export const LOCALE = LANG === 'en' ? 'en-GB' : 'fr-FR';

/** [French, English]. */
const TABLE = [
  // index.html
  ['Application Sésame', 'Sésame app'],
  ['Approuvez vos connexions Sésame depuis votre téléphone.', 'Approve your Sésame logins from your phone.'],
  ['Aller au contenu', 'Skip to content'],
  ['Mes appareils', 'My devices'],
  ['Chargement…', 'Loading…'],
  ['Cette application a besoin de JavaScript.', 'This app needs JavaScript.'],
  ['Navigateur non compatible', 'Browser not supported'],
  ["Ce navigateur ne permet pas de protéger la clé de l'application.", "This browser cannot protect the app's key."],
  ['Utilisez une version récente de Chrome, Firefox, Safari ou Edge, sur une adresse sécurisée (https).', 'Use a recent version of Chrome, Firefox, Safari or Edge, on a secure address (https).'],
  ["Activer l'application", 'Activate the app'],
  ["Saisissez les identifiants de votre compte Sésame et le code d'activation à 6 chiffres reçu par SMS et par courriel, puis choisissez votre code secret.", 'Enter the credentials of your Sésame account and the 6-digit activation code received by text message and email, then choose your secret code.'],
  ['Adresse électronique', 'Email address'],
  ['Mot de passe', 'Password'],
  ['Mot de passe oublié ?', 'Forgotten password?'],
  ["Code d'activation", 'Activation code'],
  ['6 chiffres, reçu par SMS et par courriel. Valable 14 jours.', '6 digits, received by text message and email. Valid for 14 days.'],
  ['Nouveau code secret', 'New secret code'],
  ['4 chiffres, ni 0000 ni 1234 : il vous sera demandé à chaque connexion.', '4 digits, neither 0000 nor 1234: you will be asked for it at each login.'],
  ['Confirmez le code secret', 'Confirm the secret code'],
  ['Nom de cet appareil', 'Name of this device'],
  ['Pour le reconnaître dans « Mes appareils » (64 caractères au plus).', 'To recognise it in "My devices" (64 characters at most).'],
  ['Mon téléphone', 'My phone'],
  ['Activer cet appareil', 'Activate this device'],
  ["Je n'ai pas de code valable : recevoir un nouveau code", 'I have no valid code: get a new code'],
  ["Recevoir un nouveau code d'activation", 'Get a new activation code'],
  ["Confirmez votre identité avec votre adresse électronique et votre mot de passe Sésame. Un nouveau code d'activation vous sera envoyé par SMS et par courriel.", 'Confirm your identity with your Sésame email address and password. A new activation code will be sent to you by text message and email.'],
  ['Envoyer un nouveau code', 'Send a new code'],
  ["J'ai déjà un code", 'I already have a code'],
  ['Aucune demande en attente', 'No pending request'],
  ['Quand vous vous connecterez à un site avec Sésame, la demande apparaîtra ici. Gardez cette application ouverte.', 'When you log in to a site with Sésame, the request will appear here. Keep this app open.'],
  ['Recevoir les demandes même application fermée', 'Get requests even when the app is closed'],
  ["Sésame peut vous envoyer une notification dès qu'un site vous demande de vous connecter : vous n'aurez plus besoin de garder l'application ouverte. La notification indique seulement le nom du site ; le nombre à choisir et votre code secret restent dans l'application. Vous pourrez désactiver les notifications à tout moment dans « Mes appareils ».", 'Sésame can send you a notification as soon as a site asks you to log in: you will no longer need to keep the app open. The notification only gives the name of the site; the number to choose and your secret code stay in the app. You can turn notifications off at any time in "My devices".'],
  ['Activer les notifications', 'Turn on notifications'],
  ['Plus tard', 'Later'],
  ['Appareil :', 'Device:'],
  ['Connexion à Sésame…', 'Connecting to Sésame…'],
  ['Réessayer maintenant', 'Try again now'],
  ['Demande de connexion', 'Login request'],
  ['souhaite vérifier votre identité.', 'wants to verify your identity.'],
  ['Heure', 'Time'],
  ['Adresse IP', 'IP address'],
  ['Navigateur', 'Browser'],
  ['Détails', 'Details'],
  ["Choisissez le nombre affiché à l'écran", 'Choose the number shown on the screen'],
  ["Uniquement si c'est vous qui vous connectez.", 'Only if you are the one logging in.'],
  ['Votre code secret', 'Your secret code'],
  ['4 chiffres, avec le clavier ci-dessous.', '4 digits, with the keypad below.'],
  ['Clavier du code secret', 'Secret code keypad'],
  ['Effacer le dernier chiffre', 'Erase the last digit'],
  ['Effacer', 'Erase'],
  ['Valider', 'Confirm'],
  ['Refuser', 'Refuse'],
  ["Ce n'est pas moi", 'This is not me'],
  ['Terminé', 'Done'],
  ['Appareil verrouillé', 'Device locked'],
  ['Pour le débloquer :', 'To unlock it:'],
  ["demandez un nouveau code d'activation avec votre adresse électronique et votre mot de passe Sésame ; il vous est envoyé par SMS et par courriel ;", 'request a new activation code with your Sésame email address and password; it is sent to you by text message and email;'],
  ["activez de nouveau l'application avec ce code et choisissez un nouveau code secret.", 'activate the app again with this code and choose a new secret code.'],
  ["Demander un nouveau code d'activation", 'Request a new activation code'],
  ["J'ai déjà un nouveau code", 'I already have a new code'],
  ['Appareil non reconnu', 'Device not recognised'],
  ["Vérifiez que la date et l'heure de votre téléphone sont exactes, puis réessayez. Si le problème continue, activez de nouveau l'application.", "Check that your phone's date and time are right, then try again. If the problem goes on, activate the app again."],
  ['Réessayer', 'Try again'],
  ['Activer de nouveau', 'Activate again'],
  ['Les appareils qui peuvent approuver vos connexions Sésame.', 'The devices that can approve your Sésame logins.'],
  ['Mes connexions', 'My logins'],
  ['Retour', 'Back'],
  ['Chaque connexion à un site partenaire avec votre identité numérique, la plus récente en premier. Le lieu est approximatif.', 'Each login to a partner site with your digital identity, the latest first. The place is approximate.'],
  ['Connexions plus anciennes', 'Older logins'],
  ['Cet appareil', 'This device'],
  ['Nouveau nom', 'New name'],
  ['Enregistrer', 'Save'],
  ['Annuler', 'Cancel'],
  ['Renommer', 'Rename'],
  ['Révoquer', 'Revoke'],
  // app.js: titles
  ['Navigateur non compatible — Sésame', 'Browser not supported — Sésame'],
  ["Activer l'application — Sésame", 'Activate the app — Sésame'],
  ["Nouveau code d'activation — Sésame", 'New activation code — Sésame'],
  ['En attente — Sésame', 'Waiting — Sésame'],
  ['Demande de connexion — Sésame', 'Login request — Sésame'],
  ['Appareil verrouillé — Sésame', 'Device locked — Sésame'],
  ['Appareil non reconnu — Sésame', 'Device not recognised — Sésame'],
  ['Mes appareils — Sésame', 'My devices — Sésame'],
  ['Mes connexions — Sésame', 'My logins — Sésame'],
  ['{a} — Sésame', '{a} — Sésame'],
  // app.js: words and dates
  ["aujourd'hui à {a}", 'today at {a}'],
  ['{a} à {b}', '{a} at {b}'],
  ['Navigateur inconnu', 'Unknown browser'],
  ['{a} sur {b}', '{a} on {b}'],
  ['Téléphone Android{a}', 'Android phone{a}'],
  ['Tablette Android{a}', 'Android tablet{a}'],
  ['{a} essai', '{a} attempt'],
  ['{a} essais', '{a} attempts'],
  ['{a} seconde', '{a} second'],
  ['{a} secondes', '{a} seconds'],
  ['{a} minute', '{a} minute'],
  ['{a} minutes', '{a} minutes'],
  ['ce site', 'this site'],
  ['Un site partenaire', 'A partner site'],
  // app.js: errors and notices
  ['Impossible de joindre Sésame. Vérifiez votre connexion à Internet, puis réessayez.', 'Sésame cannot be reached. Check your Internet connection, then try again.'],
  ['Sésame est momentanément indisponible. Réessayez dans quelques instants.', 'Sésame is unavailable for the moment. Try again in a few moments.'],
  ['Une erreur est survenue ({a}). Réessayez plus tard.', 'An error occurred ({a}). Try again later.'],
  ['Recevoir un nouveau code', 'Get a new code'],
  ['Saisissez votre adresse électronique.', 'Enter your email address.'],
  ['Saisissez votre mot de passe.', 'Enter your password.'],
  ["Le code d'activation comporte 6 chiffres.", 'The activation code has 6 digits.'],
  ['Le code secret doit comporter exactement 4 chiffres.', 'The secret code must have exactly 4 digits.'],
  ['Les deux codes secrets saisis sont différents.', 'The two secret codes typed differ.'],
  ["Le nom de l'appareil ne doit pas dépasser 64 caractères.", "The device's name must not exceed 64 characters."],
  ['Activation en cours…', 'Activating…'],
  ["L'application est activée sur cet appareil (« {a} »).", 'The app is activated on this device ("{a}").'],
  ['Adresse électronique ou mot de passe incorrect.', 'Wrong email address or password.'],
  ["Code d'activation incorrect. Il vous reste {a}.", 'Wrong activation code. You have {a} left.'],
  ["Code d'activation incorrect.", 'Wrong activation code.'],
  ["Trop de codes erronés : ce code d'activation n'est plus valable. Demandez un nouveau code.", 'Too many wrong codes: this activation code is no longer valid. Request a new code.'],
  ["Ce code d'activation a expiré. Demandez un nouveau code.", 'This activation code has expired. Request a new code.'],
  ["Aucun code d'activation n'est en cours pour ce compte. Demandez un code.", 'There is no activation code for this account. Request a code.'],
  ['Ce code secret est trop facile à deviner (comme 0000, 1111 ou 1234). Choisissez-en un autre.', 'This secret code is too easy to guess (like 0000, 1111 or 1234). Choose another one.'],
  ["Votre compte ne permet pas d'activer l'application : votre identité doit d'abord être vérifiée (au guichet ou à distance), et le compte ne doit pas être suspendu.", 'Your account cannot activate the app: your identity must first be verified (at a counter or remotely), and the account must not be suspended.'],
  ['Trop de tentatives. Réessayez dans {a}.', 'Too many attempts. Try again in {a}.'],
  ['Certaines informations ne sont pas valables. Vérifiez le formulaire, puis réessayez.', 'Some information is not valid. Check the form, then try again.'],
  ["L'activation a échoué sur cet appareil. Réessayez.", 'Activation failed on this device. Try again.'],
  ['Envoi en cours…', 'Sending…'],
  ["Un nouveau code d'activation vous a été envoyé par SMS et par courriel. Saisissez-le ci-dessous.", 'A new activation code was sent to you by text message and email. Enter it below.'],
  ["Votre compte ne permet pas de recevoir un code d'activation : votre identité doit d'abord être vérifiée, et le compte ne doit pas être suspendu.", 'Your account cannot receive an activation code: your identity must first be verified, and the account must not be suspended.'],
  ['Trop de demandes. Réessayez dans {a}.', 'Too many requests. Try again in {a}.'],
  ['Hors ligne : nouvelle tentative dans {a}.', 'Offline: trying again in {a}.'],
  ['Connecté : en attente des demandes.', 'Connected: waiting for requests.'],
  ["Cet appareil a été révoqué : il ne peut plus approuver de connexions. Pour l'utiliser de nouveau, demandez un nouveau code d'activation.", 'This device has been revoked: it can no longer approve logins. To use it again, request a new activation code.'],
  ["Sésame n'a pas accepté la signature de cet appareil ({a}).", "Sésame did not accept this device's signature ({a})."],
  ['Cette demande expire dans {a} min {b} s.', 'This request expires in {a} min {b} s.'],
  ['Cette demande expire dans {a} s.', 'This request expires in {a} s.'],
  ["Choisissez d'abord le nombre affiché sur l'écran où vous vous connectez.", 'First choose the number shown on the screen where you are logging in.'],
  ['Saisissez votre code secret à 4 chiffres.', 'Type your 4-digit secret code.'],
  ["Ce n'est pas vous ?", 'Is this not you?'],
  ["La demande de connexion à {a} sera refusée et signalée à Sésame comme une tentative de fraude. Si quelqu'un connaît votre mot de passe, changez-le dès que possible.", 'The login request to {a} will be refused and reported to Sésame as a fraud attempt. If someone knows your password, change it as soon as possible.'],
  ["Oui, signaler : ce n'est pas moi", 'Yes, report it: this is not me'],
  ['Code secret incorrect. Il vous reste {a} avant le verrouillage de cet appareil.', 'Wrong secret code. You have {a} left before this device is locked.'],
  ['Code secret incorrect.', 'Wrong secret code.'],
  ['Le code secret comporte exactement 4 chiffres.', 'The secret code has exactly 4 digits.'],
  ["La réponse n'a pas pu être signée sur cet appareil. Réessayez.", 'The answer could not be signed on this device. Try again.'],
  // app.js: outcomes
  ['Connexion approuvée', 'Login approved'],
  ["Votre connexion à {a} est confirmée. Poursuivez sur l'écran où vous vous connectez.", 'Your login to {a} is confirmed. Go on on the screen where you are logging in.'],
  ['Connexion refusée', 'Login refused'],
  ['La demande de connexion à {a} a été refusée.', 'The login request to {a} was refused.'],
  ['Signalement enregistré', 'Report recorded'],
  ["La demande a été refusée et signalée à Sésame. Si quelqu'un connaît votre mot de passe, changez-le dès que possible.", 'The request was refused and reported to Sésame. If someone knows your password, change it as soon as possible.'],
  ['Nombre incorrect : demande annulée', 'Wrong number: request cancelled'],
  ["Le nombre choisi n'est pas celui affiché sur l'écran de connexion. Par sécurité, la demande a été annulée. Si c'est bien vous, recommencez la connexion depuis votre ordinateur.", 'The number chosen is not the one shown on the login screen. For your security, the request was cancelled. If it is really you, start the login again from your computer.'],
  ['Demande expirée', 'Request expired'],
  ["La demande n'a pas reçu de réponse dans les 2 minutes. Si besoin, recommencez la connexion depuis votre ordinateur.", 'The request got no answer within 2 minutes. If needed, start the login again from your computer.'],
  ['Demande déjà traitée', 'Request already answered'],
  ['Cette demande a déjà reçu une réponse ou a été annulée.', 'This request was already answered or was cancelled.'],
  ['Demande introuvable', 'Request not found'],
  ["Cette demande n'existe plus. Si besoin, recommencez la connexion depuis votre ordinateur.", 'This request no longer exists. If needed, start the login again from your computer.'],
  ['Trois codes secrets erronés ont été saisis à la suite. Par sécurité, cet appareil est verrouillé : il ne peut plus approuver de connexion.', 'Three wrong secret codes were typed in a row. For your security, this device is locked: it can no longer approve a login.'],
  ["Trois erreurs de nombre à la suite : le nombre choisi n'était pas celui affiché sur l'écran de connexion. Par sécurité, cet appareil est verrouillé : il ne peut plus approuver de connexion.", 'Three wrong numbers in a row: the number chosen was not the one shown on the login screen. For your security, this device is locked: it can no longer approve a login.'],
  ['Encore une erreur de nombre et cet appareil sera verrouillé (les erreurs de nombre sont comptées à part des codes secrets).', 'One more wrong number and this device will be locked (wrong numbers are counted apart from secret codes).'],
  ['Encore {a} erreurs de nombre et cet appareil sera verrouillé (les erreurs de nombre sont comptées à part des codes secrets).', '{a} more wrong numbers and this device will be locked (wrong numbers are counted apart from secret codes).'],
  // app.js: notifications
  ["Quand vous vous connecterez à un site avec Sésame, vous recevrez une notification, même si l'application est fermée.", 'When you log in to a site with Sésame, you will get a notification, even if the app is closed.'],
  ["Ce navigateur ne permet pas les notifications. Gardez l'application ouverte pour recevoir les demandes.", 'This browser does not allow notifications. Keep the app open to get requests.'],
  ["Les notifications sont bloquées pour Sésame dans les réglages du navigateur. Sans elles, gardez l'application ouverte pour recevoir les demandes.", "Notifications are blocked for Sésame in the browser's settings. Without them, keep the app open to get requests."],
  ["Sésame n'envoie pas de notifications pour le moment. Gardez l'application ouverte pour recevoir les demandes.", 'Sésame does not send notifications for the moment. Keep the app open to get requests.'],
  ["Les notifications ne sont pas disponibles pour le moment (service de notification injoignable). Gardez l'application ouverte pour recevoir les demandes ; vous pourrez réessayer depuis « Mes appareils ».", 'Notifications are not available for the moment (notification service unreachable). Keep the app open to get requests; you can try again from "My devices".'],
  ["Notifications activées : vous pouvez fermer l'application.", 'Notifications on: you may close the app.'],
  // app.js: my devices and logins
  ['Actif', 'Active'],
  ['Verrouillé', 'Locked'],
  ['Révoqué', 'Revoked'],
  ['Connexion acceptée', 'Login accepted'],
  ["Refusée sur l'application", 'Refused in the app'],
  ['Signalée : « Ce n\'est pas moi »', 'Reported: "This is not me"'],
  ['Sans réponse : demande expirée', 'No answer: request expired'],
  ['{a} connexion affichée', '{a} login shown'],
  ['{a} connexions affichées', '{a} logins shown'],
  ["Aucune connexion à un site partenaire pour l'instant.", 'No login to a partner site yet.'],
  ['{a} · niveau {b}', '{a} · level {b}'],
  ['Lieu approximatif : {a}', 'Approximate place: {a}'],
  ['Activé le {a}', 'Activated on {a}'],
  ['Activé {a}', 'Activated {a}'],
  ['Dernière utilisation le {a}', 'Last used on {a}'],
  ['Dernière utilisation {a}', 'Last used {a}'],
  ['Jamais utilisé pour une connexion', 'Never used for a login'],
  ['Notifications activées', 'Notifications on'],
  ['Notifications désactivées', 'Notifications off'],
  ['Désactiver les notifications', 'Turn off notifications'],
  ["Notifications désactivées sur cet appareil : gardez l'application ouverte pour recevoir les demandes.", 'Notifications turned off on this device: keep the app open to get requests.'],
  ['Notifications activées sur cet appareil.', 'Notifications turned on on this device.'],
  ['Renommer {a}', 'Rename {a}'],
  ['Révoquer {a}', 'Revoke {a}'],
  ['Le nom doit comporter de 1 à 64 caractères.', 'The name must have 1 to 64 characters.'],
  ['Ce nom ne convient pas : 1 à 64 caractères.', 'This name does not fit: 1 to 64 characters.'],
  ["Cet appareil n'existe plus.", 'This device no longer exists.'],
  ['Appareil renommé en « {a} ».', 'Device renamed "{a}".'],
  ['Révoquer cet appareil ?', 'Revoke this device?'],
  ["Cet appareil (« {a} ») ne pourra plus approuver vos connexions. Pour utiliser l'application de nouveau, il faudra un nouveau code d'activation.", 'This device ("{a}") will no longer be able to approve your logins. To use the app again, you will need a new activation code.'],
  ['« {a} » ne pourra plus approuver vos connexions.', '"{a}" will no longer be able to approve your logins.'],
  ['Révocation…', 'Revoking…'],
  ['Cet appareil a été révoqué : il ne peut plus approuver de connexions.', 'This device has been revoked: it can no longer approve logins.'],
  ['« {a} » a été révoqué.', '"{a}" has been revoked.'],
  // app.js: unsupported browsers
  ['Cette page doit être ouverte sur une adresse sécurisée (https).', 'This page must be opened on a secure address (https).'],
  ['Ce navigateur ne fournit pas les fonctions cryptographiques nécessaires.', 'This browser does not provide the cryptographic functions needed.'],
  ["Ce navigateur ne permet pas de conserver la clé de l'application (stockage désactivé ou navigation privée).", "This browser cannot keep the app's key (storage turned off or private browsing)."],
  ['Ce navigateur est trop ancien.', 'This browser is too old.'],
];

/** The key of a French text: no-break spaces as spaces, one space between words. */
const key = (text) => String(text).replace(/[\u00a0\u202f]/g, ' ').replace(/\s+/g, ' ').trim();

const EXACT = new Map();
const PATTERNS = [];
for (const [fr, en] of TABLE) {
  if (fr.includes('{')) {
    const names = [...fr.matchAll(/\{(\w)\}/g)].map((m) => m[1]);
    const source = fr.split(/\{\w\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('(.+?)');
    PATTERNS.push({ re: new RegExp(`^${source}$`), names, en });
  } else {
    EXACT.set(fr, en);
  }
}
// The most specific pattern (the most fixed text) first: "{a} à {b}" last.
const fixed = (p) => p.re.source.replace(/\(\.\+\?\)/g, '').length;
PATTERNS.sort((x, y) => fixed(y) - fixed(x));

/** The English of a French text of the app (itself when not in the table). */
export function english(text, depth = 0) {
  const k = key(text);
  if (!k) return text;
  if (EXACT.has(k)) return EXACT.get(k);
  if (depth > 3) return k;
  for (const { re, names, en } of PATTERNS) {
    const m = re.exec(k);
    if (!m) continue;
    let out = en;
    names.forEach((name, i) => { out = out.replace(`{${name}}`, english(m[i + 1], depth + 1)); });
    return out;
  }
  return text;
}

const ATTRIBUTES = ['aria-label', 'placeholder', 'alt', 'title'];

function translateNode(node) {
  if (node.nodeType === Node.TEXT_NODE) {
    const k = key(node.nodeValue);
    if (!k) return;
    const en = english(node.nodeValue);
    if (en !== node.nodeValue && en !== k) {
      const [, lead, , trail] = /^(\s*)([\s\S]*?)(\s*)$/.exec(node.nodeValue);
      node.nodeValue = `${lead}${en}${trail}`;
    }
    return;
  }
  if (node.nodeType === Node.DOCUMENT_FRAGMENT_NODE) {
    for (const child of node.childNodes) translateNode(child);
    return;
  }
  if (node.nodeType !== Node.ELEMENT_NODE || node.tagName === 'SCRIPT' || node.tagName === 'STYLE') return;
  for (const name of ATTRIBUTES) {
    const value = node.getAttribute(name);
    if (value) {
      const en = english(value);
      if (en !== value && en !== key(value)) node.setAttribute(name, en);
    }
  }
  if (node.tagName === 'TEMPLATE') translateNode(node.content);
  for (const child of node.childNodes) translateNode(child);
}

/** Sets `<html lang>`; in English, translates the page now and whatever app.js writes later. */
export function applyLanguage() {
  document.documentElement.lang = LANG;
  if (LANG !== 'en') return;
  const description = document.querySelector('meta[name=description]');
  if (description) description.content = english(description.content);
  translateNode(document.body);
  document.title = english(document.title);
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'characterData') translateNode(r.target);
      else if (r.type === 'attributes') translateNode(r.target);
      else for (const n of r.addedNodes) translateNode(n);
    }
  });
  observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ATTRIBUTES });
  const title = document.querySelector('title');
  if (title) {
    new MutationObserver(() => {
      const en = english(document.title);
      if (en !== document.title) document.title = en;
    }).observe(title, { childList: true, characterData: true, subtree: true });
  }
}
