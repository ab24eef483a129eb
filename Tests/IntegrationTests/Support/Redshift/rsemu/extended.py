"""The extended query protocol: Parse, Bind, Describe, Execute (row limits, PortalSuspended) and
Close, with upstream prepared statements for what passes through."""

import struct

from psycopg import pq

from .analyze import analyze
from .errors import RsError, UpstreamError
from .sql_text import split_statements
from .upstream import describe_fields, describe_prepared, error_fields
from .wire import cstr


class ExtendedProtocol:
    """The extended query protocol for a Session."""

    def on_parse(self, body):
        name, pos = cstr(body, 0)
        query, pos = cstr(body, pos)
        nparams = struct.unpack("!H", body[pos:pos + 2])[0]
        oids = list(struct.unpack(f"!{nparams}I", body[pos + 2:pos + 2 + 4 * nparams]))
        if name and name in self.statements:
            raise RsError(f'prepared statement "{name}" already exists', "42P05")
        stmts = split_statements(query)
        if len(stmts) > 1:
            raise RsError("cannot insert multiple commands into a prepared statement", "42601")
        try:
            plan = analyze(stmts[0] if stmts else "")
        except RsError as e:
            self.emu.log(self.id, query, e.kind, e.message)
            raise
        uname = None
        if plan.kind in ("passthrough", "truncate", "commit") and stmts:
            self.upstream_counter += 1
            uname = f"rsemu_{self.upstream_counter}"
            res = self.conn.prepare(
                uname.encode(), self.session_sql(plan.sql).encode("utf-8", "surrogateescape"),
                oids or None)
            if res.status != pq.ExecStatus.COMMAND_OK:
                f = error_fields(res)
                self.emu.log(self.id, query, "error", f.get("M"))
                raise UpstreamError(self._client_fields(f, plan))
        if name == "" and "" in self.statements:
            self._forget_statement("")
        self.statements[name] = (plan, uname, oids)
        self.send(b"1")

    def _forget_statement(self, name):
        plan, uname, _ = self.statements.pop(name)
        if uname:
            self.to_close.append(uname)

    def flush_closes(self):
        if not self.to_close or self.status() == pq.TransactionStatus.INERROR:
            return
        for uname in self.to_close:
            self.conn.close_prepared(uname.encode())
        self.to_close = []

    def on_bind(self, body):
        portal, pos = cstr(body, 0)
        stmt, pos = cstr(body, pos)
        if stmt not in self.statements:
            raise RsError(f'prepared statement "{stmt}" does not exist', "26000")
        nfmt = struct.unpack("!H", body[pos:pos + 2])[0]
        fmts = struct.unpack(f"!{nfmt}H", body[pos + 2:pos + 2 + 2 * nfmt])
        pos += 2 + 2 * nfmt
        if any(fmts):
            raise RsError("binary parameter format is not supported by the Redshift emulation", "0A000")
        nparams = struct.unpack("!H", body[pos:pos + 2])[0]
        pos += 2
        params = []
        for _ in range(nparams):
            ln = struct.unpack("!i", body[pos:pos + 4])[0]
            pos += 4
            if ln < 0:
                params.append(None)
            else:
                params.append(body[pos:pos + ln])
                pos += ln
        nres = struct.unpack("!H", body[pos:pos + 2])[0]
        rfmts = struct.unpack(f"!{nres}H", body[pos + 2:pos + 2 + 2 * nres])
        if any(rfmts):
            raise RsError("binary result format is not supported by the Redshift emulation", "0A000")
        plan, uname, _ = self.statements[stmt]
        if params and plan.kind not in ("passthrough", "truncate", "commit"):
            raise RsError("parameters are not supported for this statement", "0A000")
        self.portals[portal] = {"stmt": stmt, "plan": plan, "uname": uname, "params": params,
                                "oids": self.statements[stmt][2],
                                "result": None, "pos": 0}
        self.send(b"2")

    def _statement_fields(self, plan, uname):
        if plan.kind == "virtual":
            return self.execute_virtual_description(plan)
        if uname is None:
            return None
        res = describe_prepared(self.conn, uname.encode())
        if res.status != pq.ExecStatus.COMMAND_OK:
            raise UpstreamError(error_fields(res))
        return describe_fields(res) if res.nfields else None, res

    def execute_virtual_description(self, plan):
        if plan.virtual == "last_copy_count":
            return [(b"pg_last_copy_count", 0, 0, 20, 8, -1)], None
        return [(b"redshift_emulation_fail_next_commit", 0, 0, 25, -1, -1)], None

    def on_describe(self, body):
        what = body[:1]
        name, _ = cstr(body, 1)
        if what == b"S":
            if name not in self.statements:
                raise RsError(f'prepared statement "{name}" does not exist', "26000")
            plan, uname, oids = self.statements[name]
            desc = self._statement_fields(plan, uname)
            fields, res = desc if desc else (None, None)
            ptypes = [res.param_type(k) for k in range(res.nparams)] if res is not None else []
            self.send(b"t", struct.pack("!H", len(ptypes)) + b"".join(struct.pack("!I", t)
                                                                       for t in ptypes))
        else:
            if name not in self.portals:
                raise RsError(f'portal "{name}" does not exist', "34000")
            p = self.portals[name]
            desc = self._statement_fields(p["plan"], p["uname"])
            fields = desc[0] if desc else None
        if fields:
            self.send_row_description(fields)
        else:
            self.send(b"n")

    def on_execute(self, body):
        name, pos = cstr(body, 0)
        max_rows = struct.unpack("!I", body[pos:pos + 4])[0]
        if name not in self.portals:
            raise RsError(f'portal "{name}" does not exist', "34000")
        p = self.portals[name]
        plan = p["plan"]
        if p["result"] is None:
            if not plan.original.strip():
                self.send(b"I")
                return
            try:
                p["result"] = self.execute(plan, p["uname"], p["params"], p["oids"])
            except RsError as e:
                self.emu.log(self.id, plan.original, e.kind, e.message)
                raise
            except UpstreamError as e:
                self.emu.log(self.id, plan.original, "error", e.fields.get("M"))
                raise UpstreamError(self._client_fields(e.fields, plan))
            self.emu.log(self.id, plan.original, "accepted", s3_bytes=p["result"].s3_bytes)
            self.send_notices()
        res = p["result"]
        if res.empty:
            self.send(b"I")
            return
        rows = res.rows[p["pos"]:]
        if max_rows and len(rows) > max_rows:
            self.send_rows(rows[:max_rows])
            p["pos"] += max_rows
            self.send(b"s")
            return
        self.send_rows(rows)
        p["pos"] = len(res.rows)
        self.send(b"C", res.tag + b"\0")

    def on_close(self, body):
        what = body[:1]
        name, _ = cstr(body, 1)
        if what == b"S":
            if name in self.statements:
                self._forget_statement(name)
        else:
            self.portals.pop(name, None)
        self.send(b"3")
