#!/usr/bin/env python3
"""A relying party written with Python's authlib, run against Sésame.

It proves that a mainstream non-Rust OpenID Connect library interoperates with
the provider: authorization code flow with PKCE (S256), state, nonce and
acr_values=eidas1; the login and consent pages are driven by a plain
`requests.Session` standing in for the browser; the code is redeemed with
authlib's `OAuth2Session` (client_secret_basic, state checked by authlib); the
ID token is verified by authlib (joserfc signature check against the
provider's JWKS, then `authlib.oidc.core.CodeIDToken`: iss, aud, exp, iat,
nonce, acr, at_hash); finally userinfo is fetched with the access token.

Usage (normally through tests/scripts/python-rp.sh, which prepares a venv):

    rp.py ISSUER CLIENT_ID CLIENT_SECRET EMAIL PASSWORD REDIRECT_URI

    ISSUER        e.g. http://127.0.0.1:8080 (discovery is ISSUER/.well-known/openid-configuration)
    CLIENT_ID     a confidential client registered with client_secret_basic,
                  REDIRECT_URI among its redirect URIs and eidas1 allowed
    CLIENT_SECRET its secret
    EMAIL         an account with a verified identity ...
    PASSWORD      ... and this password
    REDIRECT_URI  the client's redirect URI; it is never contacted (the flow
                  stops at the provider's redirect to it)

Output: on success, one JSON line on stdout:
    {"sub": ..., "acr": ..., "given_name": ..., "family_name": ...,
     "birthplace": ..., "userinfo_sub_matches": true|false}
(identity claims are the userinfo's). On any failure: a message starting
with "rp.py: " on stderr and exit status 1 (2 for a usage error).

Environment proxies are ignored (`trust_env = False`): the provider under test
is local, and an HTTP(S)_PROXY meant for package downloads must not capture it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

TIMEOUT = 20
SCOPE = "openid profile birth"
ACR = "eidas1"
# The algorithm the client registered for its ID tokens (Sésame's default).
ID_TOKEN_ALG = "ES256"


class Failure(Exception):
    """A check of the relying party failed."""


# ------------------------------------------------------------------ browser


class _Forms(HTMLParser):
    """Collects the forms of a page: action, method, and name=value of each
    input and of each named submit button."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._current = {
                "action": a.get("action", ""),
                "method": a.get("method", "get").lower(),
                "fields": {},
                "buttons": [],
            }
            self.forms.append(self._current)
        elif self._current is not None and tag in ("input", "button"):
            name = a.get("name")
            if not name:
                return
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            if kind == "submit":
                self._current["buttons"].append((name, a.get("value", "")))
            else:
                self._current["fields"][name] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def find_form(page: requests.Response, action: str) -> dict:
    parser = _Forms()
    parser.feed(page.text)
    for form in parser.forms:
        if urlsplit(urljoin(page.url, form["action"])).path == action:
            return form
    raise Failure(
        f"no form posting to {action} on {page.url} (HTTP {page.status_code}); "
        f"forms: {[f['action'] for f in parser.forms]}; page starts: {page.text[:300]!r}"
    )


def redirect_target(response: requests.Response, what: str) -> str:
    if response.status_code not in (302, 303):
        raise Failure(
            f"{what}: expected a 302/303 redirect, got HTTP {response.status_code} "
            f"from {response.url}: {response.text[:300]!r}"
        )
    location = response.headers.get("Location")
    if not location:
        raise Failure(f"{what}: redirect without a Location header")
    return urljoin(response.url, location)


def expect_path(url: str, issuer: str, path: str, what: str) -> None:
    parts, base = urlsplit(url), urlsplit(issuer)
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or parts.path != path:
        raise Failure(f"{what}: expected a redirect to {issuer}{path}?…, got {url}")


def browse(issuer: str, authorization_url: str, email: str, password: str, redirect_uri: str) -> str:
    """Plays the person's browser from the authorization URL to the redirect
    back to the client; returns that callback URL (not followed)."""
    browser = requests.Session()
    browser.trust_env = False
    browser.headers["Accept-Language"] = "fr"

    def get(url):
        return browser.get(url, allow_redirects=False, timeout=TIMEOUT)

    def post(url, data):
        return browser.post(url, data=data, allow_redirects=False, timeout=TIMEOUT)

    login_url = redirect_target(get(authorization_url), "authorization request")
    expect_path(login_url, issuer, "/login", "authorization request")
    page = get(login_url)
    if page.status_code != 200:
        raise Failure(f"GET {login_url}: HTTP {page.status_code}: {page.text[:300]!r}")
    form = find_form(page, "/login")
    for hidden in ("tx", "csrf"):
        if not form["fields"].get(hidden):
            raise Failure(f"login form without a {hidden} value")
    data = dict(form["fields"], email=email, password=password)
    next_url = redirect_target(post(urljoin(page.url, form["action"]), data), "login")

    if urlsplit(next_url).path == "/consent":
        page = get(next_url)
        if page.status_code != 200:
            raise Failure(f"GET {next_url}: HTTP {page.status_code}: {page.text[:300]!r}")
        form = find_form(page, "/consent")
        if ("decision", "approve") not in form["buttons"]:
            raise Failure(f"consent form without an approve button: {form['buttons']}")
        data = dict(form["fields"], decision="approve")
        next_url = redirect_target(post(urljoin(page.url, form["action"]), data), "consent")

    if not next_url.startswith(redirect_uri + "?"):
        raise Failure(f"expected the redirect to {redirect_uri}?…, got {next_url}")
    return next_url


# ------------------------------------------------------------------ the RP


def get_json(session: requests.Session, url: str, what: str) -> dict:
    response = session.get(url, timeout=TIMEOUT)
    if response.status_code != 200:
        raise Failure(f"{what} ({url}): HTTP {response.status_code}: {response.text[:300]!r}")
    try:
        return response.json()
    except ValueError as e:
        raise Failure(f"{what} ({url}): not JSON: {e}") from e


def run(issuer: str, client_id: str, client_secret: str, email: str, password: str, redirect_uri: str) -> dict:
    issuer = issuer.rstrip("/")
    plain = requests.Session()
    plain.trust_env = False
    metadata = get_json(plain, f"{issuer}/.well-known/openid-configuration", "discovery")
    if metadata.get("issuer") != issuer:
        raise Failure(f"discovery issuer {metadata.get('issuer')!r} is not {issuer!r}")
    for needed in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        if not metadata.get(needed):
            raise Failure(f"discovery lacks {needed}")
    if "S256" not in metadata.get("code_challenge_methods_supported", []):
        raise Failure("discovery does not list S256 in code_challenge_methods_supported")
    if ID_TOKEN_ALG not in metadata.get("id_token_signing_alg_values_supported", []):
        raise Failure(f"discovery does not list {ID_TOKEN_ALG} for ID tokens")

    client = OAuth2Session(
        client_id,
        client_secret,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        token_endpoint_auth_method="client_secret_basic",
        code_challenge_method="S256",
        default_timeout=TIMEOUT,
        trust_env=False,
    )
    code_verifier = generate_token(64)
    nonce = generate_token(24)
    authorization_url, state = client.create_authorization_url(
        metadata["authorization_endpoint"],
        code_verifier=code_verifier,
        nonce=nonce,
        acr_values=ACR,
    )

    callback = browse(issuer, authorization_url, email, password, redirect_uri)
    returned = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    if "error" in returned:
        raise Failure(f"authorization error: {returned}")
    # RFC 9207: the provider announces authorization_response_iss_parameter_supported.
    if metadata.get("authorization_response_iss_parameter_supported") and returned.get("iss") != issuer:
        raise Failure(f"callback iss {returned.get('iss')!r} is not {issuer!r}")

    # authlib parses the callback, compares its state with ours, sends the
    # code, redirect_uri and code_verifier with HTTP Basic client auth.
    token = client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        state=state,
        code_verifier=code_verifier,
    )
    for needed in ("access_token", "id_token"):
        if not token.get(needed):
            raise Failure(f"token response lacks {needed}: keys {sorted(token)}")
    if str(token.get("token_type", "")).lower() != "bearer":
        raise Failure(f"token_type {token.get('token_type')!r} is not Bearer")

    # ID token: signature with the provider's JWKS, then the OIDC claims rules.
    keys = KeySet.import_key_set(get_json(plain, metadata["jwks_uri"], "JWKS"))
    decoded = jwt.decode(
        token["id_token"],
        key=keys,
        registry=JWSRegistry(algorithms=[ID_TOKEN_ALG]),
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
            "sub": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
            "acr": {"essential": True, "value": ACR},
            "at_hash": {"essential": True},
        },
        {"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate(now=int(time.time()), leeway=30)
    # Belt and braces on the two checks the issue names explicitly.
    if claims["acr"] != ACR:
        raise Failure(f"acr {claims['acr']!r} is not {ACR!r}")
    digest = hashlib.sha256(token["access_token"].encode("ascii")).digest()
    expected_at_hash = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    if not hmac.compare_digest(claims["at_hash"], expected_at_hash):
        raise Failure("at_hash does not match the access token")

    # userinfo with the access token (authlib adds the Bearer header).
    response = client.get(metadata["userinfo_endpoint"])
    if response.status_code != 200:
        raise Failure(f"userinfo: HTTP {response.status_code}: {response.text[:300]!r}")
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        raise Failure(f"userinfo: unexpected Content-Type {response.headers.get('Content-Type')!r}")
    userinfo = response.json()

    return {
        "sub": claims["sub"],
        "acr": claims["acr"],
        "given_name": userinfo.get("given_name"),
        "family_name": userinfo.get("family_name"),
        "birthplace": userinfo.get("birthplace"),
        "userinfo_sub_matches": userinfo.get("sub") == claims["sub"],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 7:
        print(
            "usage: rp.py ISSUER CLIENT_ID CLIENT_SECRET EMAIL PASSWORD REDIRECT_URI",
            file=sys.stderr,
        )
        return 2
    try:
        result = run(*argv[1:])
    except Failure as e:
        print(f"rp.py: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # authlib, joserfc, requests: name the error class
        print(f"rp.py: {type(e).__module__}.{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
