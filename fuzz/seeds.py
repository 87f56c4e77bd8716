#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into fuzz/seeds/<target>/ from the sample events in
events/, and a few made-up inputs for what the events lack. The inputs are plain text, as the
targets read them: `name: value` header lines (`:path: /p?q=1` for the path and query), an
empty line, then the body (see fuzz/src/lib.rs)."""

import base64
import json
import pathlib
import shutil
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"

# Which sample events seed which target.
EVENTS = {
    "api_key": ["ingest-order", "trigger-webhooks-workflow", "email-webhooks-inbound-email"],
    "shopify": [
        "shopify-webhooks-orders-fulfilled",
        "shopify-webhooks-customers-create",
        "shopify-webhooks-gdpr-data-request",
    ],
    "stripe": ["stripe-webhooks-invoice-payment-failed", "stripe-webhooks-subscription-created"],
    "svix": ["email-webhooks-resend-received"],
    "slack": ["slack-webhooks-message"],
    "twilio": ["sms-webhooks-message"],
    "meta": ["whatsapp-webhooks-message", "messenger-webhooks-message"],
    "dialpad_jwt": ["dialpad-webhooks-call"],
    "multipart": ["attachments-upload", "widget-upload"],
}

# Bodies alone: the targets that read raw bytes.
BODIES = {
    "ingest_body": ["ingest-order"],
    "sns_message": ["amazon-webhooks-notification"],
    "raw_mail": ["email-webhooks-inbound-email"],
}

MADE_UP = {
    "api_key": {
        "valid-key": "x-api-key: hg_live_" + "a" * 20 + "_" + "b" * 40 + "\n\n",
        "valid-trigger-token": "authorization: Bearer wh_" + "c" * 20 + "_" + "d" * 40 + "\n\n",
        "widget-key": "x-api-key: hg_pub_" + "e" * 12 + "_" + "f" * 20 + "\n\n",
        "session-token": "authorization: bearer ws_" + "g" * 12 + "_" + "h" * 40 + "\n\n",
    },
    "ingest_body": {
        "customer": json.dumps({"type": "customer", "customer": {"email": "Max@Example.com", "name": "Max"}}),
        "product": json.dumps({"type": "product", "product": {"sku": 4521, "name": "Headphones"}}),
        "event": json.dumps(
            {"type": "event", "event": "shipping_delay", "data": {"affected_orders": ["4521", 4522], "days": 2}}
        ),
        "other": json.dumps({"type": "loyalty:points", "points": 12}),
    },
    "conditions": {
        "endpoint": json.dumps(
            {
                "conditions": {
                    "status": {"in": ["shipped", "delivered"]},
                    "resolution.type": {"eq": "solved"},
                    "satisfaction_score": {"lt": 3, "exists": True},
                    "customer.name": {"gte": "M", "ne": None},
                },
                "include_fields": ["order_number", "status", "customer.name", "resolution.type.code"],
                "data": {
                    "order_number": "4521",
                    "status": "shipped",
                    "satisfaction_score": 2,
                    "customer": {"name": "Max", "email": "max@example.com"},
                    "resolution": {"type": "solved"},
                },
            }
        ),
    },
    "sns_message": {
        "subscription-confirmation": json.dumps(
            {
                "Type": "SubscriptionConfirmation",
                "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
                "Token": "2336412f37",
                "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
                "Message": "You have chosen to subscribe to the topic.",
                "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37",
                "Timestamp": "2012-04-26T20:45:04.751Z",
                "SignatureVersion": "2",
                "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
                "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
            }
        ),
    },
    "raw_mail": {
        "multipart-with-attachment": (
            "From: \"Jane Doe\" <Jane@Example.com>\r\n"
            "To: support@shop.com, \"Desk\" <desk+orders@shop.com>\r\n"
            "Cc: <team@shop.com>\r\n"
            "Subject: =?UTF-8?Q?Wo_ist_meine_Bestellung=3F?=\r\n"
            "Message-ID: <m2@example.com>\r\n"
            "In-Reply-To: <m1@shop.com>\r\n"
            "References: <m0@example.com> <m1@shop.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
            "\r\n"
            "--b\r\n"
            "Content-Type: text/plain; charset=iso-8859-1\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
            "Gr=FC=DFe\r\n"
            "--b\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "\r\n"
            "<p>Gr&uuml;&szlig;e<br>Jane</p>\r\n"
            "--b\r\n"
            "Content-Type: application/pdf; name=\"invoice.pdf\"\r\n"
            "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "\r\n"
            "JVBERi0xLjQK\r\n"
            "--b--\r\n"
        ),
    },
    "mail_text": {
        "address-list": "\"Doe, Jane\" <Jane@Example.com>, max+orders@shop.example, <team@shop.com>",
        "message-ids": "<a@x.example> <b@y.example>,<c@z.example>",
        "subject": "Re: AW: Fwd[2]: WG:  Where is my   order?",
        "html": "<html><style>p{}</style><p>Hello&nbsp;<b>Max</b></p><br/>&lt;3<script>x()</script></html>",
        "domain": "@Example.COM",
    },
}


def event(name):
    return json.loads((ROOT / "events" / f"{name}.json").read_text())


def body_of(sample):
    body = sample.get("body") or ""
    return base64.b64decode(body) if sample.get("isBase64Encoded") else body.encode()


def as_request(sample):
    lines = [f"{name}: {value}" for name, value in (sample.get("headers") or {}).items()]
    if sample.get("rawQueryString"):
        lines.append(f":path: {sample['rawPath']}?{sample['rawQueryString']}")
    return ("\n".join(lines) + "\n\n").encode() + body_of(sample)


def certificate():
    """A self-signed RSA certificate, as SNS serves its signing certificate."""
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-subj", "/CN=sns.example",
             "-days", "1", "-keyout", f"{scratch}/key.pem", "-out", f"{scratch}/cert.pem"],
            check=True, capture_output=True,
        )
        return pathlib.Path(scratch, "cert.pem").read_bytes()


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    seeds = {}
    for target, names in EVENTS.items():
        for name in names:
            seeds[(target, name)] = as_request(event(name))
    for target, names in BODIES.items():
        for name in names:
            seeds[(target, name)] = body_of(event(name))
    for target, inputs in MADE_UP.items():
        for name, text in inputs.items():
            seeds[(target, name)] = text.encode()
    seeds[("sns_message", "amazon-notifications-sns")] = json.dumps(
        event("amazon-notifications-sns")["Records"][0]["Sns"]
    ).encode()
    seeds[("sns_certificate", "rsa-certificate")] = certificate()
    for (target, name), data in seeds.items():
        path = SEEDS / target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


if __name__ == "__main__":
    main()
