// Security keys in the console: registration (/cle) and login (/connexion).
// webauthn-rs speaks base64url in JSON; the browser API wants ArrayBuffers.
(function () {
  const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const unb64 = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
  const post = (url, body, csrf) => fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": csrf }, body: JSON.stringify(body) });
  const status = (text) => { const el = document.getElementById("key-status"); if (el) el.textContent = text; };

  const register = document.getElementById("key-register");
  if (register && window.PublicKeyCredential) {
    register.hidden = false;
    register.addEventListener("click", async () => {
      const csrf = register.dataset.csrf;
      const options = await (await post("/cle/enregistrement/debut", {}, csrf)).json();
      const pk = options.publicKey;
      pk.challenge = unb64(pk.challenge);
      pk.user.id = unb64(pk.user.id);
      (pk.excludeCredentials || []).forEach((c) => (c.id = unb64(c.id)));
      try {
        const cred = await navigator.credentials.create({ publicKey: pk });
        const answer = { id: cred.id, rawId: b64(cred.rawId), type: cred.type, extensions: {},
          response: { attestationObject: b64(cred.response.attestationObject), clientDataJSON: b64(cred.response.clientDataJSON) } };
        const done = await post("/cle/enregistrement/fin", answer, csrf);
        status(done.ok ? "Clé enregistrée." : "La clé n'a pas pu être enregistrée.");
        if (done.ok) window.location.reload();
      } catch (e) { status("Enregistrement annulé."); }
    });
  }

  const login = document.getElementById("key-login");
  if (login && window.PublicKeyCredential) {
    login.hidden = false;
    login.addEventListener("click", async () => {
      const csrf = login.dataset.csrf;
      const username = document.getElementById("username").value;
      const started = await post("/cle/connexion/debut", { username }, csrf);
      if (!started.ok) { status("Aucune clé de sécurité pour cet identifiant."); return; }
      const options = await started.json();
      const pk = options.publicKey;
      pk.challenge = unb64(pk.challenge);
      (pk.allowCredentials || []).forEach((c) => (c.id = unb64(c.id)));
      try {
        const cred = await navigator.credentials.get({ publicKey: pk });
        const answer = { id: cred.id, rawId: b64(cred.rawId), type: cred.type, extensions: {},
          response: { authenticatorData: b64(cred.response.authenticatorData), clientDataJSON: b64(cred.response.clientDataJSON),
            signature: b64(cred.response.signature), userHandle: cred.response.userHandle ? b64(cred.response.userHandle) : null } };
        const done = await post("/cle/connexion/fin", answer, csrf);
        if (done.ok) { window.location = (await done.json()).redirect; } else { status("La clé n'a pas été reconnue."); }
      } catch (e) { status("Connexion par clé annulée."); }
    });
  }
})();
