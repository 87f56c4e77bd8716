"""A stand-in for Amazon SNS's certificate host, for tests/sns_signatures.rs.

    python tests/sns_test_ca.py <port> <dir>

Generates into <dir> a test certificate authority (ca.pem), a TLS certificate for
sns.us-east-1.amazonaws.com signed by it, and an SNS signing key and certificate signed by it;
then serves HTTPS on 127.0.0.1:<port>:

  GET  /<anything>.pem  the signing certificate (counted per path, see /_fetches);
                        /missing-*.pem answers 404 and /broken-*.pem answers text that is no
                        certificate, so a test can check failures are not cached
  GET  /_fetches        {"<path>": count} of the .pem requests
  GET  /_confirmations  the paths (with query) of every other GET, e.g. a SubscribeURL
  GET  anything else    200 with a small ConfirmSubscriptionResponse, recorded
  POST /_sign           {"message": {...}, "version": "1"|"2", "cert_url"?: "..."} -> the message
                        with SignatureVersion, Signature and SigningCertURL filled in

The string to sign is written here from the AWS documentation ("Verifying the signatures of
Amazon SNS messages"), independently of the Rust code under test. The TLS certificate also
names the forged hosts the tests use, so a verifier that failed to refuse a forged URL would
really be served the certificate: a test's "no request reached the server" then means something.
"""

import base64
import datetime
import http.server
import json
import os
import ssl
import sys
import threading
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from standin_server import Server

SNS_HOST = "sns.us-east-1.amazonaws.com"
FORGED_HOSTS = ["sns.us-east-1.amazonaws.com.evil.example", "evil.example"]
DEFAULT_CERT_URL = f"https://{SNS_HOST}/SimpleNotificationService-test.pem"

# The names in each type's string to sign, in byte order; Subject only when present and not null.
SIGNED_NAMES = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
    "UnsubscribeConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
}


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(subject, key, issuer, issuer_key, ca=False, dns_names=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_server_files(directory, tls, tls_key, ca):
    """The server's chain (tls.pem) and key (tls-key.pem), for ssl's load_cert_chain."""
    with open(os.path.join(directory, "tls.pem"), "wb") as f:
        f.write(pem(tls) + pem(ca))
    with open(os.path.join(directory, "tls-key.pem"), "wb") as f:
        f.write(
            tls_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def write_ca(directory, ca):
    """ca.pem, whole, before the server listens: the test waits for the port, then reads it."""
    ca_path = os.path.join(directory, "ca.pem")
    with open(ca_path + ".tmp", "wb") as f:
        f.write(pem(ca))
    os.replace(ca_path + ".tmp", ca_path)


def string_to_sign(message):
    names = SIGNED_NAMES[message["Type"]]
    return "".join(f"{n}\n{message[n]}\n" for n in names if message.get(n) is not None)


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    os.makedirs(directory, exist_ok=True)

    ca_key = new_key()
    ca = issue("Hookgate test CA", ca_key, name("Hookgate test CA"), ca_key, ca=True)
    tls_key = new_key()
    tls = issue(SNS_HOST, tls_key, ca.subject, ca_key, dns_names=[SNS_HOST, *FORGED_HOSTS])
    signing_key = new_key()
    signing = issue("sns.amazonaws.com", signing_key, ca.subject, ca_key)
    signing_pem = pem(signing)

    write_server_files(directory, tls, tls_key, ca)
    with open(os.path.join(directory, "signing.pem"), "wb") as f:
        f.write(signing_pem)

    lock = threading.Lock()
    fetches = {}
    confirmations = []

    def sign(message, version, cert_url):
        digest = {"1": hashes.SHA1(), "2": hashes.SHA256()}[version]
        signature = signing_key.sign(string_to_sign(message).encode("utf-8"), padding.PKCS1v15(), digest)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode("ascii"),
            "SigningCertURL": cert_url,
        }

    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, status, body, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def reply_json(self, value):
            self.reply(200, json.dumps(value).encode(), "application/json")

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            if path == "/_fetches":
                with lock:
                    return self.reply_json(dict(fetches))
            if path == "/_confirmations":
                with lock:
                    return self.reply_json(list(confirmations))
            if path.endswith(".pem"):
                with lock:
                    fetches[path] = fetches.get(path, 0) + 1
                if path.startswith("/missing-"):
                    return self.reply(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
                if path.startswith("/broken-"):
                    return self.reply(200, b"this is not a certificate\n", "application/x-x509-ca-cert")
                return self.reply(200, signing_pem, "application/x-x509-ca-cert")
            with lock:
                confirmations.append(self.path)
            body = (
                b'<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                b"<ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:us-east-1:123456789012:t:1"
                b"</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
            )
            self.reply(200, body, "text/xml")

        def do_POST(self):
            if urllib.parse.urlsplit(self.path).path != "/_sign":
                return self.reply(404, b"not found", "text/plain")
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            signed = sign(request["message"], request["version"], request.get("cert_url", DEFAULT_CERT_URL))
            self.reply_json(signed)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(directory, "tls.pem"), os.path.join(directory, "tls-key.pem"))

    class TlsServer(Server):
        def get_request(self):
            # The handshake happens in the handler's thread, so one slow client blocks no one.
            sock, address = super().get_request()
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    write_ca(directory, ca)
    server = TlsServer(("127.0.0.1", port), Handler)
    print(f"sns test CA serving https://127.0.0.1:{port} with {directory}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
