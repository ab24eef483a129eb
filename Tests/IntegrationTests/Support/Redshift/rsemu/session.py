"""One client session: its state, its main loop and the simple query protocol (several statements
in one query, the implicit transaction around them)."""

import struct
import traceback

from psycopg import pq

from .analyze import STATEMENT_LIMIT, analyze
from .copy_from_s3 import CopyFromS3
from .errors import RsError, UpstreamError
from .execute import Executor
from .extended import ExtendedProtocol
from .sql_text import significant, split_statements, tokenize
from .startup import Startup
from .upstream import error_fields
from .wire import Wire


class Session(Wire, Startup, ExtendedProtocol, Executor, CopyFromS3):
    def __init__(self, emu, sock):
        self.emu = emu
        self.sock = sock
        self.out = bytearray()
        self.id = emu.next_session()
        self.conn = None
        self.database = None
        self.last_copy_count = 0
        self.last_copy_id = -1
        self.implicit_txn = False
        self.statements = {}   # client name -> (Plan, upstream name or None)
        self.portals = {}      # client name -> dict
        self.upstream_counter = 0
        self.to_close = []
        self.notices = []

    def ready(self):
        self.flush_closes()
        self.send_notices()
        st = self.conn.transaction_status
        code = {pq.TransactionStatus.INTRANS: b"T",
                pq.TransactionStatus.INERROR: b"E"}.get(st, b"I")
        self.send(b"Z", code)
        self.flush()

    # -- main loop --------------------------------------------------------------------------
    def run(self):
        try:
            if not self.startup():
                return
            skipping = False
            while True:
                kind = self.recv_exact(1)
                n = struct.unpack("!I", self.recv_exact(4))[0]
                body = self.recv_exact(n - 4)
                if kind == b"X":
                    return
                if kind == b"Q":
                    skipping = False
                    self.simple_query(body[:-1].decode("utf-8", "surrogateescape"))
                    continue
                if kind == b"S":
                    skipping = False
                    self.ready()
                    continue
                if kind == b"H":
                    self.flush()
                    continue
                if skipping:
                    continue
                try:
                    if kind == b"P":
                        self.on_parse(body)
                    elif kind == b"B":
                        self.on_bind(body)
                    elif kind == b"D":
                        self.on_describe(body)
                    elif kind == b"E":
                        self.on_execute(body)
                    elif kind == b"C":
                        self.on_close(body)
                    elif kind in (b"d", b"c", b"f"):
                        pass  # copy data from a client: no COPY FROM STDIN here
                    else:
                        raise RsError(f"unsupported frontend message {kind!r}", "08P01")
                except RsError as e:
                    self.abort_client_transaction()
                    self.send_error(e.fields())
                    skipping = True
                except UpstreamError as e:
                    self.send_error(e.fields)
                    skipping = True
        except (ConnectionError, OSError):
            pass
        except Exception:
            traceback.print_exc()
            try:
                self.send_error({"S": "FATAL", "C": "XX000", "M": "internal error in the emulator"})
                self.flush()
            except OSError:
                pass
        finally:
            if self.conn is not None:
                self.conn.finish()
            try:
                self.sock.close()
            except OSError:
                pass

    # -- simple query -----------------------------------------------------------------------
    def status(self):
        return self.conn.transaction_status

    def in_block(self):
        return (self.status() in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR)
                and not self.implicit_txn)

    def simple_query(self, query):
        if len(query.encode("utf-8", "surrogateescape")) > STATEMENT_LIMIT:
            e = RsError(f"Statement is too large. Statement Size: "
                        f"{len(query.encode('utf-8', 'surrogateescape'))} bytes. "
                        f"Maximum Allowed: {STATEMENT_LIMIT} bytes", "54000")
            self.emu.log(self.id, query[:1000] + "...", "refused", e.message)
            self.abort_client_transaction()
            self.send_error(e.fields())
            self.ready()
            return
        stmts = split_statements(query)
        if not stmts:
            self.send(b"I")
            self.ready()
            return
        control = any((significant(tokenize(s))[0].up or "") in
                      ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT") for s in stmts)
        wrap = len(stmts) > 1 and not control and self.status() == pq.TransactionStatus.IDLE
        if wrap:
            self.conn.exec_(b"BEGIN")
            self.implicit_txn = True
        try:
            for s in stmts:
                plan = None
                try:
                    plan = analyze(s)
                    res = self.execute(plan)
                except RsError as e:
                    self.emu.log(self.id, s, e.kind, e.message)
                    self.abort_client_transaction()
                    self.send_notices()
                    self.send_error(e.fields())
                    break
                except UpstreamError as e:
                    self.emu.log(self.id, s, "error", e.fields.get("M"))
                    self.send_notices()
                    self.send_error(self._client_fields(e.fields, plan))
                    break
                self.emu.log(self.id, s, "accepted", s3_bytes=res.s3_bytes)
                self.send_notices()
                if res.empty:
                    self.send(b"I")
                    continue
                if res.fields is not None:
                    self.send_row_description(res.fields)
                    self.send_rows(res.rows)
                self.send(b"C", res.tag + b"\0")
        finally:
            if wrap:
                self.implicit_txn = False
                st = self.status()
                if st == pq.TransactionStatus.INTRANS:
                    r = self.conn.exec_(b"COMMIT")
                    if r.status != pq.ExecStatus.COMMAND_OK:
                        self.send_error(error_fields(r))
                elif st == pq.TransactionStatus.INERROR:
                    self.conn.exec_(b"ROLLBACK")
        self.ready()

    @staticmethod
    def _client_fields(fields, plan):
        f = dict(fields)
        if plan is not None and plan.rewritten:
            f.pop("P", None)  # a position in the rewritten text would point at the wrong place
        return f

    def abort_client_transaction(self):
        """A statement that fails (or is refused) aborts the client's transaction block, as any
        error does on Redshift; the upstream must not go on as if nothing happened."""
        if self.status() == pq.TransactionStatus.INTRANS:
            self.conn.exec_(b"DO $$BEGIN RAISE EXCEPTION 'statement failed'; END$$")
