"""Hooks for the schemathesis run of tests/api_contract.rs.

- Every request with a valid Idempotency-Key gets a fresh one: a client reuses a key only to
  retry the same request, and the server rightly refuses a key reused for another one (422).
- A body sent as JSON or text that is not UTF-8 is sent with its bad bytes replaced: the local
  router (`cargo lambda watch`), like API Gateway, hands such bodies to the function as a string
  and answers 500 itself when they are not UTF-8, before any of our code runs. Non-UTF-8 bodies
  reach the handlers in the handler tests and the fuzz targets instead.
- For the same reason a header value is sent as ASCII: the router answers 500 itself to bytes
  beyond it (`obs-text`), which it cannot put in the event's JSON.
- The run never revokes the key it runs with (`CONTRACT_OWN_KEY_ID`): the stateful phase lists
  keys and deletes what it finds, and every call after that would be a 401 that tests nothing.
"""

import os
import uuid

import schemathesis


def _sent_content_type(case):
    for name, value in (case.headers or {}).items():
        if name.lower() == "content-type":
            return str(value).lower()
    return (case.media_type or "").lower()


@schemathesis.hook
def before_call(context, case, kwargs):
    # Only a key the schema allows is made fresh: one generated to break the schema (empty, over
    # 255 characters) must reach the server as it is, to be refused.
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and 1 <= len(key) <= 255:
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    for name, value in list((case.headers or {}).items()):
        if isinstance(value, str) and not value.isascii():
            case.headers[name] = value.encode("ascii", errors="replace").decode("ascii")
    content_type = _sent_content_type(case)
    textual = content_type.startswith("text/") or content_type.startswith("application/json")
    if textual and isinstance(case.body, bytes):
        case.body = case.body.decode("utf-8", errors="replace").encode("utf-8")


@schemathesis.hook
def filter_case(context, case):
    own_key = os.environ.get("CONTRACT_OWN_KEY_ID")
    if (
        own_key
        and case.method.upper() == "DELETE"
        and case.path == "/api/api-keys/{id}"
        and (case.path_parameters or {}).get("id") == own_key
    ):
        return False
    # A multipart form (binary file bytes) sent under a text Content-Type: the same local router
    # limit as above, and no replacement keeps it a form.
    content_type = _sent_content_type(case)
    textual = content_type.startswith("text/") or content_type.startswith("application/json")
    return not (textual and (case.media_type or "").startswith("multipart/"))
