#!/usr/bin/env python3
"""Writes the response target's seed corpus from real Keliweb/Passport bodies: each group below
names the section of docs/passport.md that describes it.

Layout: [kind][status u16 BE][header count][name len, name, value len, value]...[body]
kind: 0 password grant, 1 refresh grant, 2 revocation.
"""
import json, pathlib, re, struct, urllib.parse

OK = b'{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiIxIn0.c2ln","refresh_token":"def50200a1b2c3"}'
BODIES = {
    # docs/passport.md#success-body
    "success": (200, OK, []),
    "success-string-expiry": (200, b'{"token_type":"bearer","expires_in":"3600","access_token":"a.b.c"}', []),
    # docs/passport.md#token-endpoint-errors (bodies shaped as in #error-shapes)
    "invalid-client": (401, b'{"error":"invalid_client","error_description":"Client authentication failed","message":"Client authentication failed"}', []),
    "invalid-credentials-v7": (401, b'{"error":"invalid_credentials","message":"The user credentials were incorrect."}', []),
    "invalid-grant-v8": (400, b'{"error":"invalid_grant","error_description":"The user credentials were incorrect.","hint":"","message":"The user credentials were incorrect."}', []),
    "refresh-revoked-v8": (401, b'{"error":"invalid_request","error_description":"The refresh token is invalid.","hint":"Token has been revoked","message":"The refresh token is invalid."}', []),
    "refresh-expired-v9": (400, b'{"error":"invalid_grant","error_description":"The refresh token is invalid.","hint":"Token has expired"}', []),
    "missing-parameter": (400, b'{"error":"invalid_request","error_description":"The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.","hint":"Check the `username` parameter"}', []),
    "unsupported-grant": (400, b'{"error":"unsupported_grant_type","error_description":"The authorization grant type is not supported by the authorization server."}', []),
    # docs/passport.md#server-failures
    "server-error": (500, b'{"error":"server_error","error_description":"The authorization server encountered an unexpected condition which prevented it from fulfilling the request."}', []),
    "plain-500": (500, b"Server Error", []),
    # docs/passport.md#throttle
    "throttled": (429, b'{"message":"Too Many Attempts."}', [(b"retry-after", b"60"), (b"x-ratelimit-limit", b"60")]),
    "throttled-date": (429, b"Too Many Attempts.", [(b"retry-after", b"Wed, 21 Oct 2015 07:28:00 GMT")]),
    # docs/passport.md#redirects
    "redirect": (302, b"", [(b"location", b"/login")]),
    "html-200": (200, b"<!DOCTYPE html><html><head><title>Login</title></head><body>Login</body></html>", []),
    # docs/passport.md#api-401 and #validation-errors: API answers a token request never gets
    "unauthenticated": (401, b'{"message":"Unauthenticated."}', []),
    "validation-422": (422, b'{"message":"The given data was invalid.","errors":{"username":["required"]}}', []),
    # docs/passport.md#error-shapes in the wrong place: what a proxy or a bug sends
    "error-in-200": (200, b'{"error":"invalid_request","error_description":"x","hint":"y"}', []),
    # docs/passport.md#revocation: a logout's empty answer
    "empty-204": (204, b"", []),
}

# The response target's secrets (fuzz/fuzz_targets/response.rs), echoed the ways servers do.
SECRETS = ['fz-client&"<+ %\u00e4\\/s9f3k', 'fz-pass "<&+%\u00f6\\/wq8z1',
           'fz-access&"<+%\\/tc7m2', 'fz-refresh "&<+%\u00e4\\/rx4v6']
NAMED = {"&": "amp", '"': "quot", "<": "lt", ">": "gt", "\u00e4": "auml", "\u00f6": "ouml"}

def php_json(text):
    return json.dumps(text)[1:-1].replace("/", "\\/")

def laravel_json(text):
    out = php_json(text)
    for c in "&\"<>'":
        out = out.replace(json.dumps(c)[1:-1], "\\u%04X" % ord(c))
    return out

def htmlentities(text):
    return "".join("&%s;" % NAMED[c] if c in NAMED else c for c in text)

def numeric(text, form):
    return "".join(c if c.isalnum() and c.isascii() else form % ord(c) for c in text)

FORMS = {
    "raw": lambda s: s,
    "html": htmlentities,
    "decimal": lambda s: numeric(s, "&#%d;"),
    "hex": lambda s: numeric(s, "&#X%X;"),
    "urlencode": lambda s: urllib.parse.quote_plus(s),
    "rawurlencode-lower": lambda s: re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(),
                                           urllib.parse.quote(s, safe="-_.~")),
    "json-of-html": lambda s: laravel_json(htmlentities(s)),
}
for name, form in FORMS.items():
    echoes = [form(secret) for secret in SECRETS]
    description = php_json(" | ".join(echoes))
    BODIES["echo-fields-" + name] = (400, ('{"error":"invalid_request","error_description":"%s",'
        '"hint":"%s","message":"%s"}' % (description, description, description)).encode(), [])
    BODIES["echo-plain-" + name] = (500, ("password=%s&client_secret=%s&token=%s" % (
        echoes[1], echoes[0], echoes[2])).encode(), [])
BODIES["echo-token-type"] = (200, ('{"token_type":"%s","access_token":"a"}'
    % laravel_json(htmlentities(SECRETS[2]))).encode(), [])
BODIES["echo-own-token"] = (200, ('{"access_token":"a.b","refresh_token":"%s","expires_in":"%s"}'
    % (php_json("issued-%26" + SECRETS[3]), php_json(urllib.parse.quote_plus("issued-%26" + SECRETS[3])))).encode(), [])

def encode(kind, status, body, headers):
    out = bytes([kind]) + struct.pack(">H", status - 100) + bytes([len(headers)])
    for name, value in headers:
        out += bytes([len(name)]) + name + bytes([len(value)]) + value
    return out + body

corpus = pathlib.Path(__file__).parent / "corpus" / "response"
corpus.mkdir(parents=True, exist_ok=True)
for name, (status, body, headers) in BODIES.items():
    for kind in (0, 1, 2):
        (corpus / f"seed-{name}-{kind}").write_bytes(encode(kind, status, body, headers))
