"""A stand-in for the send APIs of four chat and phone providers, for the tests.

    python tests/chat_standin.py <port> [--meta-token EAAtest] [--slack-token xoxb-test]
        [--twilio-sid AC...] [--twilio-token twilio-test-token]
        [--slack-missing-channel C0MISSING00 ...]

Serves plain HTTP on 127.0.0.1:<port> (the tests wait for the port). Only the Python standard
library is used. The providers' endpoints, answered and checked as each documents them:

  POST /<version>/<phone_number_id>/messages      WhatsApp Cloud API, send a text message
  POST /<version>/me/messages                      Messenger Send API (also /<version>/<page_id>/
                                                   messages when the parameters carry `recipient`)
  POST /api/chat.postMessage                       Slack Web API
  POST /2010-04-01/Accounts/<AccountSid>/Messages.json   Twilio Programmable Messaging

<version> is a Graph API version such as v21.0. A Graph path that is neither `me` nor carries
`recipient` is taken to be WhatsApp's. Credentials accepted: the Meta access token for both
Meta products (--meta-token, default EAAtest), the Slack bot token (--slack-token, default
xoxb-test) and the Twilio account SID and auth token (--twilio-sid, default
AC0123456789abcdef0123456789abcdef; --twilio-token, default twilio-test-token). Slack channels
named with --slack-missing-channel (default C0MISSING00) do not exist.

Control endpoints (not the providers', no authentication):

  GET  /_standin/sent      [{"provider": "whatsapp|messenger|slack|twilio", "path", "headers":
                           {lowercased name: value}, "query": {name: value}, "body": <parsed
                           JSON, or the form fields as {name: value or [values]}>, "id": <the
                           message id answered>}] for every accepted send; ?provider= filters
  GET  /_standin/refused   the same for every refused send, with "status" (the HTTP status) and
                           "error" (the Graph or Twilio error code, or Slack's error string)
  POST /_standin/fail-next {"provider", "status": 500, "count": N, "code"?, "message"?,
                           "error"?, "retry_after"?}: the next N sends of that provider (past
                           authentication) fail with that status in the provider's error shape.
                           Slack answers HTTP 200 {"ok": false, "error": "internal_error"} (or
                           "error"), except for 429: HTTP 429 {"ok": false, "error":
                           "ratelimited"} with Retry-After (default 1 second).
  POST /_standin/reset     forgets what was sent, refused and scheduled to fail
  POST /_standin/media     {"id", "mime_type", "content_base64"}: a WhatsApp media object that
                           GET /<version>/<media id> then describes (Meta's "Retrieve media URL":
                           {"messaging_product", "url", "mime_type", "sha256", "file_size", "id"})
                           and whose url serves the bytes to the same Bearer token ("Download
                           media")

Where each behaviour comes from:

- Graph API errors (developers.facebook.com/docs/graph-api/guides/error-handling): the shape
  {"error": {"message", "type": "OAuthException", "code", "error_subcode"?, "fbtrace_id"}};
  code 190 for an invalid access token, 104 when none is given (2500 on `me` paths), 100 for
  an invalid parameter, with messages of the form "(#100) ...". Graph answers token errors with
  HTTP 400, except the WhatsApp Cloud API, whose error-code table lists 401 for them
  (developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes, also
  the source of 130429 rate limit hit, 131000 something went wrong and 131016 service
  unavailable used by fail-next).
- WhatsApp Cloud API, messages (developers.facebook.com/documentation/business-messaging/
  whatsapp/messages/text-messages and reference/messages): `Authorization: Bearer <token>`
  (Graph's access_token parameter is accepted too), a JSON body {"messaging_product":
  "whatsapp", "recipient_type"?: "individual", "to", "type"?: "text", "text": {"body" of 1-4096
  characters, "preview_url"?: bool}, "context"?: {"message_id"}, "biz_opaque_callback_data"?};
  the answer 200 {"messaging_product": "whatsapp", "contacts": [{"input": <to as sent>,
  "wa_id": <its digits>}], "messages": [{"id": "wamid.<base64>"}]}.
- Messenger Send API (developers.facebook.com/docs/messenger-platform/reference/send-api):
  POST /<version>/<PAGE-ID>/messages (and the long-documented /me/messages) with the page token
  as the access_token parameter (in the query or the form body; a Bearer header is accepted as
  Graph accepts it); parameters as a JSON body, form fields or query parameters, where
  recipient and message may be JSON objects written with single quotes as in Meta's curl
  sample; recipient {"id": PSID}, messaging_type RESPONSE, UPDATE or MESSAGE_TAG (with a tag),
  message {"text" of at most 2000 characters} or {"attachment"}, or a sender_action
  (typing_on, typing_off, mark_seen) alone. The answer {"recipient_id", "message_id"}, or
  {"recipient_id"} alone for a sender action.
- Slack chat.postMessage (docs.slack.dev/reference/methods/chat.postMessage, docs.slack.dev/
  apis/web-api): HTTP 200 always, with {"ok": true, "channel", "ts", "message": {...}} or
  {"ok": false, "error"}; the token as `Authorization: Bearer`, or as the `token` field of a
  form body (a JSON body must use the header); JSON bodies as `application/json;
  charset=utf-8` (without the charset they are answered with the missing_charset warning in
  "warning" and response_metadata.warnings; another charset is invalid_charset), form bodies
  as application/x-www-form-urlencoded. Errors used: not_authed, invalid_auth, invalid_json,
  json_not_object, invalid_form_data, channel_not_found, no_text, msg_too_long (over 40,000
  characters), internal_error, ratelimited (HTTP 429 with Retry-After, rate-limits page).
  Channels are IDs (C, G, D or Z and 8+ uppercase letters and digits) or names (#general);
  a name is answered with a stable made-up ID.
- Twilio Messages (twilio.com/docs/messaging/api/message-resource): HTTP Basic auth with the
  account SID and auth token, the SID in the path the same as the user name, else 401
  {"code": 20003, "message": "Authenticate", "more_info", "status": 401}; form fields To, Body
  (at most 1600 characters) or MediaUrl or ContentSid, and From or MessagingServiceSid. The
  answer 201 with the Message resource (sid "SM" + 32 hex, status "queued", or "accepted"
  when sent through a Messaging Service, whose num_segments is "0" and from null, as
  twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks says; dates in
  RFC 2822). Errors {"code", "message", "more_info": "https://www.twilio.com/docs/errors/
  <code>", "status"} with the codes of twilio.com/docs/errors: 21604 To missing (also what a
  JSON body gets, Twilio reading form fields only), 21211 invalid To, 21603 no From or
  MessagingServiceSid, 21212 invalid From, 21705 invalid MessagingServiceSid, 21602 no Body
  or MediaUrl, 21617 Body over 1600 characters, 21266 To and From the same, 21609 a
  StatusCallback that is not an http(s) URL; fail-next uses 20429, 20500 and 20503.

Stricter than the providers are known to be: WhatsApp sends of any type but text, other
content types than JSON, and top-level fields outside those listed are refused (400, code
100); Messenger recipients other than {"id"} are refused; Twilio API keys (SK...) are not
accepted as the user name.
"""

import argparse
import ast
import base64
import binascii
import hashlib
import json
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from standin_server import Server

PROVIDERS = ("whatsapp", "messenger", "slack", "twilio")

GRAPH_VERSION = re.compile(r"^v\d+\.\d+$")
WHATSAPP_FIELDS = {
    "messaging_product", "recipient_type", "to", "type", "text", "context", "biz_opaque_callback_data",
}
WHATSAPP_TEXT_MAX = 4096
MESSENGER_TEXT_MAX = 2000
MESSENGER_TYPES = {"RESPONSE", "UPDATE", "MESSAGE_TAG"}
SENDER_ACTIONS = {"typing_on", "typing_off", "mark_seen"}

SLACK_CHANNEL_ID = re.compile(r"^[CGDZ][A-Z0-9]{8,}$")
SLACK_CHANNEL_NAME = re.compile(r"^#?[a-z0-9][a-z0-9._-]{0,79}$")
SLACK_TEXT_MAX = 40000
SLACK_TEAM, SLACK_BOT_ID, SLACK_BOT_USER, SLACK_APP_ID = "T0STANDIN0", "B0STANDIN0", "U0STANDIN0", "A0STANDIN0"

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
CHANNEL_ADDRESS = re.compile(r"^(whatsapp|messenger|rcs|sms):\S+$")
SHORT_CODE = re.compile(r"^\d{5,6}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
TWILIO_BODY_MAX = 1600
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)

LOCK = threading.Lock()
SENT = []
REFUSED = []
FAILURES = {provider: [] for provider in PROVIDERS}
MEDIA = {}
CONFIG = {
    "meta_token": "EAAtest",
    "slack_token": "xoxb-test",
    "twilio_sid": "AC0123456789abcdef0123456789abcdef",
    "twilio_token": "twilio-test-token",
    "slack_missing": {"C0MISSING00"},
    "last_ts": 0.0,
}


class Refusal(Exception):
    """A refused send: the HTTP status, the provider's body, extra headers, and what to record."""

    def __init__(self, status, payload, error, headers=()):
        super().__init__(str(error))
        self.status, self.payload, self.error, self.headers = status, payload, error, list(headers)


def now():
    return datetime.now(timezone.utc)


# Graph API (WhatsApp Cloud API and Messenger) ------------------------------------------------


def graph_error(status, code, message, subcode=None, transient=None, error_data=None):
    error = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    if error_data is not None:
        error["error_data"] = error_data
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)[:22]
    return Refusal(status, {"error": error}, code)


def invalid_param(message):
    return graph_error(400, 100, f"(#100) {message}")


def meta_token(headers, fields):
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith(("bearer ", "oauth ")):
        return authorization.split(None, 1)[1].strip() if " " in authorization.strip() else ""
    token = fields.get("access_token")
    return token if isinstance(token, str) else None


def check_meta_token(token, status, on_me):
    if not token:
        if on_me:
            return graph_error(status, 2500, "An active access token must be used to query information about the current user.")
        return graph_error(status, 104, "An access token is required to request this resource.")
    if token != CONFIG["meta_token"]:
        return graph_error(status, 190, "Invalid OAuth access token - Cannot parse access token")
    return None


def whatsapp_send(headers, query, body, parts):
    token = meta_token(headers, query)
    refusal = check_meta_token(token, 401, on_me=False)
    if refusal:
        raise refusal
    yield  # authenticated
    if content_type(headers)[0] != "application/json" or not isinstance(body, dict):
        raise invalid_param("The request body must be a JSON object (Content-Type: application/json).")
    if not parts[1].isdigit():
        raise graph_error(400, 100, f"Unsupported post request. Object with ID '{parts[1]}' does not exist, cannot be "
                                    "loaded due to missing permissions, or does not support this operation.", subcode=33)
    message_type = body.get("type", "text")
    if message_type != "text":
        raise invalid_param(f"Param type {json.dumps(message_type)} is not sent by this stand-in (only text).")
    unknown = sorted(set(body) - WHATSAPP_FIELDS)
    if unknown:
        raise invalid_param(f"Param {unknown[0]} is not a valid parameter.")
    if "messaging_product" not in body:
        raise invalid_param("The parameter messaging_product is required.")
    if body["messaging_product"] != "whatsapp":
        raise invalid_param(f"Param messaging_product must be one of {{WHATSAPP}} - got {json.dumps(body['messaging_product'])}.")
    to = body.get("to")
    if to is None:
        raise invalid_param("The parameter to is required.")
    digits = re.sub(r"[\s()+.-]", "", to) if isinstance(to, str) else ""
    if not isinstance(to, str) or not digits.isdigit() or not 5 <= len(digits) <= 15:
        raise graph_error(400, 100, "(#100) Invalid parameter", error_data={
            "messaging_product": "whatsapp", "details": "Parameter 'to' must be a phone number or WhatsApp ID."})
    if body.get("recipient_type", "individual") not in ("individual", "group"):
        raise invalid_param("Param recipient_type must be one of {INDIVIDUAL, GROUP} - got "
                            f"{json.dumps(body['recipient_type'])}.")
    text = body.get("text")
    if not isinstance(text, dict) or "body" not in text:
        raise invalid_param("The parameter text['body'] is required.")
    if set(text) - {"body", "preview_url"}:
        raise invalid_param(f"Param text['{sorted(set(text) - {'body', 'preview_url'})[0]}'] is not a valid parameter.")
    if not isinstance(text["body"], str) or not text["body"]:
        raise invalid_param("Param text['body'] must be at least 1 characters long.")
    if len(text["body"]) > WHATSAPP_TEXT_MAX:
        raise invalid_param(f"Param text['body'] must be at most {WHATSAPP_TEXT_MAX} characters long.")
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise invalid_param("Param text['preview_url'] must be a boolean.")
    if "context" in body:
        context = body["context"]
        if not isinstance(context, dict) or not isinstance(context.get("message_id"), str) or set(context) != {"message_id"}:
            raise invalid_param("Param context must be an object {\"message_id\": \"<wamid>\"}.")
    if "biz_opaque_callback_data" in body and not isinstance(body["biz_opaque_callback_data"], str):
        raise invalid_param("Param biz_opaque_callback_data must be a string.")
    message_id = "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()
    yield 200, {
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": digits}],
        "messages": [{"id": message_id}],
    }, message_id


def lenient_object(value):
    """A Messenger parameter sent as text (form field or query): JSON, or Meta's single-quoted sample."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        pass
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def messenger_send(headers, query, body, parts):
    fields = dict(query)
    if isinstance(body, dict):
        fields.update(body)
    on_me = parts[1] == "me"
    refusal = check_meta_token(meta_token(headers, fields), 400, on_me)
    if refusal:
        raise refusal
    yield  # authenticated
    if not on_me and not parts[1].isdigit():
        raise graph_error(400, 100, f"Unsupported post request. Object with ID '{parts[1]}' does not exist, cannot be "
                                    "loaded due to missing permissions, or does not support this operation.", subcode=33)
    fields = {k: lenient_object(v) for k, v in fields.items() if k != "access_token"}
    recipient = fields.get("recipient")
    if recipient is None:
        raise invalid_param("The parameter recipient is required")
    if not isinstance(recipient, dict) or set(recipient) != {"id"} or not isinstance(recipient["id"], (str, int)) \
            or not str(recipient["id"]).isdigit():
        raise invalid_param("Param recipient must be an object {\"id\": \"<PSID>\"} (this stand-in sends to PSIDs only)")
    psid = str(recipient["id"])
    action = fields.get("sender_action")
    if action is not None:
        if action not in SENDER_ACTIONS:
            raise invalid_param("Param sender_action must be one of {typing_on, typing_off, mark_seen}")
        if "message" in fields:
            raise invalid_param("sender_action cannot be sent with message")
        yield 200, {"recipient_id": psid}, None
        return
    messaging_type = fields.get("messaging_type")
    if messaging_type is None:
        raise invalid_param("The parameter messaging_type is required")
    if messaging_type not in MESSENGER_TYPES:
        raise invalid_param(f"Param messaging_type must be one of {{RESPONSE, UPDATE, MESSAGE_TAG}} - got {json.dumps(messaging_type)}")
    if messaging_type == "MESSAGE_TAG" and not isinstance(fields.get("tag"), str):
        raise invalid_param("The parameter tag is required when messaging_type is MESSAGE_TAG")
    message = fields.get("message")
    if message is None:
        raise invalid_param("The parameter message is required")
    if not isinstance(message, dict) or ("text" in message) == ("attachment" in message):
        raise invalid_param("Param message must have either text or attachment")
    if "text" in message:
        if not isinstance(message["text"], str) or not message["text"]:
            raise invalid_param("Param message[text] must be a non-empty UTF-8 encoded string")
        if len(message["text"]) > MESSENGER_TEXT_MAX:
            raise invalid_param(f"Length of param message[text] must be less than or equal to {MESSENGER_TEXT_MAX}")
    elif not isinstance(message["attachment"], dict) or "type" not in message["attachment"]:
        raise invalid_param("Param message[attachment][type] is required")
    message_id = "m_" + secrets.token_urlsafe(48)
    yield 200, {"recipient_id": psid, "message_id": message_id}, message_id


# Slack -----------------------------------------------------------------------------------------


def slack_error(error, status=200, headers=()):
    return Refusal(status, {"ok": False, "error": error}, error, headers)


def next_ts():
    with LOCK:
        moment = max(time.time(), CONFIG["last_ts"] + 0.000001)
        CONFIG["last_ts"] = moment
    return f"{moment:.6f}"


def slack_send(headers, query, body, parts, raw):
    media_type, charset = content_type(headers)
    warnings = []
    fields = dict(query)
    if media_type == "application/json":
        if charset is None:
            warnings.append("missing_charset")
        elif charset != "utf-8":
            raise slack_error("invalid_charset")
    authorization = headers.get("authorization", "")
    if authorization:
        token = authorization[len("Bearer "):].strip() if authorization.startswith("Bearer ") else ""
    elif media_type == "application/x-www-form-urlencoded" and isinstance(body, dict):
        token = body.get("token")
    else:
        token = None  # a JSON body must carry its token in the Authorization header
    if not token:
        raise slack_error("not_authed")
    if token != CONFIG["slack_token"]:
        raise slack_error("invalid_auth")
    yield  # authenticated
    if media_type == "application/json":
        if raw.strip() and body is None:
            raise slack_error("invalid_json")
        if raw.strip() and not isinstance(body, dict):
            raise slack_error("json_not_object")
        fields.update(body or {})
    elif media_type == "application/x-www-form-urlencoded":
        if not isinstance(body, dict):
            raise slack_error("invalid_form_data")
        fields.update({k: v[-1] if isinstance(v, list) else v for k, v in body.items()})
    elif raw.strip():
        raise slack_error("invalid_form_data")
    fields.pop("token", None)

    channel = fields.get("channel")
    if not isinstance(channel, str) or channel in CONFIG["slack_missing"] or not (
        SLACK_CHANNEL_ID.match(channel) or SLACK_CHANNEL_NAME.match(channel)
    ):
        raise slack_error("channel_not_found")
    text = fields.get("text")
    if text is not None and not isinstance(text, str):
        raise slack_error("invalid_arguments")
    if not text and not fields.get("blocks") and not fields.get("attachments"):
        raise slack_error("no_text")
    if text and len(text) > SLACK_TEXT_MAX:
        raise slack_error("msg_too_long")
    thread_ts = fields.get("thread_ts")
    if thread_ts is not None and not isinstance(thread_ts, str):
        raise slack_error("invalid_arguments")
    if not SLACK_CHANNEL_ID.match(channel):
        channel = "C" + hashlib.sha1(channel.lstrip("#").encode()).hexdigest()[:10].upper()
    ts = next_ts()
    message = {
        "user": SLACK_BOT_USER,
        "type": "message",
        "ts": ts,
        "bot_id": SLACK_BOT_ID,
        "app_id": SLACK_APP_ID,
        "text": text or "",
        "team": SLACK_TEAM,
        "bot_profile": {"id": SLACK_BOT_ID, "app_id": SLACK_APP_ID, "name": "stand-in", "team_id": SLACK_TEAM, "deleted": False},
    }
    if fields.get("blocks"):
        message["blocks"] = lenient_object(fields["blocks"])
    if thread_ts:
        message["thread_ts"] = thread_ts
        message["parent_user_id"] = SLACK_BOT_USER
    answer = {"ok": True, "channel": channel, "ts": ts, "message": message}
    if warnings:
        answer["warning"] = ",".join(warnings)
        answer["response_metadata"] = {"warnings": warnings}
    yield 200, answer, ts


# Twilio ----------------------------------------------------------------------------------------


def twilio_error(status, code, message, headers=()):
    return Refusal(status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }, code, headers)


def segments(body):
    if not body:
        return 1
    if set(body) <= GSM7:
        single, part = 160, 153
    else:
        single, part = 70, 67
        # Characters outside the Basic Multilingual Plane take two UCS-2 units.
        length = sum(2 if ord(c) > 0xFFFF else 1 for c in body)
        return 1 if length <= single else -(-length // part)
    return 1 if len(body) <= single else -(-len(body) // part)


def twilio_send(headers, query, body, parts):
    account = parts[2]
    authorization = headers.get("authorization", "")
    user = password = None
    if authorization.startswith("Basic "):
        try:
            user, _, password = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            pass
    if user != CONFIG["twilio_sid"] or password != CONFIG["twilio_token"] or account != user:
        raise twilio_error(401, 20003, "Authenticate", [("www-authenticate", 'Basic realm="Twilio API"')])
    yield  # authenticated
    fields = body if content_type(headers)[0] == "application/x-www-form-urlencoded" and isinstance(body, dict) else {}
    fields = {k: v if isinstance(v, list) else [v] for k, v in fields.items()}
    first = {k: v[-1] for k, v in fields.items()}

    to = first.get("To")
    if not to:
        raise twilio_error(400, 21604, "A 'To' phone number is required.")
    if not (E164.match(to) or CHANNEL_ADDRESS.match(to)):
        raise twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    sender, service = first.get("From"), first.get("MessagingServiceSid")
    if not sender and not service:
        raise twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message")
    if service and not MESSAGING_SERVICE_SID.match(service):
        raise twilio_error(400, 21705, "The Messaging Service is invalid")
    if sender and not (E164.match(sender) or CHANNEL_ADDRESS.match(sender) or SHORT_CODE.match(sender)
                       or ALPHANUMERIC_SENDER.match(sender) or MESSAGING_SERVICE_SID.match(sender)):
        raise twilio_error(400, 21212, f"Invalid 'From' Phone Number: {sender}")
    if sender and MESSAGING_SERVICE_SID.match(sender):
        service, sender = service or sender, None
    if sender and sender == to:
        raise twilio_error(400, 21266, "'To' and 'From' number cannot be the same")
    text = first.get("Body", "")
    media = fields.get("MediaUrl", [])
    content_sid = first.get("ContentSid")
    if content_sid and not CONTENT_SID.match(content_sid):
        raise twilio_error(400, 21656, "The ContentSid is Invalid.")
    if not text and not media and not content_sid:
        raise twilio_error(400, 21602, "Message body is required.")
    if len(text) > TWILIO_BODY_MAX:
        raise twilio_error(400, 21617, f"The concatenated message body exceeds the {TWILIO_BODY_MAX} character limit.")
    callback = first.get("StatusCallback")
    if callback is not None and urlsplit(callback).scheme not in ("http", "https"):
        raise twilio_error(400, 21609, "Invalid StatusCallback url")

    sid = "SM" + secrets.token_hex(16)
    created = format_datetime(now().replace(microsecond=0))
    scheduled = bool(service and first.get("ScheduleType") == "fixed" and first.get("SendAt"))
    status = "scheduled" if scheduled else "accepted" if service else "queued"
    uri = f"/2010-04-01/Accounts/{account}/Messages/{sid}"
    yield 201, {
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": text,
        "date_created": created,
        "date_sent": None,
        "date_updated": created,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": sender or None,
        "messaging_service_sid": service or None,
        "num_media": str(len(media)),
        "num_segments": "0" if service else str(segments(text)),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": to,
        "uri": f"{uri}.json",
    }, sid


# Failures scheduled with /_standin/fail-next ---------------------------------------------------


def scheduled_failure(provider, failure):
    status = failure["status"]
    retry = [("retry-after", str(failure["retry_after"]))] if failure.get("retry_after") is not None else []
    if provider == "slack":
        if status == 429:
            return slack_error(failure.get("error") or "ratelimited", 429, retry or [("retry-after", "1")])
        return slack_error(failure.get("error") or "internal_error", 200 if status >= 500 else status, retry)
    if provider == "twilio":
        code, message = {
            429: (20429, "Too Many Requests"),
            503: (20503, "Service Unavailable"),
        }.get(status, (20500, "Internal Server Error"))
        return twilio_error(status, failure.get("code", code), failure.get("message", message), retry)
    if provider == "whatsapp":
        code, message = {
            429: (130429, "(#130429) Rate limit hit"),
            503: (131016, "(#131016) Service unavailable"),
        }.get(status, (131000, "(#131000) Something went wrong"))
    else:
        code, message = {
            429: (613, "(#613) Calls to this api have exceeded the rate limit."),
            503: (2, "Service temporarily unavailable"),
        }.get(status, (1, "An unknown error has occurred."))
    refusal = graph_error(status, failure.get("code", code), failure.get("message", message), transient=True)
    refusal.headers = retry
    return refusal


# HTTP ------------------------------------------------------------------------------------------


def content_type(headers):
    """The media type and charset (lowercased; charset None when not given) of a request."""
    media_type, _, rest = headers.get("content-type", "").partition(";")
    charset = None
    for parameter in rest.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media_type.strip().lower(), charset


def flat(parsed):
    return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}


def parse_body(headers, raw):
    media_type, _ = content_type(headers)
    if not raw:
        return None
    if media_type == "application/json":
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            return None
    if media_type == "application/x-www-form-urlencoded":
        try:
            return flat(parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            return None
    return raw.decode("utf-8", "replace")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload, headers=()):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        return self.rfile.read(int(self.headers.get("content-length", 0) or 0))

    def lowered_headers(self):
        return {k.lower(): v for k, v in self.headers.items()}

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        raw = self.read_body() if method in ("POST", "PUT", "DELETE") else b""
        query = flat(parse_qs(url.query, keep_blank_values=True))
        if parts[:1] == ["_standin"]:
            return self.control(method, parts[1:], query, raw)
        headers = self.lowered_headers()
        body = parse_body(headers, raw)

        if parts[:1] == ["api"]:
            if parts != ["api", "chat.postMessage"]:
                return self.reply(404, {"ok": False, "error": "unknown_method"})
            if method != "POST":
                return self.reply(200, {"ok": False, "error": "method_not_supported"})
            return self.send("slack", url.path, headers, query, body, slack_send(headers, query, body, parts, raw))
        if parts[:2] == ["2010-04-01", "Accounts"]:
            if len(parts) != 4 or parts[3] != "Messages.json":
                return self.reply(404, twilio_error(404, 20404, f"The requested resource {url.path} was not found").payload)
            if method != "POST":
                return self.reply(405, twilio_error(405, 20004, "Method not allowed").payload)
            return self.send("twilio", url.path, headers, query, body, twilio_send(headers, query, body, parts))
        if len(parts) == 2 and GRAPH_VERSION.match(parts[0]) and method == "GET":
            return self.media_url(headers, query, parts[1])
        if len(parts) == 3 and GRAPH_VERSION.match(parts[0]) and parts[2] == "messages" and method == "POST":
            fields = {**query, **(body if isinstance(body, dict) else {})}
            if parts[1] == "me" or "recipient" in fields:
                return self.send("messenger", url.path, headers, query, body, messenger_send(headers, query, body, parts))
            return self.send("whatsapp", url.path, headers, query, body, whatsapp_send(headers, query, body, parts))
        refusal = graph_error(400, 2500, f"Unknown path components: {url.path}")
        self.reply(refusal.status, refusal.payload)

    def send(self, provider, path, headers, query, body, steps):
        """Runs a provider's checks (a generator: authentication, a bare yield, then the send)."""
        record = {"provider": provider, "path": path, "headers": headers, "query": query, "body": body}
        try:
            next(steps)  # authentication
            with LOCK:
                failure = FAILURES[provider].pop(0) if FAILURES[provider] else None
            if failure is not None:
                raise scheduled_failure(provider, failure)
            status, payload, message_id = next(steps)
        except Refusal as refusal:
            with LOCK:
                REFUSED.append({**record, "status": refusal.status, "error": refusal.error})
            return self.reply(refusal.status, refusal.payload, refusal.headers)
        with LOCK:
            SENT.append({**record, "id": message_id})
        self.reply(status, payload)

    def media_url(self, headers, query, media_id):
        """Meta's "Retrieve media URL": the media's description, for the access token."""
        refusal = check_meta_token(meta_token(headers, query), 401, on_me=False)
        if refusal:
            return self.reply(refusal.status, refusal.payload)
        with LOCK:
            media = MEDIA.get(media_id)
        if media is None:
            refusal = graph_error(400, 100, f"(#100) Invalid parameter: media {media_id} does not exist")
            return self.reply(refusal.status, refusal.payload)
        host = self.headers.get("host", "127.0.0.1")
        self.reply(200, {
            "messaging_product": "whatsapp",
            "url": f"http://{host}/_standin/media-files/{media_id}",
            "mime_type": media["mime_type"],
            "sha256": hashlib.sha256(media["bytes"]).hexdigest(),
            "file_size": len(media["bytes"]),
            "id": media_id,
        })

    def media_file(self, media_id):
        """Meta's "Download media": the bytes, for the same Bearer token only."""
        refusal = check_meta_token(meta_token(self.lowered_headers(), {}), 401, on_me=False)
        if refusal:
            return self.reply(refusal.status, refusal.payload)
        with LOCK:
            media = MEDIA.get(media_id)
        if media is None:
            return self.reply(404, {"error": "no such media"})
        self.send_response(200)
        self.send_header("content-type", media["mime_type"])
        self.send_header("content-length", str(len(media["bytes"])))
        self.end_headers()
        self.wfile.write(media["bytes"])

    def control(self, method, parts, query, raw):
        wanted = query.get("provider")
        if method == "GET" and len(parts) == 2 and parts[0] == "media-files":
            return self.media_file(parts[1])
        if method == "POST" and parts == ["media"]:
            try:
                request = json.loads(raw)
                media = {"mime_type": request["mime_type"], "bytes": base64.b64decode(request["content_base64"])}
                media_id = str(request["id"])
            except (ValueError, TypeError, KeyError, binascii.Error) as problem:
                return self.reply(400, {"error": f"bad control request: {problem}"})
            with LOCK:
                MEDIA[media_id] = media
            return self.reply(200, {"id": media_id})
        if method == "GET" and parts in (["sent"], ["refused"]):
            with LOCK:
                entries = list(SENT if parts == ["sent"] else REFUSED)
            return self.reply(200, [e for e in entries if wanted is None or e["provider"] == wanted])
        if method == "POST" and parts == ["reset"]:
            with LOCK:
                SENT.clear()
                REFUSED.clear()
                for pending in FAILURES.values():
                    pending.clear()
            return self.reply(200, {})
        if method == "POST" and parts == ["fail-next"]:
            try:
                request = json.loads(raw)
                provider = request["provider"]
                if provider not in PROVIDERS:
                    raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}")
                failure = {
                    "status": int(request["status"]),
                    **{k: request[k] for k in ("code", "message", "error", "retry_after") if k in request},
                }
                count = int(request.get("count", 1))
            except (ValueError, TypeError, KeyError) as problem:
                return self.reply(400, {"error": f"bad control request: {problem}"})
            with LOCK:
                FAILURES[provider].extend([failure] * count)
                pending = len(FAILURES[provider])
            return self.reply(200, {"pending": pending})
        self.reply(404, {"error": "no such control endpoint"})


def main():
    parser = argparse.ArgumentParser(description="A stand-in for the WhatsApp, Messenger, Slack and Twilio send APIs.")
    parser.add_argument("port", type=int)
    parser.add_argument("--meta-token", default=CONFIG["meta_token"])
    parser.add_argument("--slack-token", default=CONFIG["slack_token"])
    parser.add_argument("--twilio-sid", default=CONFIG["twilio_sid"])
    parser.add_argument("--twilio-token", default=CONFIG["twilio_token"])
    parser.add_argument("--slack-missing-channel", action="append", dest="slack_missing")
    args = parser.parse_args()
    if not re.match(r"^AC[0-9a-f]{32}$", args.twilio_sid):
        parser.error("--twilio-sid must be AC followed by 32 lowercase hex digits")
    CONFIG.update(
        meta_token=args.meta_token,
        slack_token=args.slack_token,
        twilio_sid=args.twilio_sid,
        twilio_token=args.twilio_token,
        slack_missing=set(args.slack_missing or CONFIG["slack_missing"]),
    )

    server = Server(("127.0.0.1", args.port), Handler)
    print(f"chat stand-in serving http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
