"""COPY's CSV: Redshift-style parsing, each value checked for its column, and the load error codes
stl_load_errors reports."""

import re

from .upstream import BYTEA_OID, CHAR_OIDS


class CsvFormatError(Exception):
    def __init__(self, line, raw, reason):
        super().__init__(reason)
        self.line, self.raw, self.reason = line, raw, reason


def parse_csv(text, delim, quote):
    """Redshift-style CSV: yields (start line, raw text, [(value, quoted)])."""
    n = len(text)
    i, line = 0, 1
    stop = re.compile("[" + re.escape(delim) + "\n]")
    while i < n:
        start, start_line = i, line
        fields = []
        while True:
            if i < n and text[i] == quote:
                i += 1
                buf = []
                while True:
                    j = text.find(quote, i)
                    if j < 0:
                        raise CsvFormatError(start_line, text[start:start + 1024],
                                             "Unterminated quoted string")
                    buf.append(text[i:j])
                    line += text.count("\n", i, j)
                    if j + 1 < n and text[j + 1] == quote:
                        buf.append(quote)
                        i = j + 2
                        continue
                    i = j + 1
                    break
                m = stop.search(text, i)
                k = m.start() if m else n
                extra = text[i:k]
                if extra.rstrip("\r"):
                    raise CsvFormatError(start_line, text[start:k],
                                         "Invalid quote formatting for CSV")
                i = k
                fields.append(("".join(buf), True))
            else:
                m = stop.search(text, i)
                k = m.start() if m else n
                v = text[i:k]
                if k >= n or text[k] == "\n":
                    v = v[:-1] if v.endswith("\r") else v
                fields.append((v, False))
                i = k
            if i < n and text[i] == delim:
                i += 1
                continue
            raw = text[start:i]
            if i < n:
                i += 1
                line += 1
            yield start_line, raw.rstrip("\r"), fields
            break


def load_value(v, quoted, col, o, fail):
    name, typid, typmod, typname = col
    if any("\udc80" <= ch <= "\udcff" for ch in v):
        if o["acceptinvchars"] is None:
            fail(1220, "String contains invalid or unsupported UTF8 codepoints")
        v = "".join(o["acceptinvchars"] if "\udc80" <= ch <= "\udcff" else ch for ch in v)
    if not quoted and v == o["null"]:
        return None
    if typid in CHAR_OIDS:
        if o["emptyasnull"] and v == "":
            return None
        if o["blanksasnull"] and v.strip(" \t") == "" and v != "":
            return None
        if typid == 1042 and any(ord(ch) > 127 for ch in v):
            fail(1220, "Multibyte character not supported for CHAR (Hint: try using VARCHAR)")
        if typmod > 4:
            limit = typmod - 4
            b = v.encode("utf-8", "surrogateescape")
            if len(b) > limit:
                if not o["truncatecolumns"]:
                    fail(1204, "String length exceeds DDL length")
                v = b[:limit].decode("utf-8", "ignore")
        return v
    if v.strip() == "":
        return None  # empty fields of non-character columns load as NULL
    if typid == BYTEA_OID:
        if len(v) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", v):
            fail(1200, "Invalid hexadecimal value for VARBYTE")
        return "\\x" + v
    return v


def short_type(typname):
    t = typname.split("(")[0]
    return {"character varying": "varchar", "character": "char", "timestamp without time zone":
            "timestamp", "timestamp with time zone": "timestamptz", "double precision": "float8",
            "integer": "int4", "bigint": "int8", "smallint": "int2", "json": "super",
            "bytea": "varbyte"}.get(t, t)


def load_error_code(f, col):
    state = f.get("C", "")
    msg = f.get("M", "")
    t = short_type(col[3]) if col else ""
    if state == "22001":
        return 1204, "String length exceeds DDL length"
    if state == "22003":
        return 1207, f"Overflow, value out of range for type {t}"
    if state in ("22007", "22008"):
        return (1205, "Invalid Date Format") if t == "date" else (1206, "Invalid timestamp format or value")
    if state == "22P02":
        if t in ("int2", "int4", "int8", "numeric", "float8", "real"):
            return 1207, f"Invalid digit, Value '{msg[-20:]}', Type: {t}"
        return 1200, msg
    if state == "23502":
        return 1213, "Missing data for not-null field"
    return 1200, msg
