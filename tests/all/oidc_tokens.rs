//! Token endpoint, refresh rotation, revocation, introspection, client
//! authentication methods, encrypted tokens and logout.

use std::time::{SystemTime, UNIX_EPOCH};

use idp_server::domain::client::{ClientAuthMethod, Encryption};
use idp_tests::browser::Browser;
use idp_tests::oidc::{
    self as kit, POST_LOGOUT_URI, REDIRECT_URI, code, exchange, manual_authorize, post_form,
};
use idp_tests::{Backend, TestApp, TestEnv, both_backends, rp};
use josekit::jwe::{ECDH_ES, RSA_OAEP_256};
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{ES256, JwsHeader};
use josekit::jwt::{self, JwtPayload};
use openidconnect::Nonce;
use openidconnect::core::CoreIdToken;
use serde_json::json;

both_backends!(
    refresh_tokens_rotate_and_reuse_revokes_the_family,
    revocation_and_introspection,
    client_secret_post_and_basic_are_enforced,
    private_key_jwt_and_bad_assertions,
    private_key_jwt_with_keys_from_jwks_uri,
    encrypted_id_tokens_and_userinfo_jwt,
    logout_ends_the_session,
);

async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = kit::register_client(&app, "rp", &kit::client_metadata()).unwrap();
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    let request = manual_authorize(&app.base, "rp", "openid email offline_access", &[]);
    let code = code(&mut browser, &request, &citizen).await;
    let (status, first) = exchange(&app, &code, &request.verifier, ("rp", &secret)).await;
    assert_eq!(status, 200, "{first}");
    let rt1 = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    let refresh = |rt: String| {
        let (app, secret) = (&app, secret.clone());
        async move {
            post_form(
                app,
                "/token",
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                Some(("rp", &secret)),
            )
            .await
        }
    };
    let (status, _, second) = refresh(rt1.clone()).await;
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    assert!(second["id_token"].is_string());
    assert_eq!(
        userinfo_status(&app, second["access_token"].as_str().unwrap()).await,
        200
    );

    // Reusing rt1 is theft: refused, and rt2 dies with it.
    let (status, _, reuse) = refresh(rt1).await;
    assert_eq!(
        (status, reuse["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _, after) = refresh(rt2).await;
    assert_eq!(
        (status, after["error"].as_str()),
        (400, Some("invalid_grant")),
        "family revoked"
    );

    // Narrowing scope is allowed, widening is not.
    let request = manual_authorize(&app.base, "rp", "openid email offline_access", &[]);
    let code = kit::code(&mut browser, &request, &citizen).await;
    let (_, fresh) = exchange(&app, &code, &request.verifier, ("rp", &secret)).await;
    let rt = fresh["refresh_token"].as_str().unwrap();
    let (status, _, wide) = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("scope", "openid email phone"),
        ],
        Some(("rp", &secret)),
    )
    .await;
    assert_eq!(
        (status, wide["error"].as_str()),
        (400, Some("invalid_scope"))
    );
}

async fn revocation_and_introspection(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = kit::register_client(&app, "rp", &kit::client_metadata()).unwrap();
    let other_secret = kit::register_client(&app, "rp2", &kit::client_metadata()).unwrap();
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    let request = manual_authorize(&app.base, "rp", "openid offline_access", &[]);
    let code = code(&mut browser, &request, &citizen).await;
    let (_, tokens) = exchange(&app, &code, &request.verifier, ("rp", &secret)).await;
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();

    let (status, _, info) =
        post_form(&app, "/introspect", &[("token", at)], Some(("rp", &secret))).await;
    assert_eq!(status, 200);
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], "rp");
    assert_eq!(info["token_type"], "Bearer");
    assert_eq!(info["acr"], "eidas1");
    let (_, _, info) =
        post_form(&app, "/introspect", &[("token", rt)], Some(("rp", &secret))).await;
    assert_eq!(
        (info["active"].as_bool(), info["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    // Another client learns nothing.
    let (_, _, info) = post_form(
        &app,
        "/introspect",
        &[("token", at)],
        Some(("rp2", &other_secret)),
    )
    .await;
    assert_eq!(info, json!({ "active": false }));
    // Nor does anyone without credentials.
    let (status, headers, _) = post_form(&app, "/introspect", &[("token", at)], None).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));

    // Revocation by another client is a no-op; by the owner it works.
    let (status, _, _) = post_form(
        &app,
        "/revoke",
        &[("token", at)],
        Some(("rp2", &other_secret)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(userinfo_status(&app, at).await, 200);
    let (status, _, _) = post_form(
        &app,
        "/revoke",
        &[("token", at), ("token_type_hint", "access_token")],
        Some(("rp", &secret)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(userinfo_status(&app, at).await, 401);
    let (_, _, info) =
        post_form(&app, "/introspect", &[("token", at)], Some(("rp", &secret))).await;
    assert_eq!(info["active"], false);
    let (status, _, _) = post_form(&app, "/revoke", &[("token", rt)], Some(("rp", &secret))).await;
    assert_eq!(status, 200);
    let (status, _, body) = post_form(
        &app,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some(("rp", &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Unknown tokens are "revoked" too (RFC 7009 §2.2).
    let (status, _, _) =
        post_form(&app, "/revoke", &[("token", "nope")], Some(("rp", &secret))).await;
    assert_eq!(status, 200);
}

async fn client_secret_post_and_basic_are_enforced(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let mut post_meta = kit::client_metadata();
    post_meta.auth_method = ClientAuthMethod::ClientSecretPost;
    let post_secret = kit::register_client(&app, "rp-post", &post_meta).unwrap();
    let basic_secret = kit::register_client(&app, "rp-basic", &kit::client_metadata()).unwrap();
    assert!(post_secret.len() >= 32 && basic_secret.len() >= 32);
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);

    let request = manual_authorize(&app.base, "rp-post", "openid", &[]);
    let code = code(&mut browser, &request, &citizen).await;
    // Basic for a client registered with client_secret_post: refused.
    let (status, headers, body) = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &request.verifier),
        ],
        Some(("rp-post", &post_secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    // The refused attempt did not consume the code: the right method works.
    let (status, _, body) = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &request.verifier),
            ("client_id", "rp-post"),
            ("client_secret", &post_secret),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // A wrong secret and an unknown client look the same.
    for (id, secret) in [
        ("rp-basic", "wrong-secret-wrong-secret-wrong-secret"),
        ("nobody", "x"),
    ] {
        let (status, headers, body) = post_form(
            &app,
            "/token",
            &[("grant_type", "authorization_code"), ("code", "x")],
            Some((id, secret)),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        assert_eq!(
            body["error_description"],
            "unknown client or bad credentials"
        );
        assert!(headers.contains_key("www-authenticate"));
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn assertion(
    key: &josekit::jwk::alg::ec::EcKeyPair,
    kid: &str,
    aud: &str,
    exp_in: i64,
    jti: &str,
) -> String {
    let mut payload = JwtPayload::new();
    payload.set_issuer("rp-jwt");
    payload.set_subject("rp-jwt");
    payload.set_audience(vec![aud]);
    payload.set_jwt_id(jti);
    payload.set_issued_at(&SystemTime::now());
    payload.set_expires_at(
        &(UNIX_EPOCH + std::time::Duration::from_secs((now() as i64 + exp_in) as u64)),
    );
    let mut header = JwsHeader::new();
    header.set_key_id(kid);
    let signer = ES256.signer_from_jwk(&key.to_jwk_private_key()).unwrap();
    jwt::encode_with_signer(&payload, &header, &signer).unwrap()
}

async fn private_key_jwt_and_bad_assertions(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let key = ES256.generate_key_pair().unwrap();
    let mut public = key.to_jwk_public_key();
    public.set_key_id("rp-key-1");
    let mut meta = kit::client_metadata();
    meta.auth_method = ClientAuthMethod::PrivateKeyJwt;
    meta.jwks = Some(json!({ "keys": [serde_json::to_value(public.as_ref()).unwrap()] }));
    assert!(
        kit::register_client(&app, "rp-jwt", &meta).is_none(),
        "no secret"
    );
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    let token_endpoint = app.url("/token");

    let attempt = |assertion: String, code: String, verifier: String| {
        let app = &app;
        async move {
            post_form(
                app,
                "/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", &verifier),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
                None,
            )
            .await
        }
    };
    let request = manual_authorize(&app.base, "rp-jwt", "openid", &[]);
    let code = code(&mut browser, &request, &citizen).await;
    let bad = [
        (
            assertion(
                &key,
                "rp-key-1",
                "https://elsewhere.example/token",
                60,
                "j1",
            ),
            "aud",
        ),
        (
            assertion(&key, "rp-key-1", &token_endpoint, -120, "j2"),
            "expired",
        ),
        (
            assertion(&key, "rp-key-1", &token_endpoint, 3600, "j3"),
            "too long",
        ),
        (
            assertion(
                &ES256.generate_key_pair().unwrap(),
                "rp-key-1",
                &token_endpoint,
                60,
                "j4",
            ),
            "signature",
        ),
    ];
    for (assertion, needle) in bad {
        let (status, _, body) = attempt(assertion, code.clone(), request.verifier.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{needle}"
        );
        assert!(
            body["error_description"].as_str().unwrap().contains(needle),
            "{needle}: {body}"
        );
    }
    let good = assertion(&key, "rp-key-1", &token_endpoint, 60, "j-ok");
    let (status, _, body) = attempt(good.clone(), code.clone(), request.verifier.clone()).await;
    assert_eq!(status, 200, "{body}");
    // The same assertion again (replayed jti) is refused.
    let request = manual_authorize(&app.base, "rp-jwt", "openid", &[]);
    let code = kit::code(&mut browser, &request, &citizen).await;
    let (status, _, body) = attempt(good, code, request.verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        body["error_description"].as_str().unwrap().contains("jti"),
        "{body}"
    );
}

/// Decrypts a nested JWT with our (the RP's) private key; returns the inner JWS.
fn decrypt(token: &str, decrypter: &dyn josekit::jwe::JweDecrypter) -> String {
    assert_eq!(token.split('.').count(), 5, "a compact JWE");
    let (payload, header) = josekit::jwe::deserialize_compact(token, decrypter).unwrap();
    assert_eq!(header.content_type(), Some("JWT"));
    assert_eq!(header.content_encryption(), Some("A256GCM"));
    String::from_utf8(payload).unwrap()
}

async fn encrypted_id_tokens_and_userinfo_jwt(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let rsa = RSA_OAEP_256.generate_key_pair(2048).unwrap();
    let rsa1 = josekit::jwe::RSA_OAEP.generate_key_pair(2048).unwrap();
    let mut rsa1_public = rsa1.to_jwk_public_key();
    rsa1_public.set_key_use("enc");
    let ec = ECDH_ES.generate_ec_key_pair(EcCurve::P256).unwrap();
    let mut rsa_public = rsa.to_jwk_public_key();
    rsa_public.set_key_use("enc");
    let mut ec_public: Jwk = ec.to_jwk_public_key();
    ec_public.set_key_use("enc");
    let cases = [
        (
            "rp-rsa",
            "RSA-OAEP-256",
            rsa_public,
            Box::new(
                RSA_OAEP_256
                    .decrypter_from_jwk(&rsa.to_jwk_private_key())
                    .unwrap(),
            ) as Box<dyn josekit::jwe::JweDecrypter>,
        ),
        (
            "rp-ec",
            "ECDH-ES",
            ec_public,
            Box::new(
                ECDH_ES
                    .decrypter_from_jwk(&ec.to_jwk_private_key())
                    .unwrap(),
            ),
        ),
    ];
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    for (client_id, alg, public, decrypter) in cases {
        let mut meta = kit::client_metadata();
        meta.jwks = Some(json!({ "keys": [serde_json::to_value(public.as_ref()).unwrap()] }));
        meta.id_token_encryption = Some(Encryption {
            alg: alg.into(),
            enc: "A256GCM".into(),
        });
        meta.userinfo_signed_response_alg = Some("ES256".into());
        meta.userinfo_encryption = Some(Encryption {
            alg: alg.into(),
            enc: "A256GCM".into(),
        });
        let secret = kit::register_client(&app, client_id, &meta).unwrap();
        let request = manual_authorize(&app.base, client_id, "openid profile", &[]);
        let code = code(&mut browser, &request, &citizen).await;
        let (status, tokens) = exchange(&app, &code, &request.verifier, (client_id, &secret)).await;
        assert_eq!(status, 200, "{tokens}");

        // The inner token verifies with the openidconnect crate, nonce included.
        let inner = decrypt(tokens["id_token"].as_str().unwrap(), decrypter.as_ref());
        let id_token: CoreIdToken = inner.parse().unwrap();
        let client = rp::client(&app.base, client_id, Some(&secret), REDIRECT_URI).await;
        let claims = id_token
            .claims(
                &client.id_token_verifier(),
                &Nonce::new(request.nonce.clone()),
            )
            .expect("inner ID token verifies");
        assert_eq!(claims.auth_context_ref().unwrap().as_str(), "eidas1");

        let response = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "application/jwt");
        let inner = decrypt(&response.text().await.unwrap(), decrypter.as_ref());
        let keys = app.get_json("/jwks").await;
        let kid = jwt::decode_header(&inner)
            .unwrap()
            .claim("kid")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        let jwk = keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .unwrap();
        let verifier = ES256
            .verifier_from_jwk(&Jwk::from_bytes(jwk.to_string()).unwrap())
            .unwrap();
        let (payload, _) = jwt::decode_with_verifier(&inner, &verifier).unwrap();
        assert_eq!(payload.claim("family_name"), Some(&json!("DURAND")));
        assert_eq!(payload.issuer(), Some(app.base.as_str()));
        assert_eq!(payload.audience(), Some(vec![client_id]));
    }
}

async fn logout_ends_the_session(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let secret = kit::register_client(&app, "rp", &kit::client_metadata()).unwrap();
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    let request = manual_authorize(&app.base, "rp", "openid", &[]);
    let code = code(&mut browser, &request, &citizen).await;
    let (_, tokens) = exchange(&app, &code, &request.verifier, ("rp", &secret)).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    assert!(browser.cookie("sesame_session").is_some());

    // A tampered hint is refused with a page, never a redirect.
    let mut tampered = id_token.clone().into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for hint in [tampered.as_str(), "not-a-jwt"] {
        let page = browser
            .get(&format!(
                "/logout?id_token_hint={hint}&post_logout_redirect_uri={POST_LOGOUT_URI}&state=s1"
            ))
            .await;
        assert_eq!(page.status, 400);
        assert!(page.location.is_none());
    }
    // An unregistered target is refused too.
    let page = browser
        .get(&format!(
            "/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/"
        ))
        .await;
    assert_eq!((page.status, page.location.is_none()), (400, true));
    assert!(
        browser.cookie("sesame_session").is_some(),
        "still logged in"
    );

    let page = browser
        .get(&format!(
            "/logout?id_token_hint={id_token}&post_logout_redirect_uri={POST_LOGOUT_URI}&state=s1"
        ))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some(format!("{POST_LOGOUT_URI}?state=s1").as_str())
    );
    assert!(browser.cookie("sesame_session").is_none(), "cookie cleared");
    // The next authorization needs a login again.
    let next = manual_authorize(&app.base, "rp", "openid", &[]);
    assert!(
        browser
            .get(&next.url)
            .await
            .location
            .unwrap()
            .contains("/login?tx=")
    );

    // Without a hint: a confirmation page, and the CSRF-protected form logs out.
    kit::code(&mut browser, &next, &citizen).await;
    let page = browser.get("/logout").await;
    assert_eq!(page.status, 200);
    let csrf = page.field("csrf").unwrap();
    let forged = browser.post("/logout/confirm", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, 400);
    assert!(browser.cookie("sesame_session").is_some());
    let done = browser.post("/logout/confirm", &[("csrf", &csrf)]).await;
    assert_eq!(done.status, 200);
    assert!(browser.cookie("sesame_session").is_none());
}

/// Serves `body` at http://127.0.0.1:PORT/jwks, as a relying party would.
fn serve_jwks(body: String) -> String {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let body = body.clone();
        App::new().route(
            "/jwks",
            web::get().to(move || {
                let body = body.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/jwks")
}

async fn private_key_jwt_with_keys_from_jwks_uri(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let key = ES256.generate_key_pair().unwrap();
    let mut public = key.to_jwk_public_key();
    public.set_key_id("remote-1");
    let uri =
        serve_jwks(json!({ "keys": [serde_json::to_value(public.as_ref()).unwrap()] }).to_string());
    let mut meta = kit::client_metadata();
    meta.auth_method = ClientAuthMethod::PrivateKeyJwt;
    meta.jwks_uri = Some(uri);
    let client_id = "rp-jwt";
    kit::register_client(&app, client_id, &meta);
    let citizen = kit::create_citizen(&app, true);
    let mut browser = Browser::new(&app.base);
    let request = manual_authorize(&app.base, client_id, "openid", &[]);
    let code = code(&mut browser, &request, &citizen).await;
    let signed = assertion(&key, "remote-1", &app.url("/token"), 60, "remote-jti");
    let (status, _, body) = post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &request.verifier),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &signed),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
