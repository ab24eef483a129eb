"""A session's start: SSL and GSS requests answered no, the startup message, the password, the
upstream connection and its settings, the parameters a client sees."""

import hashlib
import os
import random
import struct

from psycopg import pq

from .upstream import error_fields


class Startup:
    """The start of a Session."""

    def startup(self):
        while True:
            n = struct.unpack("!I", self.recv_exact(4))[0]
            body = self.recv_exact(n - 4)
            code = struct.unpack("!I", body[:4])[0]
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                self.sock.sendall(b"N")
                continue
            if code == 80877102:  # CancelRequest: not emulated
                return False
            if code != 196608:
                self.send_error({"S": "FATAL", "C": "0A000",
                                 "M": f"unsupported frontend protocol {code >> 16}.{code & 0xffff}"})
                self.flush()
                return False
            items = body[4:].split(b"\0")
            params = {}
            for k in range(0, len(items) - 1, 2):
                if items[k]:
                    params[items[k].decode()] = items[k + 1].decode()
            break
        user = params.get("user", "")
        self.database = params.get("database") or user
        if self.emu.args.password is not None:
            salt = os.urandom(4)
            if self.emu.args.password_method == "cleartext":
                self.send(b"R", struct.pack("!I", 3))
            else:
                self.send(b"R", struct.pack("!I", 5) + salt)
            self.flush()
            kind = self.recv_exact(1)
            n = struct.unpack("!I", self.recv_exact(4))[0]
            body = self.recv_exact(n - 4)
            if kind != b"p":
                return False
            given = body.rstrip(b"\0").decode("utf-8", "replace")
            pw = self.emu.args.password
            inner = hashlib.md5((pw + user).encode()).hexdigest()
            expected_md5 = "md5" + hashlib.md5(inner.encode() + salt).hexdigest()
            if given not in (pw, expected_md5):
                self.send_error({"S": "FATAL", "C": "28P01",
                                 "M": f'password authentication failed for user "{user}"'})
                self.flush()
                return False
        conn = pq.PGconn.connect(self.emu.conninfo(self.database))
        if conn.status != pq.ConnStatus.OK:
            msg = conn.get_error_message().strip()
            self.send_error({"S": "FATAL", "C": "3D000" if "does not exist" in msg else "08006",
                             "M": msg})
            self.flush()
            return False
        self.conn = conn
        conn.notice_handler = self._on_notice
        setup = (b"SET default_transaction_isolation = 'serializable'; SET DateStyle = 'ISO, MDY';"
                 b" SET TimeZone = 'UTC'; SET client_encoding = 'UTF8';"
                 b" SET intervalstyle = 'postgres'; SET bytea_output = 'hex'")
        res = conn.exec_(setup)
        if res.status != pq.ExecStatus.COMMAND_OK:
            raise RuntimeError(res.get_error_message())
        self.emu.prepare_database(self.database)
        self.send(b"R", struct.pack("!I", 0))
        for k, v in (("server_version", "8.0.2"), ("client_encoding", "UTF8"),
                     ("server_encoding", "UTF8"), ("DateStyle", "ISO, MDY"),
                     ("integer_datetimes", "on"), ("standard_conforming_strings", "on"),
                     ("TimeZone", "UTC"), ("is_superuser", "on"),
                     ("session_authorization", user), ("application_name",
                                                       params.get("application_name", ""))):
            self.send(b"S", k.encode() + b"\0" + v.encode() + b"\0")
        self.send(b"K", struct.pack("!II", conn.backend_pid, random.getrandbits(31)))
        self.ready()
        return True

    def _on_notice(self, res):
        f = error_fields(res)
        f.pop("P", None)
        self.notices.append(f)
