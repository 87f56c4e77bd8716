"""Signs chat and phone webhook fixtures the way each provider signs them, for the tests.

    python tests/sign_channel.py meta   <app_secret> <body>
    python tests/sign_channel.py slack  <signing_secret> <timestamp> <body>
    python tests/sign_channel.py twilio <auth_token> <url> <params_json> [HMAC_SHA1|HMAC_SHA256]
    python tests/sign_channel.py jwt    <secret> <payload_json>

Any <body>, <params_json> or <payload_json> may be given as @path to read it from a file, or as
@- to read it from standard input; bodies are signed byte for byte as read. Only the result is
printed on stdout, followed by a newline.

Each provider's own library signs where one exists; Meta publishes none, so its documented
recipe is used:

- meta: Meta signs every webhook (WhatsApp Cloud API, Messenger, Instagram) in the
  X-Hub-Signature-256 header as `sha256=` and the lowercase hex HMAC-SHA256 of the raw request
  body under the app secret ("Validate Payloads",
  https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads).
  Meta signs the body as it sends it, with non-ASCII characters escaped as \\uXXXX, so a
  fixture must be signed and sent as the same bytes.
- slack: `slack_sdk.signature.SignatureVerifier(signing_secret).generate_signature(timestamp=,
  body=)`, the `v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">` value of X-Slack-Signature
  (https://docs.slack.dev/authentication/verifying-requests-from-slack/).
- twilio: `twilio.request_validator.RequestValidator(auth_token).compute_signature(url, params)`,
  the X-Twilio-Signature value: base64 of HMAC-SHA1 over the full URL followed by each form
  field's name and value, fields sorted by name
  (https://www.twilio.com/docs/usage/webhooks/webhooks-security). <params_json> is a JSON object
  of the form fields; a field sent more than once is given as a list of its values. The optional
  last argument picks the algorithm (HMAC_SHA256 is used by webhooks that carry
  X-Twilio-Webhooks-Signature-Settings: ...,algorithm=HMAC_SHA256).
- jwt: `jwt.encode(payload, secret, algorithm="HS256")` (PyJWT). Dialpad sends each event as a
  JWT signed with the secret shared when the webhook was created, signature
  {"type": "jwt", "algo": "HS256"} (https://developers.dialpad.com/docs/event-subscriptions).
"""

import hashlib
import hmac
import json
import sys
import warnings

USAGE = __doc__.split("\n\n")[1]


def fail(message):
    print(f"sign_channel: {message}\n\nusage:\n{USAGE}", file=sys.stderr)
    sys.exit(2)


def read_bytes(argument):
    if argument == "@-":
        return sys.stdin.buffer.read()
    if argument.startswith("@"):
        with open(argument[1:], "rb") as source:
            return source.read()
    return argument.encode("utf-8")


def read_json(argument, what):
    try:
        value = json.loads(read_bytes(argument))
    except (UnicodeDecodeError, ValueError) as problem:
        fail(f"{what} is not JSON: {problem}")
    if not isinstance(value, dict):
        fail(f"{what} must be a JSON object")
    return value


class FormFields(dict):
    """Form fields as twilio's RequestValidator reads a MultiDict: every value of a field."""

    def getall(self, name):
        return list(self[name])


def sign_meta(app_secret, body):
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), read_bytes(body), hashlib.sha256).hexdigest()


def sign_slack(signing_secret, timestamp, body):
    from slack_sdk.signature import SignatureVerifier

    return SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=read_bytes(body))


def sign_twilio(auth_token, url, params_json, algorithm=None):
    from twilio.request_validator import RequestValidator

    fields = FormFields()
    for name, value in read_json(params_json, "<params_json>").items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            fail(f"form field {name!r} must be a string or a list of strings")
        fields[name] = values
    return RequestValidator(auth_token).compute_signature(url, fields, algorithm)


def sign_jwt(secret, payload_json):
    import jwt

    payload = read_json(payload_json, "<payload_json>")
    with warnings.catch_warnings():
        # Test secrets are short; PyJWT's advice about key length is not for fixtures.
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(payload, secret, algorithm="HS256")


COMMANDS = {
    "meta": (sign_meta, (2,)),
    "slack": (sign_slack, (3,)),
    "twilio": (sign_twilio, (3, 4)),
    "jwt": (sign_jwt, (2,)),
}


def main(argv):
    if not argv or argv[0] not in COMMANDS:
        fail("name a provider: " + ", ".join(COMMANDS))
    command, counts = COMMANDS[argv[0]]
    if len(argv) - 1 not in counts:
        fail(f"wrong number of arguments for {argv[0]}")
    print(command(*argv[1:]))


if __name__ == "__main__":
    main(sys.argv[1:])
