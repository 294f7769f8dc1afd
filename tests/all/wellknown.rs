//! Discovery, JWKS, probes, metrics and the headers every response carries.

use std::collections::HashSet;

use idp_server::crypto::SigningAlg;
use idp_tests::{Backend, TestEnv, both_backends};
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier, PS256, RS256};
use josekit::jwt::{self, JwtPayload};

both_backends!(
    discovery_advertises_only_what_exists,
    jwks_publishes_every_signing_key_without_private_parts,
    probes_and_metrics,
    security_headers_and_request_ids,
);

async fn discovery_advertises_only_what_exists(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let response = app.get("/.well-known/openid-configuration").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        doc["issuer"], app.base,
        "issuer is the public URL, no trailing slash"
    );
    assert_eq!(doc["jwks_uri"], app.url("/jwks"));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256", "PS256"])
    );
    // Every endpoint or URI the document advertises is served by this server.
    for (field, value) in doc.as_object().unwrap() {
        if field.ends_with("_endpoint") || field.ends_with("_uri") {
            let url = value.as_str().unwrap();
            assert!(
                url.starts_with(&app.base),
                "{field} points elsewhere: {url}"
            );
            let status = app.http.get(url).send().await.unwrap().status();
            assert_ne!(status, 404, "{field} advertised but not served");
        }
    }
}

fn verifier(alg: &str, jwk: &Jwk) -> Box<dyn JwsVerifier> {
    match alg {
        "ES256" => Box::new(ES256.verifier_from_jwk(jwk).unwrap()),
        "RS256" => Box::new(RS256.verifier_from_jwk(jwk).unwrap()),
        "PS256" => Box::new(PS256.verifier_from_jwk(jwk).unwrap()),
        other => panic!("unexpected alg {other}"),
    }
}

async fn jwks_publishes_every_signing_key_without_private_parts(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let jwks = app.get_json("/jwks").await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    let mut kids = HashSet::new();
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(
            kids.insert(key["kid"].as_str().unwrap().to_owned()),
            "kids are distinct"
        );
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(key.get(private).is_none(), "JWKS leaks {private}");
        }
    }
    // A token signed by the server's active key verifies with the published key
    // that the `kid` header names — what any relying party library does.
    let set = app.core.keys.current();
    for alg in SigningAlg::ALL {
        let signer = set.signer(alg).unwrap();
        let mut payload = JwtPayload::new();
        payload.set_issuer(&app.base);
        let token = signer.sign_jwt(&payload, "JWT").unwrap();
        let header = jwt::decode_header(&token).unwrap();
        let kid = header.claim("kid").unwrap().as_str().unwrap();
        let published = keys
            .iter()
            .find(|k| k["kid"] == kid)
            .expect("kid is published");
        assert_eq!(published["alg"], alg.as_str());
        let jwk = Jwk::from_bytes(published.to_string().as_bytes()).unwrap();
        let (claims, _) =
            jwt::decode_with_verifier(&token, verifier(alg.as_str(), &jwk).as_ref()).unwrap();
        assert_eq!(claims.issuer(), Some(app.base.as_str()));
    }
}

async fn probes_and_metrics(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    let (db, eph) = match backend {
        Backend::Embedded => ("sqlite", "memory"),
        Backend::PostgresRedis => ("postgres", "redis"),
    };
    assert_eq!(ready["database_backend"], db);
    assert_eq!(ready["ephemeral_backend"], eph);

    for _ in 0..3 {
        app.get("/jwks").await;
    }
    app.get("/no-such-place-7f3a").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"idp_http_requests_total{method="GET",route="/jwks",status="200"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="unmatched",status="404""#),
        "{metrics}"
    );
    assert!(
        !metrics.contains("no-such-place"),
        "raw paths never become labels"
    );
    assert!(metrics.contains("idp_http_request_duration_seconds_bucket"));
}

async fn security_headers_and_request_ids(backend: Backend) {
    let env = TestEnv::new(backend);
    let app = env.spawn().await;
    for path in ["/.well-known/openid-configuration", "/readyz", "/nowhere"] {
        let response = app.get(path).await;
        let h = response.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h["x-request-id"].len(), 32, "{path}: generated id");
    }
    assert_eq!(
        app.get("/readyz").await.headers()["cache-control"],
        "no-store"
    );
    let not_found = app.get("/nowhere").await;
    assert_eq!(not_found.headers()["cache-control"], "no-store");
    assert_eq!(not_found.status(), 404);
    let body: serde_json::Value = not_found.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert_eq!(
        app.get("/jwks").await.headers()["cache-control"],
        "public, max-age=60"
    );

    let echoed = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "lb-1234_abc")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "lb-1234_abc");
    let replaced = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id <script>")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id <script>");
}
