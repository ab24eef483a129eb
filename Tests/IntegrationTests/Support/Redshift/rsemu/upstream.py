"""The upstream's results and errors as the client sees them (Redshift's type OIDs, VARBYTE as
hex)."""

import select

from psycopg import pq

from .errors import UpstreamError


CHAR_OIDS = {25, 1042, 1043}
BYTEA_OID = 17
# The upstream keeps VARBYTE as bytea and SUPER as json; clients see Redshift's type OIDs for them.
REDSHIFT_OIDS = {17: 6551, 114: 4000}


def describe_prepared(conn, name):
    """PQdescribePrepared, waiting for the answer in select(), which lets other threads run.

    psycopg's binary describe_prepared keeps the GIL while the upstream answers, and a Describe
    waits for the table locks of the statement's plan: while another session held one (a LOCK in
    an open transaction), every session of the emulator stopped, the lock holder's included."""
    conn.send_describe_prepared(name)
    while True:
        conn.consume_input()
        if not conn.is_busy():
            break
        select.select([conn.socket], [], [])
    res = conn.get_result()
    while conn.get_result() is not None:
        pass
    return res


def error_fields(res):
    f = {}
    for code, field in (("S", pq.DiagnosticField.SEVERITY),
                        ("V", pq.DiagnosticField.SEVERITY_NONLOCALIZED),
                        ("C", pq.DiagnosticField.SQLSTATE),
                        ("M", pq.DiagnosticField.MESSAGE_PRIMARY),
                        ("D", pq.DiagnosticField.MESSAGE_DETAIL),
                        ("H", pq.DiagnosticField.MESSAGE_HINT),
                        ("P", pq.DiagnosticField.STATEMENT_POSITION),
                        ("W", pq.DiagnosticField.CONTEXT),
                        ("s", pq.DiagnosticField.SCHEMA_NAME),
                        ("t", pq.DiagnosticField.TABLE_NAME),
                        ("c", pq.DiagnosticField.COLUMN_NAME)):
        v = res.error_field(field)
        if v is not None:
            f[code] = v.decode("utf-8", "replace")
    if "M" not in f:
        f["M"] = (res.get_error_message() or "upstream error").strip()
    f.setdefault("S", "ERROR")
    f.setdefault("C", "XX000")
    return f


class Result:
    def __init__(self, fields=None, rows=None, tag=b"", empty=False):
        self.fields = fields   # [(name bytes, table oid, col, type oid, size, mod)]
        self.rows = rows or []
        self.tag = tag
        self.empty = empty
        self.s3_bytes = None  # a COPY from S3: the bytes of the objects it read (statements log)


def result_from_pg(res):
    st = res.status
    if st == pq.ExecStatus.EMPTY_QUERY:
        return Result(empty=True)
    if st == pq.ExecStatus.COMMAND_OK:
        return Result(tag=res.command_status or b"")
    if st == pq.ExecStatus.TUPLES_OK:
        nf = res.nfields
        fields = describe_fields(res)
        byteas = [c for c in range(nf) if res.ftype(c) == BYTEA_OID]
        rows = []
        for r in range(res.ntuples):
            row = [res.get_value(r, c) for c in range(nf)]
            for c in byteas:  # VARBYTE prints as hex without PostgreSQL's \x
                if row[c] is not None and row[c].startswith(b"\\x"):
                    row[c] = row[c][2:]
            rows.append(row)
        return Result(fields, rows, res.command_status or b"")
    raise UpstreamError(error_fields(res))


def describe_fields(res):
    return [(res.fname(c), res.ftable(c), res.ftablecol(c),
             REDSHIFT_OIDS.get(res.ftype(c), res.ftype(c)), res.fsize(c), res.fmod(c))
            for c in range(res.nfields)]
