"""Port blocker for the `api-port-block` drill.

Holds the API's port and resets every connection right after accepting it,
so clients see "connection reset" instead of an answer, like a broken
network path or a misbehaving load balancer in front of the API.

Run: python -m k2local.blocker --home DIR --port P
"""

from __future__ import annotations

import argparse
import os
import socket
import struct

from k2local.home import Home, resolve_home
from k2local.lifecycle import log, stop_event


def run(home: Home, port: int) -> int:
    stop = stop_event()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    srv.settimeout(0.2)  # wake up regularly to notice SIGTERM
    log("blocker", f"holding 127.0.0.1:{port} pid={os.getpid()} (home {home.root})")
    try:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except InterruptedError:
                continue
            # Linger 0 => close sends RST rather than FIN: an abrupt reset.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
    finally:
        srv.close()
    log("blocker", "released port")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m k2local.blocker", description=__doc__)
    p.add_argument("--home")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args(argv)
    return run(Home(resolve_home(a.home)), a.port)


if __name__ == "__main__":
    raise SystemExit(main())
