"""A webhook receiver for the end-to-end tests, verifying what it receives with independent
implementations: the `standardwebhooks` library (Standard Webhooks) and Python's hmac
(`X-Hookgate-Signature: sha256=<hex>`; and seed 004's recipe, the bare hex of HMAC-SHA256 of the
body in `x-confirmai-signature`).

Each path is its own receiver. POST /_configure {"path", "statuses", "secrets", "retry_after"}
scripts the status codes it answers (the last one repeats) and the secrets to verify with;
GET /_seen?path=/x lists what arrived there.
"""

import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from standardwebhooks.webhooks import Webhook

from standin_server import Server

LOCK = threading.Lock()
CONFIG = {}
SEEN = {}


def verify(headers, body, secrets):
    result = {"standard": [], "sha256": [], "sha256_previous": [], "hex": []}
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
            result["standard"].append(secret)
        except Exception:
            pass
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, headers.get("x-hookgate-signature", "")):
            result["sha256"].append(secret)
        if hmac.compare_digest(expected, headers.get("x-hookgate-signature-previous", "")):
            result["sha256_previous"].append(secret)
        # Seed 004's verifyWebhook: createHmac("sha256", secret).update(body).digest("hex").
        bare = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(bare, headers.get("x-confirmai-signature", "")):
            result["hex"].append(secret)
    return result


class Handler(BaseHTTPRequestHandler):
    # Keeps connections open, as receivers' HTTP servers do; http.server's HTTP/1.0 closed each
    # one, so every delivery in the tests and the bench paid for a new TCP connection.
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload=None, headers=()):
        self.send_response(status)
        # 204 and 304 carry no body and no length: a body sent anyway would be read as the start
        # of the next answer on a connection kept open.
        if status in (204, 304):
            body = b""
        else:
            body = json.dumps(payload if payload is not None else {}).encode()
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/_seen":
            path = parse_qs(url.query)["path"][0]
            with LOCK:
                return self.reply(200, SEEN.get(path, []))
        self.reply(404)

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length)
        path = urlparse(self.path).path
        if path == "/_configure":
            config = json.loads(body)
            with LOCK:
                CONFIG[config["path"]] = config
                SEEN.setdefault(config["path"], [])
            return self.reply(200)
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            config = CONFIG.get(path, {"statuses": [200], "secrets": []})
            seen = SEEN.setdefault(path, [])
            statuses = config["statuses"]
            status = statuses[min(len(seen), len(statuses) - 1)]
            seen.append({
                "at": time.time(),
                "headers": headers,
                "body": json.loads(body),
                "verified": verify(headers, body, config.get("secrets", [])),
                "status": status,
            })
        extra = [("retry-after", str(config["retry_after"]))] if config.get("retry_after") and status in (429, 503) else []
        self.reply(status, {"received": status < 300}, extra)


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    server.serve_forever()
