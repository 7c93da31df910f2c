"""Verifies an access token with PyJWT the way another service would, told only the issuer's
URL: the OpenID discovery document, the JWKS it names, the one algorithm it gives.
Usage: python3 contract/verify_pyjwt.py ISSUER TOKEN_FILE"""
import json
import sys
import urllib.request

import jwt

issuer, token_file = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration") as answer:
    discovery = json.load(answer)
assert discovery["issuer"] == issuer, discovery
token = open(token_file).read().strip()
key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(token)
claims = jwt.decode(
    token,
    key,
    algorithms=discovery["id_token_signing_alg_values_supported"],
    issuer=issuer,
    audience="blog-platform",
    options={"require": ["exp", "iat", "iss", "aud", "sub"]},
)
print(f"PyJWT {jwt.__version__}: verified {claims['sub']} ({claims['role']}) with {key.algorithm_name}")
