"""A stand-in for the Resend HTTP API (https://api.resend.com), for the tests.

    python tests/resend_standin.py <port> [--api-key re_...]

Serves plain HTTP on 127.0.0.1:<port> (the tests wait for the port). Only the Python standard
library is used. Resend's endpoints, answered and checked as Resend documents them:

  POST /emails                                        send an email        -> 200 {"id": "<uuid>"}
  GET  /emails/receiving/<email_id>                   a received email     -> 200 {"object": "email", ...}
  GET  /emails/receiving/<email_id>/attachments       its attachments      -> 200 {"object": "list", ...}
  GET  /emails/receiving/<email_id>/attachments/<id>  one attachment       -> 200 {"object": "attachment", ...}

Every API request must carry `User-Agent` and `Authorization: Bearer <key>`; the key accepted is
the --api-key argument (default re_test_standin_key). Errors have Resend's shape,
{"statusCode": <status>, "name": "<error code>", "message": "..."}.

Control endpoints (not Resend's, no authentication):

  POST /_standin/received   {"email": {<received email, as GET /emails/receiving/<id> answers it,
                            without download URLs>}, "attachments": [{"id", "filename",
                            "content_type", "content_disposition", "content_id",
                            "content_base64"}], "raw_base64"?: "<the .eml>"} registers a received
                            email (missing fields get defaults; "attachments" replaces
                            email.attachments, sizes counted from the bytes) and answers
                            {"email": <as served>, "webhook": <the email.received event Resend
                            would post for it>}
  GET  /_standin/files/<email_id>/<attachment_id>|raw   the bytes behind a download_url
  GET  /_standin/sent       [{"headers": {lowercased name: value}, "body": <json>, "id": "<id>"}]
                            for every accepted POST /emails (idempotent replays are not sent again)
  GET  /_standin/refused    [{"headers", "body", "status", "error"}] for every POST /emails refused
  POST /_standin/fail-next  {"status": 500, "count": N, "name"?, "message"?, "retry_after"?}: the
                            next N POST /emails (past authentication) answer that status

Where each behaviour comes from (resend.com/docs):

- api-reference/introduction: base URL, `Authorization: Bearer re_...`, a `User-Agent` header is
  required and requests without one are refused with 403 (Cloudflare's "error code: 1010").
- api-reference/errors: the error names and statuses: missing_api_key 401, invalid_api_key 403,
  validation_error 400/422, missing_required_field 422, invalid_from_address 422,
  invalid_attachment 422, not_found 404, method_not_allowed 405, invalid_idempotency_key 400,
  invalid_idempotent_request 409, rate_limit_exceeded 429, application_error 500.
- api-reference/emails/send-email: the body fields (from, to, subject, bcc, cc, reply_to, html,
  text, headers, attachments, tags, scheduled_at, template, topic_id); `from` as
  `email@example.com` or `Name <email@example.com>`; `to` a string or an array of at most 50;
  attachments with `content` (Base64, or a byte array as resend-rs sends it) or `path`, plus
  filename, content_type (also contentType, as resend-rs names it) and content_id; tags of
  name/value in ASCII letters, digits, `_` and `-`, at most 256 characters. The answer {"id"}.
- dashboard/emails/idempotency-keys: `Idempotency-Key` of 1-256 characters; the same key with the
  same payload within 24 hours gives the same answer without sending again; with another payload,
  409 invalid_idempotent_request. Payloads are compared as parsed JSON, and only accepted sends
  are remembered, so a request refused or failed can be retried under its key.
- api-reference/emails/retrieve-received-email: the received email object (object "email", id, to,
  from, created_at, subject, html, text, headers, bcc, cc, reply_to, message_id, attachments
  [{id, filename, content_type, content_disposition, content_id, size}], raw {download_url,
  expires_at} or null); `html_format` is data_uri or cid and is echoed when given (the html is
  served as registered); 404 not_found for an unknown id.
- api-reference/emails/list-received-email-attachments and retrieve-received-email-attachment:
  {"object": "list", "has_more", "data": [{id, filename, size, content_type, content_disposition,
  content_id, download_url, expires_at}]}, limit 1-100 with after/before cursors, and the single
  attachment with "object": "attachment"; dashboard/receiving/attachments: download URLs valid for
  one hour.
- webhooks/emails/received: the email.received event {"type", "created_at", "data": {email_id,
  created_at, from, to, bcc, cc, message_id, subject, attachments [{id, filename, content_type,
  content_disposition, content_id}]}}, metadata only.

Stricter than Resend is known to be: top-level fields outside the documented ones are refused
(422 validation_error), and an optional field sent as null is refused rather than ignored.
"""

import argparse
import base64
import binascii
import json
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from standin_server import Server

IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
DOWNLOAD_URL_SECONDS = 3600
MAX_TO = 50

SEND_FIELDS = {
    "from", "to", "subject", "bcc", "cc", "reply_to", "html", "text", "headers", "attachments", "tags",
    "scheduled_at", "template", "topic_id",
}
ATTACHMENT_FIELDS = {"content", "filename", "path", "content_type", "contentType", "content_id"}

LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
ADDRESS = rf"[^\s@<>\"(),;:\[\]]+@{LABEL}(?:\.{LABEL})+"
BARE_ADDRESS = re.compile(rf"^{ADDRESS}$")
NAMED_ADDRESS = re.compile(rf'^(?:"[^"]*"|[^<>"]*?)\s*<{ADDRESS}>$')
TAG_PART = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

ADDRESS_FORMAT = "The email address needs to follow the `email@example.com` or `Name <email@example.com>` format."

LOCK = threading.Lock()
SENT = []
REFUSED = []
IDEMPOTENCY = {}  # key -> {"fingerprint", "at", "id"}
FAILURES = []  # one entry per POST /emails still to fail
RECEIVED = {}  # email_id -> {"email", "files": {attachment_id: (bytes, content_type)}, "raw": bytes | None}
CONFIG = {"api_key": "re_test_standin_key", "base": ""}


class Refusal(Exception):
    def __init__(self, status, name, message):
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


def now():
    return datetime.now(timezone.utc)


def iso_millis(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def is_address(value):
    return isinstance(value, str) and bool(BARE_ADDRESS.match(value) or NAMED_ADDRESS.match(value))


def check_recipients(body, field, required=False, maximum=None):
    value = body[field]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Refusal(422, "validation_error", f"The `{field}` field must be a `string` or an array of strings.")
    if required and not value:
        raise Refusal(422, "missing_required_field", f"Missing `{field}` field.")
    if maximum is not None and len(value) > maximum:
        raise Refusal(422, "validation_error", f"Too many recipients in the `{field}` field: the maximum is {maximum}.")
    for item in value:
        if not is_address(item):
            raise Refusal(422, "validation_error", f"Invalid `{field}` field. {ADDRESS_FORMAT}")


def check_attachment(index, attachment):
    where = f"`attachments[{index}]`"
    if not isinstance(attachment, dict):
        raise Refusal(422, "invalid_attachment", f"{where} must be an object.")
    unknown = sorted(set(attachment) - ATTACHMENT_FIELDS)
    if unknown:
        raise Refusal(422, "validation_error", f"Unknown field `{unknown[0]}` in {where}.")
    for name in ("filename", "path", "content_type", "contentType", "content_id"):
        if name in attachment and not isinstance(attachment[name], str):
            raise Refusal(422, "validation_error", f"The `{name}` field of {where} must be a `string`.")
    if "content" not in attachment and "path" not in attachment:
        raise Refusal(422, "invalid_attachment", "Attachment must have either a `content` or `path`.")
    if "content" in attachment:
        content = attachment["content"]
        if isinstance(content, str):
            try:
                base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise Refusal(422, "invalid_attachment", f"The `content` of {where} is not Base64.") from None
        elif not (
            isinstance(content, list)
            and all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in content)
        ):
            raise Refusal(422, "invalid_attachment", f"The `content` of {where} must be a Base64 string or a buffer.")


def check_send(headers, raw):
    """The parsed body of an acceptable POST /emails, or a Refusal."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise Refusal(400, "validation_error", "The request body must be JSON (`Content-Type: application/json`).")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "validation_error", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Refusal(422, "validation_error", "The request body must be a JSON object.")

    for field in ("from", "to", "subject"):
        if body.get(field) is None:
            raise Refusal(422, "missing_required_field", f"Missing `{field}` field.")
    unknown = sorted(set(body) - SEND_FIELDS)
    if unknown:
        raise Refusal(422, "validation_error", f"Unknown field `{unknown[0]}`.")
    for field in SEND_FIELDS & set(body):
        if body[field] is None:
            raise Refusal(422, "validation_error", f"The `{field}` field must not be null.")

    if not is_address(body["from"]):
        raise Refusal(422, "invalid_from_address", f"Invalid `from` field. {ADDRESS_FORMAT}")
    check_recipients(body, "to", required=True, maximum=MAX_TO)
    for field in ("cc", "bcc", "reply_to"):
        if field in body:
            check_recipients(body, field)
    for field in ("subject", "html", "text", "scheduled_at", "topic_id"):
        if field in body and not isinstance(body[field], str):
            raise Refusal(422, "validation_error", f"The `{field}` field must be a `string`.")

    if "template" in body:
        template = body["template"]
        if not isinstance(template, dict) or not isinstance(template.get("id"), str):
            raise Refusal(422, "validation_error", "The `template` field must be an object with a string `id`.")
        if "variables" in template and not isinstance(template["variables"], dict):
            raise Refusal(422, "validation_error", "The `template.variables` field must be an object.")
        if "html" in body or "text" in body:
            raise Refusal(422, "validation_error", "The `template` field cannot be used with `html` or `text`.")
    elif "html" not in body and "text" not in body:
        raise Refusal(422, "missing_required_field", "Missing `html` or `text` field.")

    if "headers" in body:
        custom = body["headers"]
        if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
            raise Refusal(422, "validation_error", "The `headers` field must be an object whose values are strings.")
    if "attachments" in body:
        if not isinstance(body["attachments"], list):
            raise Refusal(422, "validation_error", "The `attachments` field must be an array.")
        for index, attachment in enumerate(body["attachments"]):
            check_attachment(index, attachment)
    if "tags" in body:
        tags = body["tags"]
        if not isinstance(tags, list):
            raise Refusal(422, "validation_error", "The `tags` field must be an array.")
        for tag in tags:
            if (
                not isinstance(tag, dict)
                or set(tag) - {"name", "value"}
                or not isinstance(tag.get("name"), str)
                or not TAG_PART.match(tag["name"])
                or ("value" in tag and not (isinstance(tag["value"], str) and TAG_PART.match(tag["value"])))
            ):
                raise Refusal(
                    422,
                    "validation_error",
                    "Tags are {name, value} objects; names and values can only contain ASCII letters, numbers, "
                    "underscores or dashes, and no more than 256 characters.",
                )
    return body


def fingerprint(body):
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def download(email_id, name):
    return {
        "download_url": f"{CONFIG['base']}/_standin/files/{email_id}/{name}",
        "expires_at": iso_millis(now() + timedelta(seconds=DOWNLOAD_URL_SECONDS)),
    }


def register_received(request):
    """Stores a received email from the control payload; returns (email as served, webhook event)."""
    if not isinstance(request, dict) or not isinstance(request.get("email"), dict):
        raise ValueError('the body must be {"email": {...}, "attachments": [...]}')
    email = dict(request["email"])
    email_id = str(email.get("id") or uuid.uuid4())
    defaults = {
        "object": "email",
        "id": email_id,
        "to": [],
        "from": "Sender <sender@example.com>",
        "created_at": now().isoformat(),
        "subject": "",
        "html": None,
        "text": None,
        "headers": {},
        "bcc": [],
        "cc": [],
        "reply_to": [],
        "message_id": f"<{uuid.uuid4()}@standin.example>",
        "attachments": [],
    }
    email = {**defaults, **email, "id": email_id}
    files = {}
    if "attachments" in request:
        metadata = []
        for attachment in request["attachments"]:
            attachment_id = str(attachment.get("id") or uuid.uuid4())
            content = base64.b64decode(attachment.get("content_base64", ""), validate=True)
            content_type = attachment.get("content_type", "application/octet-stream")
            files[attachment_id] = (content, content_type)
            metadata.append({
                "id": attachment_id,
                "filename": attachment.get("filename"),
                "content_type": content_type,
                "content_disposition": attachment.get("content_disposition", "attachment"),
                "content_id": attachment.get("content_id"),
                "size": len(content),
            })
        email["attachments"] = metadata
    raw = base64.b64decode(request["raw_base64"], validate=True) if "raw_base64" in request else None
    email.pop("raw", None)
    with LOCK:
        RECEIVED[email_id] = {"email": email, "files": files, "raw": raw}
    webhook = {
        "type": "email.received",
        "created_at": iso_millis(now()),
        "data": {
            "email_id": email_id,
            "created_at": email["created_at"],
            "from": email["from"],
            "to": email["to"],
            "bcc": email["bcc"],
            "cc": email["cc"],
            "message_id": email["message_id"],
            "subject": email["subject"],
            "attachments": [
                {key: a.get(key) for key in ("id", "filename", "content_type", "content_disposition", "content_id")}
                for a in email["attachments"]
            ],
        },
    }
    return served_email(email_id), webhook


def served_email(email_id):
    with LOCK:
        stored = RECEIVED.get(email_id)
    if stored is None:
        return None
    email = dict(stored["email"])
    email["raw"] = download(email_id, "raw") if stored["raw"] is not None else None
    return email


def served_attachment(email_id, attachment):
    return {
        "id": attachment["id"],
        "filename": attachment.get("filename"),
        "size": attachment.get("size"),
        "content_type": attachment.get("content_type"),
        "content_disposition": attachment.get("content_disposition"),
        "content_id": attachment.get("content_id"),
        **download(email_id, attachment["id"]),
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload, headers=()):
        body = json.dumps(payload).encode()
        self.send_bytes(status, body, "application/json", headers)

    def send_bytes(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, name, message, headers=()):
        self.reply(status, {"statusCode": status, "name": name, "message": message}, headers)

    def read_body(self):
        return self.rfile.read(int(self.headers.get("content-length", 0) or 0))

    def lowered_headers(self):
        return {k.lower(): v for k, v in self.headers.items()}

    # Routing ---------------------------------------------------------------------------------

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def do_PATCH(self):
        self.route("PATCH")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        raw = self.read_body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
        if parts[:1] == ["_standin"]:
            return self.control(method, parts[1:], raw)

        if not self.headers.get("user-agent"):
            return self.send_bytes(403, b"error code: 1010", "text/plain; charset=UTF-8")
        authorization = self.headers.get("authorization", "")
        if not authorization.startswith("Bearer ") or not authorization[len("Bearer "):].strip():
            return self.error(401, "missing_api_key", "Missing API key in the authorization header.")
        if authorization[len("Bearer "):].strip() != CONFIG["api_key"]:
            return self.error(403, "invalid_api_key", "API key is invalid.")

        query = parse_qs(url.query, keep_blank_values=True)
        if parts == ["emails"]:
            return self.send_email(raw) if method == "POST" else self.not_allowed()
        if len(parts) in (3, 4, 5) and parts[:2] == ["emails", "receiving"] and parts[3:4] in ([], ["attachments"]):
            if method != "GET":
                return self.not_allowed()
            if len(parts) == 3:
                return self.get_received(parts[2], query)
            if len(parts) == 4:
                return self.list_attachments(parts[2], query)
            return self.get_attachment(parts[2], parts[4])
        self.error(404, "not_found", "The requested endpoint does not exist.")

    def not_allowed(self):
        self.error(405, "method_not_allowed", "Method is not allowed for the requested path.")

    # POST /emails ----------------------------------------------------------------------------

    def send_email(self, raw):
        headers = self.lowered_headers()
        try:
            recorded_body = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            recorded_body = raw.decode("utf-8", "replace")

        def refuse(status, name, message, extra=()):
            with LOCK:
                REFUSED.append({"headers": headers, "body": recorded_body, "status": status, "error": name})
            self.error(status, name, message, extra)

        with LOCK:
            failure = FAILURES.pop(0) if FAILURES else None
        if failure is not None:
            extra = [("retry-after", str(failure["retry_after"]))] if failure.get("retry_after") is not None else []
            return refuse(failure["status"], failure["name"], failure["message"], extra)

        key = headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 256:
            return refuse(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
        try:
            body = check_send(headers, raw)
        except Refusal as refusal:
            return refuse(refusal.status, refusal.name, refusal.message)

        # Checked and recorded under one lock, so no request with a key is ever still in progress
        # when another arrives (Resend's 409 concurrent_idempotent_requests cannot arise here).
        with LOCK:
            previous = None
            if key is not None:
                cutoff = time.time() - IDEMPOTENCY_WINDOW_SECONDS
                for stale in [k for k, v in IDEMPOTENCY.items() if v["at"] < cutoff]:
                    del IDEMPOTENCY[stale]
                previous = IDEMPOTENCY.get(key)
            if previous is None:
                email_id = str(uuid.uuid4())
                SENT.append({"headers": headers, "body": body, "id": email_id})
                if key is not None:
                    IDEMPOTENCY[key] = {"fingerprint": fingerprint(body), "at": time.time(), "id": email_id}
            elif previous["fingerprint"] == fingerprint(body):
                email_id = previous["id"]
            else:
                email_id = None
        if email_id is None:
            message = "Same idempotency key used with a different request payload."
            return refuse(409, "invalid_idempotent_request", message)
        self.reply(200, {"id": email_id})

    # Receiving -------------------------------------------------------------------------------

    def get_received(self, email_id, query):
        html_format = query.get("html_format", [None])[-1]
        if html_format is not None and html_format not in ("data_uri", "cid"):
            return self.error(422, "validation_error", "`html_format` must be `data_uri` or `cid`.")
        email = served_email(email_id)
        if email is None:
            return self.error(404, "not_found", "Email not found")
        if html_format is not None:
            email["html_format"] = html_format
        self.reply(200, email)

    def list_attachments(self, email_id, query):
        email = served_email(email_id)
        if email is None:
            return self.error(404, "not_found", "Email not found")
        limit = query.get("limit", [None])[-1]
        after = query.get("after", [None])[-1]
        before = query.get("before", [None])[-1]
        if limit is not None:
            if not limit.isdigit() or not 1 <= int(limit) <= 100:
                return self.error(422, "validation_error", "The `limit` parameter must be between 1 and 100.")
            limit = int(limit)
        if after is not None and before is not None:
            return self.error(422, "validation_error", "The `after` and `before` parameters cannot be used together.")
        attachments = email["attachments"]
        ids = [a["id"] for a in attachments]
        has_more = False
        if after is not None:
            attachments = attachments[ids.index(after) + 1:] if after in ids else []
        if before is not None:
            attachments = attachments[: ids.index(before)] if before in ids else []
        if limit is not None and len(attachments) > limit:
            has_more = True
            attachments = attachments[-limit:] if before is not None else attachments[:limit]
        self.reply(200, {
            "object": "list",
            "has_more": has_more,
            "data": [served_attachment(email_id, a) for a in attachments],
        })

    def get_attachment(self, email_id, attachment_id):
        email = served_email(email_id)
        if email is None:
            return self.error(404, "not_found", "Email not found")
        for attachment in email["attachments"]:
            if attachment["id"] == attachment_id:
                return self.reply(200, {"object": "attachment", **served_attachment(email_id, attachment)})
        self.error(404, "not_found", "Attachment not found")

    # Control ---------------------------------------------------------------------------------

    def control(self, method, parts, raw):
        if method == "GET" and parts == ["sent"]:
            with LOCK:
                return self.reply(200, list(SENT))
        if method == "GET" and parts == ["refused"]:
            with LOCK:
                return self.reply(200, list(REFUSED))
        if method == "GET" and len(parts) == 3 and parts[0] == "files":
            with LOCK:
                stored = RECEIVED.get(parts[1])
            if stored is not None and parts[2] == "raw" and stored["raw"] is not None:
                return self.send_bytes(200, stored["raw"], "message/rfc822")
            if stored is not None and parts[2] in stored["files"]:
                content, content_type = stored["files"][parts[2]]
                return self.send_bytes(200, content, content_type)
            return self.send_bytes(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        if method == "POST" and parts == ["received"]:
            try:
                email, webhook = register_received(json.loads(raw))
            except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as problem:
                return self.reply(400, {"error": f"bad control request: {problem}"})
            return self.reply(200, {"email": email, "webhook": webhook})
        if method == "POST" and parts == ["fail-next"]:
            try:
                request = json.loads(raw)
                status = int(request["status"])
                count = int(request.get("count", 1))
            except (ValueError, TypeError, KeyError) as problem:
                return self.reply(400, {"error": f"bad control request: {problem}"})
            default_name, default_message = {
                429: ("rate_limit_exceeded", "Too many requests. You can only make 5 requests per second."),
                500: ("application_error", "An unexpected error occurred, please try again later."),
            }.get(status, ("internal_server_error", "An unexpected error occurred."))
            failure = {
                "status": status,
                "name": request.get("name", default_name),
                "message": request.get("message", default_message),
                "retry_after": request.get("retry_after", 1 if status == 429 else None),
            }
            with LOCK:
                FAILURES.extend([failure] * count)
            return self.reply(200, {"pending": len(FAILURES)})
        self.reply(404, {"error": "no such control endpoint"})


def main():
    parser = argparse.ArgumentParser(description="A stand-in for the Resend HTTP API.")
    parser.add_argument("port", type=int)
    parser.add_argument("--api-key", default="re_test_standin_key")
    args = parser.parse_args()
    CONFIG["api_key"] = args.api_key
    CONFIG["base"] = f"http://127.0.0.1:{args.port}"

    server = Server(("127.0.0.1", args.port), Handler)
    print(f"resend stand-in serving http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
