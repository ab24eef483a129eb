#!/usr/bin/env python3
"""A Redshift emulation for Forager's tests.

A PostgreSQL-wire (protocol 3) server that stands in front of a throwaway PostgreSQL 15 cluster
(the "upstream") and behaves, for what Forager does, like Amazon Redshift: it accepts what Redshift
accepts, refuses what Redshift refuses (with Redshift-like errors), rewrites what Redshift rewrites,
and emulates COPY from S3 (against an S3-compatible server), pg_last_copy_count() and
stl_load_errors. It is a session translator: one upstream libpq connection per client session,
statements checked, rewritten and run upstream, results sent back as text.

See docs/redshift-emulation.md for what it emulates and what it does not.

The code is in the rsemu package next to this script (rsemu/__init__.py lists its modules);
this file starts the server.
"""

import argparse
import os
import signal
import socket
import socketserver
import sys
import threading

# The scripts are run by path, not installed: the rsemu package is found next to this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rsemu.emulator import Emulator  # noqa: E402
from rsemu.session import Session  # noqa: E402


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Session(self.server.emulator, self.request).run()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--upstream-user", default="postgres")
    ap.add_argument("--password", default=None,
                    help="clients must send it (md5 or cleartext password message); "
                         "without it, any client is trusted")
    ap.add_argument("--password-method", choices=("md5", "cleartext"), default="md5",
                    help="which password message the emulator asks for (it accepts either)")
    ap.add_argument("--s3-endpoint", default=None)
    ap.add_argument("--s3-region", default="us-east-1")
    ap.add_argument("--iam-role-key-id", default=None)
    ap.add_argument("--iam-role-secret", default=None)
    ap.add_argument("--statements-log", default=None)
    args = ap.parse_args(argv)
    emu = Emulator(args)
    server = Server(("127.0.0.1", args.port), Handler)
    server.emulator = emu

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
