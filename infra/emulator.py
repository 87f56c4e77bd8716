"""The AWS emulator (moto's server) with DynamoDB requests handled one at a time.

moto runs each request on a thread of its own, but its DynamoDB backend is not thread-safe:
a transaction copies the whole table to roll back with, and restores that copy when it is
cancelled, wiping what other threads wrote meanwhile; a copy taken while another thread writes
fails with a 500. DynamoDB isolates transactions; serialising the emulator's DynamoDB requests
gives the tests the same guarantee. Every other service is served as moto serves it.

Usage: python infra/emulator.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_one_at_a_time = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised_call_action(self):
    with _one_at_a_time:
        return _call_action(self)


DynamoHandler.call_action = _serialised_call_action

if __name__ == "__main__":
    sys.exit(main())
