"""HTTPS in front of the emulator, for the store's TLS path (tests/store_tls.rs).

    python tests/tls_proxy.py <port> <dir> <upstream port>

Generates into <dir> a test certificate authority (ca.pem) and a TLS certificate for
`localhost` signed by it, then accepts TLS on 127.0.0.1:<port> and relays each connection's
bytes, both ways, to 127.0.0.1:<upstream port>. After each handshake that succeeds, the count
of them is written to <dir>/connections: a test can tell that a refused one relayed nothing.
"""

import os
import select
import socket
import ssl
import sys
import threading

from sns_test_ca import issue, name, new_key, write_ca, write_server_files


def pump(client, emulator):
    """Relays both ways until either side closes. One thread does both directions: an SSL
    socket must not be read and written from two threads at once."""
    try:
        while True:
            # Bytes already decrypted wait in the SSL object, where select cannot see them.
            readable = [client] if client.pending() else select.select([client, emulator], [], [])[0]
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (emulator if source is client else client).sendall(data)
    except OSError:
        pass
    finally:
        client.close()
        emulator.close()


def main():
    port, directory, upstream = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    os.makedirs(directory, exist_ok=True)
    ca_key = new_key()
    ca = issue("Hookgate test CA", ca_key, name("Hookgate test CA"), ca_key, ca=True)
    tls_key = new_key()
    tls = issue("localhost", tls_key, ca.subject, ca_key, dns_names=["localhost"])
    write_server_files(directory, tls, tls_key, ca)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(directory, "tls.pem"), os.path.join(directory, "tls-key.pem"))

    lock = threading.Lock()
    connections = [0]

    def serve(client):
        try:
            client = context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError) as error:
            print(f"handshake refused: {error!r}", file=sys.stderr, flush=True)
            client.close()
            return
        with lock:
            connections[0] += 1
            count_path = os.path.join(directory, "connections")
            with open(count_path + ".tmp", "w") as f:
                f.write(str(connections[0]))
            os.replace(count_path + ".tmp", count_path)
        emulator = socket.create_connection(("127.0.0.1", upstream))
        emulator.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pump(client, emulator)

    write_ca(directory, ca)
    listener = socket.create_server(("127.0.0.1", port), backlog=128)
    print(f"https://localhost:{port} relays to 127.0.0.1:{upstream}", flush=True)
    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
