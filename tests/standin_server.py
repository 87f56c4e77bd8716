"""The HTTP server the test receiver and the providers' stand-ins listen with: a thread per
connection, each failed request reported on one line."""

import socket
import sys
from http.server import ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a worker opening ten connections at once overflows it,
    # and each dropped connection waits a second for the client to send its SYN again.
    request_queue_size = 128

    def get_request(self):
        # On a connection kept open, http.server writes an answer's body after its headers, and
        # with Nagle's algorithm the body waited for the client's delayed ACK: 40 ms an answer.
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def handle_error(self, request, client_address):
        print(f"request from {client_address} failed: {sys.exc_info()[1]!r}", file=sys.stderr, flush=True)
