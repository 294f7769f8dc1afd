//! A command-line authenticator's engine: the device side of the device API
//! (`/api/device/v1`), used by `idp-authenticator`, the tests and the load
//! driver. It holds an ES256 key pair, signs each request (`htm`, `htu`,
//! `iat`, `jti`) and each decision, exactly as the web app does.

use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jws::{ES256, JwsHeader};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const API: &str = "/api/device/v1";

/// A refused call: the HTTP status and the JSON error body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub body: Value,
}

impl ApiError {
    /// The `error` code of the body.
    pub fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            self.code(),
            self.body["error_description"].as_str().unwrap_or("")
        )
    }
}

impl std::error::Error for ApiError {}

/// What `idp-authenticator` keeps on disk (the private key included: the
/// file is written readable by its owner only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub server: String,
    pub issuer: String,
    pub device_id: Option<String>,
    pub private_key_pem: String,
}

pub struct Authenticator {
    http: reqwest::Client,
    /// Where requests are sent (a replica's address).
    server: String,
    /// The issuer, prefix of every `htu`.
    issuer: String,
    key: EcKeyPair,
    signer: josekit::jws::alg::ecdsa::EcdsaJwsSigner,
    pub device_id: Option<String>,
}

fn random_jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Authenticator {
    /// A fresh key pair for a device not activated yet.
    pub fn new(http: reqwest::Client, server: &str, issuer: &str) -> Result<Self, String> {
        let key = ES256.generate_key_pair().map_err(|e| e.to_string())?;
        Self::with_key(http, server, issuer, key, None)
    }

    fn with_key(
        http: reqwest::Client,
        server: &str,
        issuer: &str,
        key: EcKeyPair,
        device_id: Option<String>,
    ) -> Result<Self, String> {
        let signer = ES256
            .signer_from_der(key.to_der_private_key())
            .map_err(|e| e.to_string())?;
        Ok(Authenticator {
            http,
            server: server.trim_end_matches('/').to_owned(),
            issuer: issuer.trim_end_matches('/').to_owned(),
            key,
            signer,
            device_id,
        })
    }

    pub fn load(http: reqwest::Client, saved: &Saved) -> Result<Self, String> {
        let key = EcKeyPair::from_pem(saved.private_key_pem.as_bytes(), Some(EcCurve::P256))
            .map_err(|e| e.to_string())?;
        Self::with_key(
            http,
            &saved.server,
            &saved.issuer,
            key,
            saved.device_id.clone(),
        )
    }

    pub fn save(&self) -> Saved {
        Saved {
            server: self.server.clone(),
            issuer: self.issuer.clone(),
            device_id: self.device_id.clone(),
            private_key_pem: String::from_utf8_lossy(&self.key.to_pem_private_key()).into_owned(),
        }
    }

    /// The issuer announced by the server's discovery document.
    pub async fn discover_issuer(http: &reqwest::Client, server: &str) -> Result<String, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            server.trim_end_matches('/')
        );
        let doc: Value = http
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        doc["issuer"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "the discovery document has no issuer".to_owned())
    }

    /// The public key as a JWK (`kty`, `crv`, `x`, `y`).
    pub fn public_jwk(&self) -> Value {
        let jwk = self.key.to_jwk_public_key();
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": jwk.parameter("x").cloned().unwrap_or(Value::Null),
            "y": jwk.parameter("y").cloned().unwrap_or(Value::Null),
        })
    }

    /// A compact JWS over `claims` with `typ`, signed by this device's key.
    pub fn sign(&self, typ: &str, claims: &Value) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        if let Some(id) = &self.device_id {
            header.set_key_id(id);
        }
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        josekit::jws::serialize_compact(&payload, &header, &self.signer).unwrap_or_default()
    }

    /// The proof for `method path` (`Authorization: Device …`).
    pub fn request_proof(&self, method: &str, path: &str) -> String {
        self.sign(
            "device-request+jwt",
            &json!({
                "htm": method,
                "htu": format!("{}{path}", self.issuer),
                "iat": now(),
                "jti": random_jti(),
            }),
        )
    }

    /// The signed decision for a challenge (`action`: approve, deny, fraud).
    pub fn decision(
        &self,
        challenge_id: &str,
        nonce: &str,
        action: &str,
        pin: Option<&str>,
        number: Option<i64>,
    ) -> String {
        let mut claims = json!({
            "htm": "POST",
            "htu": format!("{}{API}/challenges/{challenge_id}/decision", self.issuer),
            "iat": now(),
            "jti": random_jti(),
            "challenge_id": challenge_id,
            "nonce": nonce,
            "action": action,
        });
        if let Some(pin) = pin {
            claims["pin"] = pin.into();
        }
        if let Some(number) = number {
            claims["number"] = number.into();
        }
        self.sign("device-decision+jwt", &claims)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    async fn answer(response: reqwest::Response) -> Result<Value, ApiError> {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(ApiError { status, body })
        }
    }

    fn transport(e: reqwest::Error) -> ApiError {
        ApiError {
            status: 0,
            body: json!({ "error": "transport", "error_description": e.to_string() }),
        }
    }

    /// Activates this key; remembers the device id.
    pub async fn activate(
        &mut self,
        email: &str,
        password: &str,
        activation_code: &str,
        pin: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let response = self
            .http
            .post(self.url(&format!("{API}/activation")))
            .json(&json!({
                "email": email,
                "password": password,
                "activation_code": activation_code,
                "pin": pin,
                "public_key": self.public_jwk(),
                "name": name,
            }))
            .send()
            .await
            .map_err(Self::transport)?;
        let body = Self::answer(response).await?;
        self.device_id = body["device_id"].as_str().map(str::to_owned);
        Ok(body)
    }

    /// Asks for a new activation code by SMS (after a lock).
    pub async fn request_code(&self, email: &str, password: &str) -> Result<Value, ApiError> {
        let response = self
            .http
            .post(self.url(&format!("{API}/activation/code")))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .map_err(Self::transport)?;
        Self::answer(response).await
    }

    /// A device-signed call.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let path = path_and_query.split('?').next().unwrap_or(path_and_query);
        let proof = self.request_proof(method.as_str(), path);
        let mut request = self
            .http
            .request(method, self.url(path_and_query))
            .header("Authorization", format!("Device {proof}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::answer(request.send().await.map_err(Self::transport)?).await
    }

    /// Pending challenges, waiting up to `wait` seconds for one.
    pub async fn challenges(&self, wait: u64) -> Result<Vec<Value>, ApiError> {
        let body = self
            .call(
                reqwest::Method::GET,
                &format!("{API}/challenges?wait={wait}"),
                None,
            )
            .await?;
        Ok(body["challenges"].as_array().cloned().unwrap_or_default())
    }

    /// Posts a signed decision on `challenge` (as returned by [`Self::challenges`]).
    pub async fn decide(
        &self,
        challenge: &Value,
        action: &str,
        pin: Option<&str>,
        number: Option<i64>,
    ) -> Result<Value, ApiError> {
        let id = challenge["id"].as_str().unwrap_or("");
        let nonce = challenge["nonce"].as_str().unwrap_or("");
        let jws = self.decision(id, nonce, action, pin, number);
        self.post_decision(id, jws).await
    }

    /// Posts an already signed decision (tests use it for tampered ones).
    pub async fn post_decision(&self, challenge_id: &str, jws: String) -> Result<Value, ApiError> {
        let response = self
            .http
            .post(self.url(&format!("{API}/challenges/{challenge_id}/decision")))
            .header("Content-Type", "application/jose")
            .body(jws)
            .send()
            .await
            .map_err(Self::transport)?;
        Self::answer(response).await
    }

    pub async fn approve(
        &self,
        challenge: &Value,
        pin: &str,
        number: i64,
    ) -> Result<Value, ApiError> {
        self.decide(challenge, "approve", Some(pin), Some(number))
            .await
    }

    pub async fn devices(&self) -> Result<Vec<Value>, ApiError> {
        let body = self
            .call(reqwest::Method::GET, &format!("{API}/devices"), None)
            .await?;
        Ok(body["devices"].as_array().cloned().unwrap_or_default())
    }

    pub async fn rename(&self, device_id: &str, name: &str) -> Result<Value, ApiError> {
        self.call(
            reqwest::Method::PATCH,
            &format!("{API}/devices/{device_id}"),
            Some(&json!({ "name": name })),
        )
        .await
    }

    pub async fn revoke(&self, device_id: &str) -> Result<Value, ApiError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("{API}/devices/{device_id}"),
            None,
        )
        .await
    }
}
