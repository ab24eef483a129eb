"""Running a COPY from S3: the table's columns, the objects, each record checked and loaded
upstream in one COPY; a failure recorded in stl_load_errors."""

import gzip
import re
from datetime import datetime, timezone

from psycopg import pq

from .csv_load import CsvFormatError, load_error_code, load_value, parse_csv, short_type
from .errors import RsError, UpstreamError
from .s3_objects import fetch_objects
from .sql_text import ident_value, quote_ident
from .upstream import Result, error_fields, result_from_pg


class CopyFromS3:
    """COPY from S3 for a Session."""

    def copy_s3(self, plan):
        e = plan.extra
        o = e["options"]
        cols, table_oid, relname = self.copy_columns(e)
        try:
            objects = fetch_objects(self.emu.args, o, e["source"])
        except RsError:
            self.abort_client_transaction()
            raise
        query_id = self.emu.next_query()
        self.last_copy_id = query_id  # the load begins (pg_last_copy_id)
        start = datetime.now(timezone.utc).replace(tzinfo=None)

        def fail(url, line, raw, col, value, code, reason):
            c = col or ("", 0, 0, "")
            length = ""
            if c[1] in (1042, 1043) and c[2] > 4:
                length = str(c[2] - 4)
            elif c[1] == 1700 and c[2] > 4:
                length = f"{(c[2] - 4) >> 16},{(c[2] - 4) & 0xffff}"
            self.emu.record_load_error(self.database, {
                "userid": 100, "slice": 0, "tbl": table_oid, "starttime": start,
                "session": self.conn.backend_pid, "query": query_id, "filename": url[:256],
                "line_number": line, "colname": c[0][:127], "type": short_type(c[3])[:10],
                "col_length": length[:10], "position": 0,
                "raw_line": "".join(ch if ord(ch) < 128 else "." for ch in raw)[:1024],
                "raw_field_value": (value or "")[:1024], "err_code": code,
                "err_reason": reason[:100], "is_partial": 0, "start_offset": 0})
            self.last_copy_count = 0
            self.abort_client_transaction()
            raise RsError(f"Load into table '{relname}' failed.  Check 'stl_load_errors' system "
                          f"table for details.", "XX000", kind="error")

        records, out = read_records(objects, o, cols, fail)
        final = self.copy_upstream(e["table"], cols, out)
        if final is not None and final.status == pq.ExecStatus.COMMAND_OK:
            self.last_copy_count = len(out)
            result = Result(tag=b"COPY")
            result.s3_bytes = sum(len(data) for _, data in objects)
            return result
        f = error_fields(final)
        url, line, raw, col, value = failed_record(f, records, cols)
        code, reason = load_error_code(f, col)
        fail(url, line, raw, col, value, code, reason)

    def copy_columns(self, e):
        """The columns a COPY loads, (name, type oid, typmod, type name) each, as the client's
        session and transaction see them; and the table's oid and name."""
        r = result_from_pg(self.conn.exec_params(
            b"SELECT a.attname, a.atttypid, a.atttypmod, format_type(a.atttypid, a.atttypmod), "
            b"c.oid::integer, c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            b"WHERE c.oid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [e["table"].encode()]))
        if not r.rows:
            raise RsError(f'relation "{e["table"]}" does not exist', "42P01")
        all_cols = [(row[0].decode(), int(row[1]), int(row[2]), row[3].decode()) for row in r.rows]
        table_oid, relname = int(r.rows[0][4]), r.rows[0][5].decode()
        if e["columns"]:
            by_name = {c[0]: c for c in all_cols}
            cols = []
            for t in e["columns"]:
                name = ident_value(t)
                if name not in by_name:
                    raise RsError(f'column "{name}" of relation "{relname}" does not exist',
                                  "42703")
                cols.append(by_name[name])
        else:
            cols = all_cols
        return cols, table_oid, relname

    def copy_upstream(self, table, cols, out):
        """The checked records loaded upstream in one COPY FROM STDIN: its last result."""
        col_list = ", ".join(quote_ident(c[0]) for c in cols)
        copy_sql = f"COPY {table} ({col_list}) FROM STDIN WITH (FORMAT csv)"
        res = self.conn.exec_(copy_sql.encode("utf-8", "surrogateescape"))
        if res.status != pq.ExecStatus.COPY_IN:
            raise UpstreamError(error_fields(res))
        payload = ("\n".join(out) + ("\n" if out else "")).encode("utf-8", "surrogateescape")
        for k in range(0, len(payload), 1 << 20):
            self.conn.put_copy_data(payload[k:k + (1 << 20)])
        self.conn.put_copy_end()
        final = None
        while True:
            r2 = self.conn.get_result()
            if r2 is None:
                break
            final = r2
        return final


def read_records(objects, o, cols, fail):
    """Each object's CSV records checked against the columns: ([(url, line, raw, fields)], [the
    record as a CSV line for the upstream]). fail(url, line, raw, col, value, code, reason)
    records a load error and raises."""
    records = []   # (url, line, raw, fields)
    out = []
    for url, data in objects:
        if o["gzip"]:
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                fail(url, 1, "", None, "", 1208, "Invalid gzip: the file is not gzip data")
        text = data.decode("utf-8", "surrogateescape")
        try:
            parsed = list(parse_csv(text, o["delimiter"], o["quote"]))
        except CsvFormatError as err:
            fail(url, err.line, err.raw, None, "", 1214, err.reason)
        for line, raw, fields in parsed[o["ignoreheader"]:]:
            if len(fields) < len(cols):
                fail(url, line, raw, cols[len(fields)], "", 1214, "Delimiter not found")
            if len(fields) > len(cols):
                fail(url, line, raw, cols[-1], fields[len(cols)][0], 1202,
                     "Extra column(s) found")
            values = []
            for (v, quoted), c in zip(fields, cols):
                values.append(load_value(v, quoted, c, o, lambda code, reason, v=v, c=c,
                                         line=line, raw=raw, url=url:
                                         fail(url, line, raw, c, v, code, reason)))
            records.append((url, line, raw, fields))
            out.append(",".join("" if v is None else '"' + v.replace('"', '""') + '"'
                                for v in values))
    return records, out


def failed_record(f, records, cols):
    """The record and column an upstream COPY error points at: (url, line, raw, col, value)."""
    ctx = f.get("W", "")
    m = re.search(r"line (\d+)(?:, column ([^:]+))?", ctx)
    url, line, raw, fields, col, value = "", 0, "", [], None, ""
    if m and 0 < int(m.group(1)) <= len(records):
        url, line, raw, fields = records[int(m.group(1)) - 1]
        if m.group(2):
            for k, c in enumerate(cols):
                if c[0] == m.group(2) and k < len(fields):
                    col, value = c, fields[k][0]
    return url, line, raw, col, value
