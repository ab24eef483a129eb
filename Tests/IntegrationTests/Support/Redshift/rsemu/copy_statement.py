"""The COPY statement: an S3 source, its options and credentials, checked as Redshift would."""

from .errors import RsError, syntax_error
from .plan import Plan
from .reserved_words import check_identifier
from .sql_text import (matching_paren, name_text, parse_qualified_name, split_top_commas,
                       string_value)


# A COPY's options where the statement names none (Redshift's defaults, where emulated).
COPY_DEFAULTS = {
    "manifest": False, "csv": False, "quote": '"', "gzip": False, "delimiter": None,
    "null": "\\N", "emptyasnull": False, "blanksasnull": False, "acceptinvchars": None,
    "truncatecolumns": False, "region": None, "ignoreheader": 0, "iam_role": None,
    "access_key_id": None, "secret_access_key": None, "session_token": None,
    "timeformat": None, "dateformat": None}


def plan_copy(sql, sig):
    parts, cols, i = read_copy_target(sig)
    source, i = read_copy_source(sig, i)
    o = read_copy_options(sig, i)
    check_copy_options(o)
    for t in parts:
        check_identifier(t)
    p = Plan("copy_s3", sql, sql)
    p.extra = {"table": name_text(parts), "columns": cols, "source": source, "options": o}
    return p


def read_copy_target(sig):
    """COPY's table and column list: (name parts, column tokens or None, next index)."""
    i = 1
    parts, i = parse_qualified_name(sig, i)
    cols = None
    if i < len(sig) and sig[i].text == "(":
        end = matching_paren(sig, i)
        cols = []
        for item in split_top_commas(sig[i + 1:end]):
            if len(item) != 1:
                raise syntax_error(item[0].text if item else ")")
            check_identifier(item[0])
            cols.append(item[0])
        i = end + 1
    return parts, cols, i


def read_copy_source(sig, i):
    """FROM 's3://...': (the source, next index)."""
    if i >= len(sig):
        raise syntax_error("end of input")
    if sig[i].up == "TO":
        raise syntax_error(sig[i].text)  # Redshift unloads with UNLOAD, not COPY TO
    if sig[i].up != "FROM":
        raise syntax_error(sig[i].text)
    i += 1
    if i >= len(sig) or sig[i].kind != "string":
        if i < len(sig) and sig[i].up in ("STDIN", "PROGRAM"):
            raise RsError("LOAD source is not supported. "
                          "(Hint: only S3 or DynamoDB or EMR based load is allowed)", "0A000")
        raise syntax_error(sig[i].text if i < len(sig) else "end of input")
    source = string_value(sig[i])
    if not source.startswith("s3://"):
        raise RsError("LOAD source is not supported. "
                      "(Hint: only S3 or DynamoDB or EMR based load is allowed)", "0A000")
    i += 1
    return source, i


def option_value(sig, k):
    """An option's value at sig[k] (after an optional AS): (its token, next index)."""
    if k < len(sig) and sig[k].up == "AS":
        k += 1
    if k >= len(sig):
        raise syntax_error("end of input")
    return sig[k], k + 1


def read_copy_options(sig, i):
    """COPY's options from sig[i] on."""
    o = dict(COPY_DEFAULTS)
    while i < len(sig):
        u = sig[i].up
        if u == "WITH":
            i += 1
            continue
        if u == "IAM_ROLE":
            t, i = option_value(sig, i + 1)
            o["iam_role"] = "default" if t.up == "DEFAULT" else string_value(t)
        elif u in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"):
            t, i = option_value(sig, i + 1)
            o[u.lower()] = string_value(t)
        elif u == "CREDENTIALS":
            t, i = option_value(sig, i + 1)
            read_credentials(string_value(t), o)
        elif u == "MANIFEST":
            o["manifest"] = True
            i += 1
        elif u == "FORMAT":
            t, i = option_value(sig, i + 1)
            if t.up != "CSV":
                raise RsError(f"FORMAT {t.text} is not emulated (only CSV)", "0A000")
            o["csv"] = True
        elif u == "CSV":
            o["csv"] = True
            i += 1
        elif u == "QUOTE":
            t, i = option_value(sig, i + 1)
            o["quote"] = string_value(t)
        elif u == "GZIP":
            o["gzip"] = True
            i += 1
        elif u in ("BZIP2", "LZOP", "ZSTD", "JSON", "AVRO", "PARQUET", "ORC", "FIXEDWIDTH",
                   "SHAPEFILE", "ENCRYPTED", "ESCAPE", "REMOVEQUOTES", "ADDQUOTES"):
            raise RsError(f"COPY option {u} is not emulated", "0A000")
        elif u == "DELIMITER":
            t, i = option_value(sig, i + 1)
            o["delimiter"] = string_value(t)
        elif u == "NULL":
            t, i = option_value(sig, i + 1)
            o["null"] = string_value(t)
        elif u in ("TIMEFORMAT", "DATEFORMAT"):
            t, i = option_value(sig, i + 1)
            o[u.lower()] = string_value(t)
        elif u in ("EMPTYASNULL", "BLANKSASNULL", "TRUNCATECOLUMNS"):
            o[u.lower()] = True
            i += 1
        elif u == "ACCEPTINVCHARS":
            o["acceptinvchars"] = "?"
            i += 1
            k = i + 1 if i < len(sig) and sig[i].up == "AS" else i
            if k < len(sig) and sig[k].kind == "string":
                o["acceptinvchars"] = string_value(sig[k])
                i = k + 1
        elif u == "REGION":
            t, i = option_value(sig, i + 1)
            o["region"] = string_value(t)
        elif u in ("COMPUPDATE", "STATUPDATE"):
            i += 1
            if i < len(sig) and sig[i].up in ("ON", "OFF", "TRUE", "FALSE", "PRESET"):
                i += 1
        elif u == "IGNOREHEADER":
            t, i = option_value(sig, i + 1)
            o["ignoreheader"] = int(t.text)
        elif u == "MAXERROR":
            t, i = option_value(sig, i + 1)
            if int(t.text) != 0:
                raise RsError("MAXERROR other than 0 is not emulated", "0A000")
        else:
            raise syntax_error(sig[i].text)
    return o


def read_credentials(text, o):
    """CREDENTIALS 'aws_access_key_id=...;aws_secret_access_key=...;token=...' or
    'aws_iam_role=...'."""
    for item in text.split(";"):
        if "=" in item:
            k, v = item.split("=", 1)
            k = k.strip().lower()
            if k == "aws_access_key_id":
                o["access_key_id"] = v
            elif k == "aws_secret_access_key":
                o["secret_access_key"] = v
            elif k == "token":
                o["session_token"] = v
            elif k == "aws_iam_role":
                o["iam_role"] = v


def check_copy_options(o):
    """What Redshift (or the emulation) refuses in a COPY's options as a whole; the default
    delimiter."""
    if not o["csv"]:
        raise RsError("only FORMAT CSV loads are emulated (Redshift's default pipe-delimited "
                      "text format is not)", "0A000")
    keys = o["access_key_id"] or o["secret_access_key"]
    if o["iam_role"] and keys:
        raise RsError("conflicting or redundant options: IAM_ROLE with access keys", "42601")
    if not o["iam_role"] and not (o["access_key_id"] and o["secret_access_key"]):
        raise RsError("Missing credentials: COPY needs IAM_ROLE, ACCESS_KEY_ID and "
                      "SECRET_ACCESS_KEY, or CREDENTIALS", "42601")
    if o["delimiter"] is None:
        o["delimiter"] = ","
    if len(o["delimiter"]) != 1:
        raise RsError("COPY delimiter must be a single character", "42601")
