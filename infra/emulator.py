"""The AWS emulator: moto's services, their DynamoDB requests handled one at a time, served over
connections that stay open.

moto runs each request on a thread of its own, but its DynamoDB backend is not thread-safe:
a transaction copies the whole table to roll back with, and restores that copy when it is
cancelled, wiping what other threads wrote meanwhile; a copy taken while another thread writes
fails with a 500. DynamoDB isolates transactions; serialising the emulator's DynamoDB requests
gives the tests the same guarantee.

moto's own server (werkzeug's development server) answers every request with `Connection:
close`, so each AWS call opened a new TCP connection, which AWS's endpoints do not make a client
do: the connection's set-up was in every CPU figure of `make bench` (0.1 to 0.25 ms per call).
waitress keeps HTTP/1.1 connections open as AWS does. Its threads are a fixed pool, and an SQS
long poll holds one while it waits, so the pool is large.

Usage: python infra/emulator.py -H 127.0.0.1 -p PORT
"""

import argparse
import os
import sys
import threading

import waitress
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

_one_at_a_time = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised_call_action(self):
    with _one_at_a_time:
        return _call_action(self)


DynamoHandler.call_action = _serialised_call_action


def main():
    parser = argparse.ArgumentParser(description="moto's AWS services over keep-alive HTTP")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    # moto builds the URLs it answers with (SQS queue URLs) from this.
    os.environ["MOTO_PORT"] = str(args.port)
    app = DomainDispatcherApplication(create_backend_app)
    waitress.serve(
        app,
        host=args.host,
        port=args.port,
        threads=64,
        connection_limit=1000,
        backlog=1024,
        ident=None,
    )


if __name__ == "__main__":
    sys.exit(main())
