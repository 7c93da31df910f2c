"""A staff account's first login and enrolment, with other people's tools: the authenticator app
is pyotp (reading the otpauth:// URI the service hands out, as a phone app scanning the QR code
would), and the tokens are checked with PyJWT told only the issuer, as another service would.
The enrolment-only token must be refused by such a service (its audience is not the platform's);
the token after the second factor must verify, with `amr` and `auth_time`.
Usage: python3 contract/verify_totp.py ISSUER EMAIL PASSWORD"""
import base64
import importlib.metadata
import json
import sys
import time
import urllib.error
import urllib.request

import jwt
import pyotp

issuer, email, password = sys.argv[1], sys.argv[2], sys.argv[3]
api = f"{issuer}/api/v1"


def call(method, path, body=None, token=None):
    request = urllib.request.Request(f"{api}{path}", method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration") as answer:
    discovery = json.load(answer)
keys = jwt.PyJWKClient(discovery["jwks_uri"])


def verify(token):
    return jwt.decode(
        token,
        keys.get_signing_key_from_jwt(token),
        algorithms=discovery["id_token_signing_alg_values_supported"],
        issuer=issuer,
        audience="blog-platform",
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )


status, login = call("POST", "/auth/login", {"email": email, "password": password})
assert status == 200 and login["second_factor_enrolment_required"] is True, (status, login)
enrolment_only = login["access_token"]
try:
    verify(enrolment_only)
    raise SystemExit("PyJWT accepted an enrolment-only token as a platform token")
except jwt.InvalidAudienceError:
    pass

status, enrolment = call("POST", "/auth/factors/totp", token=enrolment_only)
assert status == 201, (status, enrolment)
app = pyotp.parse_uri(enrolment["otpauth_uri"])
assert app.secret == enrolment["secret"] and app.issuer and app.name == email, enrolment["otpauth_uri"]
assert base64.b64decode(enrolment["qr_code"].split(",", 1)[1]).startswith(b"\x89PNG")
status, codes = call("POST", "/auth/factors/totp/confirm", {"code": app.now()}, token=enrolment_only)
assert status == 200 and len(codes["recovery_codes"]) == 10, (status, codes)

status, challenge = call("POST", "/auth/login", {"email": email, "password": password})
assert status == 200 and "access_token" not in challenge, challenge
# The confirmation used this 30-second step's code: the next step's is what is left (a code
# works once), and the service accepts a step either side.
code = app.at(time.time() + 30)
status, tokens = call("POST", "/auth/login/second_factor", {"challenge": challenge["challenge"], "code": code})
assert status == 200, (status, tokens)
claims = verify(tokens["access_token"])
assert claims["amr"] == ["pwd", "otp", "mfa"] and abs(claims["auth_time"] - time.time()) < 60, claims
status, replay = call("POST", "/auth/login", {"email": email, "password": password})
status, refused = call("POST", "/auth/login/second_factor", {"challenge": replay["challenge"], "code": code})
assert status == 401 and refused["code"] == "invalid_second_factor", (status, refused)
print(f"pyotp {importlib.metadata.version('pyotp')}: enrolled from the otpauth URI, signed in with its code "
      f"(replayed: {refused['code']}); PyJWT refused the enrolment-only token and verified amr={claims['amr']}")
