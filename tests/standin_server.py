"""The HTTP server the test receiver and the providers' stand-ins listen with: a thread per
connection, each failed request reported on one line."""

import sys
from http.server import ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a worker opening ten connections at once overflows it,
    # and each dropped connection waits a second for the client to send its SYN again.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        print(f"request from {client_address} failed: {sys.exc_info()[1]!r}", file=sys.stderr, flush=True)
