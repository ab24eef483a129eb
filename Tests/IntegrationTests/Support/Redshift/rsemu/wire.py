"""The PostgreSQL wire protocol (version 3): reading and framing messages."""

import struct


def cstr(body, pos):
    end = body.index(b"\0", pos)
    return body[pos:end].decode("utf-8", "surrogateescape"), end + 1


class Wire:
    """Message framing for a Session (uses self.sock, self.out, self.notices)."""

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("client closed")
            buf += chunk
        return bytes(buf)

    def send(self, kind, payload=b""):
        self.out += kind + struct.pack("!I", len(payload) + 4) + payload
        if len(self.out) > 1 << 16:
            self.flush()

    def flush(self):
        if self.out:
            self.sock.sendall(self.out)
            self.out = bytearray()

    def send_error(self, fields, severity="ERROR"):
        payload = b""
        fields = dict(fields)
        fields.setdefault("S", severity)
        fields.setdefault("V", severity)
        for k, v in fields.items():
            payload += k.encode() + v.encode("utf-8", "replace") + b"\0"
        self.send(b"E", payload + b"\0")

    def send_notices(self):
        for f in self.notices:
            payload = b"".join(k.encode() + v.encode("utf-8", "replace") + b"\0"
                               for k, v in f.items())
            self.send(b"N", payload + b"\0")
        self.notices = []

    def send_row_description(self, fields):
        payload = struct.pack("!H", len(fields))
        for name, table, col, typ, size, mod in fields:
            payload += name + b"\0" + struct.pack("!IhIhih", table, col, typ, size, mod, 0)
        self.send(b"T", payload)

    def send_rows(self, rows):
        for row in rows:
            payload = struct.pack("!H", len(row))
            for v in row:
                if v is None:
                    payload += struct.pack("!i", -1)
                else:
                    payload += struct.pack("!i", len(v)) + v
            self.send(b"D", payload)
