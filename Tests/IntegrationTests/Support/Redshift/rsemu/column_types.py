"""Redshift's column types: reading a type from tokens, Redshift's rules for it, and the type the
upstream stores it as."""

from .errors import RsError, syntax_error
from .sql_text import ident_value, join_toks, matching_paren, split_top_commas


VARCHAR_MAX = 65535
CHAR_MAX = 4096
NUMERIC_MAX_PRECISION = 38
VARBYTE_DEFAULT = 64000
VARBYTE_MAX = 16777216

# Types PostgreSQL 8.0 (Redshift's ancestor) knew but Redshift does not support in tables: Redshift
# says the column "has unsupported type". Other PostgreSQL types do not exist there at all.
OLD_UNSUPPORTED_TYPES = {
    "bytea", "interval", "inet", "cidr", "macaddr", "money", "serial", "bigserial", "smallserial",
    "serial2", "serial4", "serial8", "oid", "point", "line", "lseg", "box", "path", "polygon",
    "circle", "bit", "varbit", "bit varying", "xml", "regclass", "regproc", "tid", "xid", "cid",
}
NOT_EMULATED_TYPES = {"geometry", "geography", "hllsketch"}


_MULTIWORD_TYPES = [
    ("double", "precision"), ("character", "varying"), ("char", "varying"),
    ("binary", "varying"), ("national", "character", "varying"), ("national", "character"),
    ("bit", "varying"),
]


def parse_type(sig, i):
    """Reads a column type at sig[i]. Returns (next index, name, args, is_array, text)."""
    start = i
    if i >= len(sig) or sig[i].kind not in ("word", "qident"):
        raise syntax_error(sig[i].text if i < len(sig) else "end of input")
    # schema-qualified: pg_catalog.int4
    if i + 2 < len(sig) and sig[i + 1].text == "." and sig[i + 2].kind in ("word", "qident"):
        i += 2
    name = ident_value(sig[i])
    i += 1
    for combo in _MULTIWORD_TYPES:
        if name == combo[0] and all(i + k < len(sig) and (sig[i + k].up or "").lower() == w
                                    for k, w in enumerate(combo[1:])):
            name = " ".join(combo)
            i += len(combo) - 1
            break
    args = []
    if i < len(sig) and sig[i].text == "(":
        j = matching_paren(sig, i)
        args = [join_toks(a).strip() for a in split_top_commas(sig[i + 1:j])]
        i = j + 1
    if name in ("timestamp", "time") and i < len(sig) and sig[i].up in ("WITH", "WITHOUT"):
        if i + 2 < len(sig) and sig[i + 1].up == "TIME" and sig[i + 2].up == "ZONE":
            name = f"{name} {sig[i].up.lower()} time zone"
            i += 3
    if name == "interval":
        while i < len(sig) and sig[i].up in ("YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND",
                                             "TO"):
            i += 1
    is_array = False
    while i < len(sig) and (sig[i].text == "[" or sig[i].up == "ARRAY"):
        is_array = True
        if sig[i].text == "[":
            i = matching_paren(sig, i) + 1
        else:
            i += 1
            if i < len(sig) and sig[i].text == "[":
                i = matching_paren(sig, i) + 1
    return i, name, args, is_array, join_toks(sig[start:i])


def map_type(name, args, is_array, column, text):
    """Redshift's rules for a column type: returns (upstream type, declared type or None)."""
    if is_array:
        raise RsError(f'Column "{column}" has unsupported type "{text}".', "0A000")
    if name in ("smallint", "int2", "integer", "int", "int4", "bigint", "int8", "real", "float4",
                "double precision", "float8", "boolean", "bool", "date", "time", "timetz",
                "time without time zone", "time with time zone", "timestamp", "timestamptz",
                "timestamp without time zone", "timestamp with time zone"):
        if args and name.startswith(("timestamp", "time")):
            raise syntax_error("(")
        if args:
            raise syntax_error("(")
        return name, None
    if name == "float":
        if not args:
            return "double precision", None
        return ("real" if int(args[0]) <= 24 else "double precision"), None
    if name in ("decimal", "numeric"):
        if not args:
            return "numeric(18,0)", None
        try:
            p = int(args[0])
            s = int(args[1]) if len(args) > 1 else 0
        except ValueError:
            raise syntax_error(args[0])
        if p < 1 or p > NUMERIC_MAX_PRECISION:
            raise RsError(f"NUMERIC precision {p} must be between 1 and {NUMERIC_MAX_PRECISION}",
                          "22023")
        if s < 0 or s > p:
            raise RsError(f"NUMERIC scale {s} must be between 0 and precision {p}", "22023")
        return f"numeric({p},{s})", None
    if name in ("char", "character", "nchar", "national character", "bpchar"):
        if not args:
            return ("char(256)" if name == "bpchar" else "char(1)"), None
        n = checked_length(args[0], CHAR_MAX, "char")
        return f"char({n})", None
    if name in ("varchar", "character varying", "char varying", "nvarchar",
                "national character varying", "text"):
        if name == "text":
            if args:
                raise syntax_error("(")
            return "varchar(256)", None
        if not args:
            return "varchar(256)", None
        n = checked_length(args[0], VARCHAR_MAX, "varchar")
        return f"varchar({n})", None
    if name == "super":
        if args:
            raise syntax_error("(")
        return "json", "super"
    if name in ("varbyte", "varbinary", "binary varying"):
        n = VARBYTE_DEFAULT
        if args:
            n = checked_length(args[0], VARBYTE_MAX, "varbyte")
        return "bytea", f"varbyte({n})"
    if name in NOT_EMULATED_TYPES:
        raise RsError(f'type "{name}" is not emulated by the Redshift emulation '
                      f'(column "{column}")', "0A000")
    if name in OLD_UNSUPPORTED_TYPES:
        raise RsError(f'Column "{column}" has unsupported type "{text}".', "0A000")
    raise RsError(f'type "{name}" does not exist', "42704")


def checked_length(arg, limit, what):
    if arg.upper() == "MAX":
        if what == "char":
            raise syntax_error("MAX")
        return limit
    try:
        n = int(arg)
    except ValueError:
        raise syntax_error(arg)
    if n < 1 or n > limit:
        if what == "varchar":
            raise RsError(f"length for type varchar cannot exceed {limit}", "22023")
        if what == "char":
            raise RsError(f"length for type char cannot exceed {limit}", "22023")
        raise RsError(f"length for type varbyte cannot exceed {limit}", "22023")
    return n
