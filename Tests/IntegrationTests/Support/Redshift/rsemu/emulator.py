"""What the sessions share: counters, the statements log, the emulation's own upstream connections
(the system schema, stl_load_errors rows that outlive a rollback) and the fault switch."""

import json
import sys
import threading

from psycopg import pq

from .sql_text import mask_credentials, quote_literal
from .system_schema import EMULATION_SCHEMA_SQL


class Emulator:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.session_counter = 0
        self.query_counter = 1000
        self.fail_commits = []          # [(armed by session id, code)]
        self.prepared_dbs = set()
        self.system_conns = {}          # database -> (PGconn, Lock)
        self.log_lock = threading.Lock()
        self.log_file = open(args.statements_log, "a", encoding="utf-8") if args.statements_log else None

    def next_session(self):
        with self.lock:
            self.session_counter += 1
            return self.session_counter

    def next_query(self):
        with self.lock:
            self.query_counter += 1
            return self.query_counter

    def conninfo(self, database):
        a = self.args
        parts = {"host": a.upstream_host, "port": str(a.upstream_port), "user": a.upstream_user,
                 "dbname": database, "application_name": "redshift_emulator"}
        return " ".join(f"{k}={quote_literal(v)}" for k, v in parts.items()).encode()

    def log(self, session, statement, outcome, message=None, s3_bytes=None):
        if not self.log_file:
            return
        entry = {"session": session, "statement": mask_credentials(statement), "outcome": outcome}
        if message:
            entry["message"] = message
        if s3_bytes is not None:
            entry["s3_bytes"] = s3_bytes
        with self.log_lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()

    def system_conn(self, database):
        """A connection of the emulation's own (autocommit, outside any client transaction)."""
        with self.lock:
            entry = self.system_conns.get(database)
            if entry is None or entry[0].status != pq.ConnStatus.OK:
                conn = pq.PGconn.connect(self.conninfo(database))
                if conn.status != pq.ConnStatus.OK:
                    raise RuntimeError(conn.get_error_message())
                entry = (conn, threading.Lock())
                self.system_conns[database] = entry
            return entry

    def prepare_database(self, database):
        if database in self.prepared_dbs:
            return
        conn, lock = self.system_conn(database)
        with lock:
            sql = ("BEGIN; SELECT pg_advisory_xact_lock(727274); " + EMULATION_SCHEMA_SQL +
                   " COMMIT;")
            res = conn.exec_(sql.encode())
            if res.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
                conn.exec_(b"ROLLBACK")
                raise RuntimeError(res.get_error_message())
        self.prepared_dbs.add(database)

    def record_load_error(self, database, row):
        conn, lock = self.system_conn(database)
        cols = list(row.keys())
        sql = (f"INSERT INTO redshift_emulation.stl_load_errors ({', '.join(cols)}) VALUES (" +
               ", ".join(f"${k + 1}" for k in range(len(cols))) + ")")
        values = [None if row[c] is None else str(row[c]).encode("utf-8", "replace") for c in cols]
        with lock:
            res = conn.exec_params(sql.encode(), values)
            if res.status != pq.ExecStatus.COMMAND_OK:
                sys.stderr.write("stl_load_errors insert failed: " + res.get_error_message() + "\n")

    def arm_fail_commit(self, session, code):
        with self.lock:
            self.fail_commits.append((session, code))

    def take_fail_commit(self, session):
        with self.lock:
            for k, (armer, code) in enumerate(self.fail_commits):
                if armer != session:
                    del self.fail_commits[k]
                    return code
        return None
