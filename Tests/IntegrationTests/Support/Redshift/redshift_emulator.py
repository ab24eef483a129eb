#!/usr/bin/env python3
"""A Redshift emulation for Forager's tests.

A PostgreSQL-wire (protocol 3) server that stands in front of a throwaway PostgreSQL 15 cluster
(the "upstream") and behaves, for what Forager does, like Amazon Redshift: it accepts what Redshift
accepts, refuses what Redshift refuses (with Redshift-like errors), rewrites what Redshift rewrites,
and emulates COPY from S3 (against an S3-compatible server), pg_last_copy_count() and
stl_load_errors. It is a session translator: one upstream libpq connection per client session,
statements checked, rewritten and run upstream, results sent back as text.

See docs/redshift-emulation.md for what it emulates and what it does not.
"""

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import traceback
from datetime import datetime, timezone

from psycopg import pq

STATEMENT_LIMIT = 16 * 1024 * 1024
VARCHAR_MAX = 65535
CHAR_MAX = 4096
NUMERIC_MAX_PRECISION = 38
VARBYTE_DEFAULT = 64000
VARBYTE_MAX = 16777216

# Amazon Redshift's reserved words (Database Developer Guide, "Reserved words").
REDSHIFT_RESERVED = set("""
AES128 AES256 ALL ALLOWOVERWRITE ANALYSE ANALYZE AND ANY ARRAY AS ASC AUTHORIZATION AZ64 BACKUP
BETWEEN BINARY BLANKSASNULL BOTH BYTEDICT BZIP2 CASE CAST CHECK COLLATE COLUMN CONSTRAINT CREATE
CREDENTIALS CROSS CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURRENT_USER_ID DEFAULT
DEFERRABLE DEFLATE DEFRAG DELTA DELTA32K DESC DISABLE DISTINCT DO ELSE EMPTYASNULL ENABLE ENCODE
ENCRYPT ENCRYPTION END EXCEPT EXPLICIT FALSE FOR FOREIGN FREEZE FROM FULL GLOBALDICT256
GLOBALDICT64K GRANT GROUP GZIP HAVING IDENTITY IGNORE ILIKE IN INITIALLY INNER INTERSECT INTERVAL
INTO IS ISNULL JOIN LEADING LEFT LIKE LIMIT LOCALTIME LOCALTIMESTAMP LUN LUNS LZO LZOP MINUS
MOSTLY16 MOSTLY32 MOSTLY8 NATURAL NEW NOT NOTNULL NULL NULLS OFF OFFLINE OFFSET OID OLD ON ONLY
OPEN OR ORDER OUTER OVERLAPS PARALLEL PARTITION PERCENT PERMISSIONS PIVOT PLACING PRIMARY RAW
READRATIO RECOVER REFERENCES REJECTLOG RESORT RESPECT RESTORE RIGHT SELECT SESSION_USER SIMILAR
SNAPSHOT SOME SYSDATE SYSTEM TABLE TAG TDES TEXT255 TEXT32K THEN TIMESTAMP TO TOP TRAILING TRUE
TRUNCATECOLUMNS UNION UNIQUE UNNEST UNPIVOT USER USING VERBOSE WALLET WHEN WHERE WITH WITHOUT
""".split())

# Types PostgreSQL 8.0 (Redshift's ancestor) knew but Redshift does not support in tables: Redshift
# says the column "has unsupported type". Other PostgreSQL types do not exist there at all.
OLD_UNSUPPORTED_TYPES = {
    "bytea", "interval", "inet", "cidr", "macaddr", "money", "serial", "bigserial", "smallserial",
    "serial2", "serial4", "serial8", "oid", "point", "line", "lseg", "box", "path", "polygon",
    "circle", "bit", "varbit", "bit varying", "xml", "regclass", "regproc", "tid", "xid", "cid",
}
NOT_EMULATED_TYPES = {"geometry", "geography", "hllsketch"}

CHAR_OIDS = {25, 1042, 1043}
BYTEA_OID = 17
# The upstream keeps VARBYTE as bytea and SUPER as json; clients see Redshift's type OIDs for them.
REDSHIFT_OIDS = {17: 6551, 114: 4000}


class RsError(Exception):
    """An error the emulation sends to the client. kind: 'refused' (Redshift would not accept the
    statement) or 'error' (the statement was accepted and failed, like a load error)."""

    def __init__(self, message, sqlstate="XX000", detail=None, hint=None, kind="refused"):
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint
        self.kind = kind

    def fields(self):
        f = {"S": "ERROR", "V": "ERROR", "C": self.sqlstate, "M": self.message}
        if self.detail:
            f["D"] = self.detail
        if self.hint:
            f["H"] = self.hint
        return f


class UpstreamError(Exception):
    def __init__(self, fields):
        super().__init__(fields.get("M", "upstream error"))
        self.fields = fields


def syntax_error(near):
    return RsError(f'syntax error at or near "{near}"', "42601")


# ----------------------------------------------------------------------------------------------
# SQL text: a tokenizer good enough to split statements and find the parts the emulation checks.

class Tok:
    __slots__ = ("kind", "text", "start")

    def __init__(self, kind, text, start):
        self.kind = kind
        self.text = text
        self.start = start

    @property
    def up(self):
        return self.text.upper() if self.kind == "word" else None

    def __repr__(self):
        return f"Tok({self.kind},{self.text!r})"


_SIMPLE = re.compile(r"""
 (?P<ws>\s+)
|(?P<lcomment>--[^\n]*)
|(?P<estring>[eE]'(?:[^'\\]|\\.|'')*')
|(?P<string>'(?:[^']|'')*')
|(?P<qident>"(?:[^"]|"")*")
|(?P<param>\$\d+)
|(?P<word>[^\W\d][\w$]*)
|(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
|(?P<punct>[(),;\[\]])
|(?P<op>::|[.:]|[-+*/<>=~!@#%^&|`?]+)
""", re.X)
_DOLLAR = re.compile(r"\$(?:[^\W\d][\w]*)?\$")


def tokenize(sql):
    toks = []
    i, n = 0, len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            toks.append(Tok("bcomment", sql[i:j], i))
            i = j
            continue
        if sql[i] == "$":
            m = _DOLLAR.match(sql, i)
            if m:
                tag = m.group(0)
                end = sql.find(tag, m.end())
                end = n if end < 0 else end + len(tag)
                toks.append(Tok("string", sql[i:end], i))
                i = end
                continue
        m = _SIMPLE.match(sql, i)
        if m:
            kind = m.lastgroup
            if kind == "estring":
                kind = "string"
            toks.append(Tok(kind, m.group(0), i))
            i = m.end()
            continue
        ch = sql[i]
        if ch in "'\"":  # unterminated literal: the rest of the text
            toks.append(Tok("string" if ch == "'" else "qident", sql[i:], i))
            break
        toks.append(Tok("op", ch, i))
        i += 1
    return toks


def significant(toks):
    return [t for t in toks if t.kind not in ("ws", "lcomment", "bcomment")]


def split_statements(sql):
    """Statement texts (without the ';'), skipping empty ones."""
    out, start = [], 0
    toks = tokenize(sql)
    for t in toks:
        if t.kind == "punct" and t.text == ";":
            out.append(sql[start:t.start])
            start = t.start + 1
    out.append(sql[start:])
    return [s for s in out if significant(tokenize(s))]


def ident_value(tok):
    if tok.kind == "qident":
        return tok.text[1:-1].replace('""', '"')
    return tok.text.lower()


def string_value(tok):
    t = tok.text
    if t.startswith("$"):
        tag_end = t.index("$", 1) + 1
        return t[tag_end:len(t) - tag_end]
    if t[0] in "eE":
        body = t[2:-1]
        return re.sub(r"\\(.)", r"\1", body).replace("''", "'")
    return t[1:-1].replace("''", "'")


def quote_literal(s):
    return "'" + s.replace("'", "''") + "'"


def quote_ident(s):
    return '"' + s.replace('"', '""') + '"'


def mask_credentials(sql):
    """The statement with the values of credential options replaced by '***'."""
    toks = tokenize(sql)
    out, mask_next = [], False
    for t in toks:
        if mask_next and t.kind == "string":
            out.append("'***'")
            mask_next = False
            continue
        if t.kind == "word" and t.up in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN",
                                         "CREDENTIALS", "PASSWORD", "MASTER_SYMMETRIC_KEY"):
            mask_next = True
        elif mask_next and t.kind not in ("ws", "lcomment", "bcomment") and t.up != "AS":
            mask_next = False
        out.append(t.text)
    return "".join(out)


def check_identifier(tok):
    """Refuses an unquoted Redshift reserved word used as an identifier."""
    if tok.kind == "word" and tok.up in REDSHIFT_RESERVED:
        raise syntax_error(tok.text)


# ----------------------------------------------------------------------------------------------
# Plans: what the emulation does with one statement.

class Plan:
    def __init__(self, kind, sql, original):
        self.kind = kind          # passthrough, virtual, copy_s3, create, add_column, alter_type,
        #                           truncate, commit, noop
        self.sql = sql            # what the upstream runs
        self.original = original  # what the client sent
        self.rewritten = sql != original
        self.tag = None
        self.fields = None        # virtual result description [(name, oid)]
        self.rows = None
        self.virtual = None       # name of an intercepted function
        self.extra = {}


_LAST_COPY_COUNT = re.compile(r"^\s*select\s+pg_last_copy_count\s*\(\s*\)\s*;?\s*$", re.I | re.S)
_FAIL_COMMIT = re.compile(
    r"^\s*select\s+redshift_emulation_fail_next_commit\s*\(\s*(\d+)\s*\)\s*;?\s*$", re.I | re.S)
_SYSTEM_NAMES = {"stl_load_errors", "pg_table_def", "svv_table_info"}
# pg_last_copy_id() and pg_last_copy_count() inside a statement: replaced, when it runs, by the
# session's values, through identity functions of the same names upstream (so columns keep the
# functions' names).
_SESSION_FUNCTIONS = {"pg_last_copy_id": "\0last_copy_id\0",
                      "pg_last_copy_count": "\0last_copy_count\0"}


def parse_qualified_name(sig, i):
    """A possibly dotted name starting at sig[i]: (tokens of the parts, next index)."""
    parts = [sig[i]]
    i += 1
    while i + 1 < len(sig) and sig[i].text == "." and sig[i + 1].kind in ("word", "qident"):
        parts.append(sig[i + 1])
        i += 2
    return parts, i


def name_text(parts):
    return ".".join(p.text for p in parts)


def matching_paren(sig, i):
    depth = 0
    for j in range(i, len(sig)):
        if sig[j].text in ("(", "["):
            depth += 1
        elif sig[j].text in (")", "]"):
            depth -= 1
            if depth == 0:
                return j
    raise syntax_error("end of input")


def split_top_commas(sig):
    items, cur, depth = [], [], 0
    for t in sig:
        if t.text in ("(", "["):
            depth += 1
        elif t.text in (")", "]"):
            depth -= 1
        if t.text == "," and depth == 0:
            items.append(cur)
            cur = []
        else:
            cur.append(t)
    items.append(cur)
    return items


def join_toks(toks):
    out = []
    for t in toks:
        if out and not (t.text in (")", ",", "]", ".", "::") or out[-1] in ("(", "[", ".", "::")):
            out.append(" ")
        out.append(t.text)
    return "".join(out)


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
        n = _length(args[0], CHAR_MAX, "char")
        return f"char({n})", None
    if name in ("varchar", "character varying", "char varying", "nvarchar",
                "national character varying", "text"):
        if name == "text":
            if args:
                raise syntax_error("(")
            return "varchar(256)", None
        if not args:
            return "varchar(256)", None
        n = _length(args[0], VARCHAR_MAX, "varchar")
        return f"varchar({n})", None
    if name == "super":
        if args:
            raise syntax_error("(")
        return "json", "super"
    if name in ("varbyte", "varbinary", "binary varying"):
        n = VARBYTE_DEFAULT
        if args:
            n = _length(args[0], VARBYTE_MAX, "varbyte")
        return "bytea", f"varbyte({n})"
    if name in NOT_EMULATED_TYPES:
        raise RsError(f'type "{name}" is not emulated by the Redshift emulation '
                      f'(column "{column}")', "0A000")
    if name in OLD_UNSUPPORTED_TYPES:
        raise RsError(f'Column "{column}" has unsupported type "{text}".', "0A000")
    raise RsError(f'type "{name}" does not exist', "42704")


def _length(arg, limit, what):
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


_CONSTRAINT_START = ("PRIMARY", "UNIQUE", "FOREIGN", "CONSTRAINT", "CHECK", "LIKE")


def parse_column_def(sig, table_label):
    """A column definition's tokens -> (upstream text, column name, attributes dict)."""
    if not sig:
        raise syntax_error(")")
    check_identifier(sig[0])
    colname = ident_value(sig[0])
    i, name, args, is_array, text = parse_type(sig, 1)
    upstream_type, declared = map_type(name, args, is_array, f"{table_label}.{colname}", text)
    attrs = {"encoding": None, "distkey": False, "sortkey": False, "declared": declared,
             "primary": False}
    kept = []
    while i < len(sig):
        t = sig[i]
        u = t.up
        if u == "ENCODE" and i + 1 < len(sig):
            attrs["encoding"] = sig[i + 1].text.lower()
            i += 2
        elif u == "DISTKEY":
            attrs["distkey"] = True
            i += 1
        elif u == "SORTKEY":
            attrs["sortkey"] = True
            i += 1
        elif u == "PRIMARY" and i + 1 < len(sig) and sig[i + 1].up == "KEY":
            attrs["primary"] = True
            i += 2
        elif u == "UNIQUE":
            i += 1
        elif u == "REFERENCES":
            _, i = parse_qualified_name(sig, i + 1)
            if i < len(sig) and sig[i].text == "(":
                i = matching_paren(sig, i) + 1
        elif u == "COLLATE" and i + 1 < len(sig):
            i += 2
        elif u == "IDENTITY" or (u == "GENERATED" and i + 4 < len(sig)
                                 and sig[i + 1].up == "BY" and sig[i + 2].up == "DEFAULT"):
            if u == "GENERATED":
                i += 4  # GENERATED BY DEFAULT AS
                if sig[i].up != "IDENTITY":
                    raise syntax_error(sig[i].text)
            seed, step = "1", "1"
            if i + 1 < len(sig) and sig[i + 1].text == "(":
                j = matching_paren(sig, i + 1)
                parts = [join_toks(p) for p in split_top_commas(sig[i + 2:j])]
                if len(parts) != 2:
                    raise syntax_error(")")
                seed, step = parts
                i = j + 1
            else:
                i += 1
            kept.append(f"GENERATED BY DEFAULT AS IDENTITY (START WITH {seed} INCREMENT BY {step})")
        else:
            j = i + 1
            kept.append(t.text)
            i = j
    sql = f"{sig[0].text} {upstream_type}"
    if kept:
        sql += " " + join_toks([Tok("raw", k, 0) for k in kept])
    return sql, colname, attrs


def analyze(sql):
    """Checks one statement and returns its Plan, or raises RsError."""
    if len(sql.encode("utf-8", "surrogatepass")) > STATEMENT_LIMIT:
        size = len(sql.encode("utf-8", "surrogatepass"))
        raise RsError(f"Statement is too large. Statement Size: {size} bytes. "
                      f"Maximum Allowed: {STATEMENT_LIMIT} bytes", "54000")
    if _LAST_COPY_COUNT.match(sql):
        p = Plan("virtual", sql, sql)
        p.virtual = "last_copy_count"
        return p
    m = _FAIL_COMMIT.match(sql)
    if m:
        p = Plan("virtual", sql, sql)
        p.virtual = "fail_next_commit"
        p.extra["code"] = int(m.group(1))
        return p
    toks = tokenize(sql)
    sig = significant(toks)
    if not sig:
        return Plan("passthrough", sql, sql)
    # Generic refusals anywhere in the statement.
    for k, t in enumerate(sig):
        if t.up == "ON" and k + 1 < len(sig) and sig[k + 1].up == "CONFLICT":
            raise syntax_error(t.text)
        if t.up == "RETURNING" and sig[0].up in ("INSERT", "UPDATE", "DELETE", "WITH"):
            raise syntax_error(t.text)
    first = sig[0].up
    second = sig[1].up if len(sig) > 1 else None
    if first in ("LISTEN", "NOTIFY", "UNLISTEN"):
        raise RsError(f"{first} is not supported", "0A000")
    if first == "CREATE":
        rest = [t.up for t in sig[1:4]]
        if "INDEX" in rest[:3]:
            raise RsError("CREATE INDEX is not supported", "0A000")
        if second == "TYPE":
            raise RsError("CREATE TYPE is not supported", "0A000")
        if second in ("EXTENSION", "DOMAIN", "SEQUENCE", "TRIGGER", "RULE"):
            raise RsError(f"CREATE {second} is not supported", "0A000")
        j = 1
        while j < len(sig) and sig[j].up in ("TEMP", "TEMPORARY", "LOCAL", "GLOBAL"):
            j += 1
        if j < len(sig) and sig[j].up == "TABLE":
            return plan_create_table(sql, sig, j + 1)
    if first == "ALTER" and second == "TABLE":
        return plan_alter_table(sql, sig)
    if first == "COPY":
        return plan_copy(sql, sig)
    if first == "TRUNCATE":
        return Plan("truncate", sql, sql)
    if first in ("COMMIT", "END"):
        return Plan("commit", sql, sql)
    if first == "INSERT" and second == "INTO":
        # INSERT INTO t (cols): the column names are identifiers.
        _, k = parse_qualified_name(sig, 2)
        if k < len(sig) and sig[k].text == "(":
            end = matching_paren(sig, k)
            for item in split_top_commas(sig[k + 1:end]):
                if len(item) == 1:
                    check_identifier(item[0])
    if first == "UPDATE":
        for k, t in enumerate(sig[:-1]):
            if t.up == "SET" or (t.text == "," and k > 0):
                if k + 2 < len(sig) and sig[k + 2].text == "=":
                    check_identifier(sig[k + 1])
    return rewrite_system_names(sql, toks)


def rewrite_system_names(sql, toks):
    """Passes the statement through, naming the emulated system tables by their schema and
    marking the session functions the emulator fills in when the statement runs."""
    out, changed, dynamic = [], False, False
    sig = significant(toks)
    following = {id(a): (b, c) for a, b, c in zip(sig, sig[1:], sig[2:])}
    drop = set()
    prev_sig = None
    for t in toks:
        if id(t) in drop:
            continue
        qualified = prev_sig is not None and prev_sig.text == "."
        name = t.text.lower() if t.kind == "word" else None
        nxt = following.get(id(t), (None, None))
        if name in _SYSTEM_NAMES and not qualified:
            out.append("redshift_emulation." + name)
            changed = True
        elif (name in _SESSION_FUNCTIONS and not qualified and nxt[0] is not None
              and nxt[0].text == "(" and nxt[1].text == ")"):
            out.append(f"pg_catalog.{name}({_SESSION_FUNCTIONS[name]}")
            drop.add(id(nxt[0]))  # the "(" is written above; the ")" stays
            changed = dynamic = True
        else:
            out.append(t.text)
        if t.kind not in ("ws", "lcomment", "bcomment"):
            prev_sig = t
    p = Plan("passthrough", "".join(out) if changed else sql, sql)
    p.extra["dynamic"] = dynamic
    return p


def plan_create_table(sql, sig, i):
    if i + 2 < len(sig) and sig[i].up == "IF" and sig[i + 1].up == "NOT" and sig[i + 2].up == "EXISTS":
        i += 3
    head_end = i
    parts, i = parse_qualified_name(sig, i)
    for p in parts:
        check_identifier(p)
    table_name = name_text(parts)
    label = ident_value(parts[-1])
    head = join_toks(sig[:head_end]) + " " + table_name
    columns, col_attrs = [], {}
    table_attrs = {"diststyle": None, "distkey": None, "sortkey_kind": None, "sortkeys": [],
                   "encode_auto": False}
    body_sql = None
    ctas_names = False
    if i < len(sig) and sig[i].text == "(":
        end = matching_paren(sig, i)
        items = split_top_commas(sig[i + 1:end])
        ctas_names = (any(t.up == "AS" for t in sig[end + 1:])
                      and all(len(it) == 1 and it[0].kind in ("word", "qident") for it in items))
    if ctas_names:  # CREATE TABLE t (c1, c2) AS query: names only
        for it in items:
            check_identifier(it[0])
        body_sql = join_toks(sig[i:end + 1])
        i = end + 1
    elif i < len(sig) and sig[i].text == "(":
        end = matching_paren(sig, i)
        elements = []
        for item in split_top_commas(sig[i + 1:end]):
            if not item:
                raise syntax_error(")")
            u = item[0].up
            if u in _CONSTRAINT_START:
                k = 0
                if u == "CONSTRAINT":
                    k = 2
                kind = item[k].up if k < len(item) else None
                if kind in ("PRIMARY", "UNIQUE", "FOREIGN"):
                    continue  # informational on Redshift: not enforced, so not sent upstream
                elements.append(join_toks(item))
                continue
            text, colname, attrs = parse_column_def(item, label)
            columns.append(colname)
            col_attrs[colname] = attrs
            elements.append(text)
        body_sql = "(" + ", ".join(elements) + ")"
        i = end + 1
    # Table attributes (before AS for CREATE TABLE AS).
    tail = []
    while i < len(sig):
        u = sig[i].up
        if u == "DISTSTYLE" and i + 1 < len(sig):
            style = sig[i + 1].up
            if style not in ("ALL", "EVEN", "KEY", "AUTO"):
                raise syntax_error(sig[i + 1].text)
            table_attrs["diststyle"] = style
            i += 2
        elif u == "DISTKEY" and i + 1 < len(sig) and sig[i + 1].text == "(":
            j = matching_paren(sig, i + 1)
            names = [ident_value(t) for t in sig[i + 2:j] if t.text != ","]
            if len(names) != 1:
                raise syntax_error(",")
            table_attrs["distkey"] = names[0]
            i = j + 1
        elif u in ("COMPOUND", "INTERLEAVED", "SORTKEY"):
            kind = "compound"
            if u != "SORTKEY":
                kind = u.lower()
                i += 1
                if i >= len(sig) or sig[i].up != "SORTKEY":
                    raise syntax_error(sig[i].text if i < len(sig) else "end of input")
            if i + 1 < len(sig) and sig[i + 1].up == "AUTO":
                table_attrs["sortkey_kind"] = "auto"
                i += 2
                continue
            if i + 1 >= len(sig) or sig[i + 1].text != "(":
                raise syntax_error(sig[i].text)
            j = matching_paren(sig, i + 1)
            table_attrs["sortkeys"] = [ident_value(t) for t in sig[i + 2:j] if t.text != ","]
            table_attrs["sortkey_kind"] = kind
            i = j + 1
        elif u == "ENCODE" and i + 1 < len(sig) and sig[i + 1].up == "AUTO":
            table_attrs["encode_auto"] = True
            i += 2
        elif u == "BACKUP" and i + 1 < len(sig):
            i += 2
        else:
            tail = sig[i:]
            if tail[0].up != "AS":  # WITH (...), INHERITS, PARTITION BY, ...: not Redshift
                raise syntax_error(tail[0].text)
            break
    if body_sql is not None and not ctas_names:
        named = [table_attrs["distkey"]] + table_attrs["sortkeys"]
        for n in named:
            if n is not None and n not in columns:
                raise RsError(f'column "{n}" does not exist', "42703")
        for c, a in col_attrs.items():
            if a["distkey"]:
                if table_attrs["distkey"] and table_attrs["distkey"] != c:
                    raise RsError("multiple DISTKEY columns are not allowed", "42601")
                table_attrs["distkey"] = c
            if a["sortkey"] and c not in table_attrs["sortkeys"]:
                table_attrs["sortkeys"].append(c)
                table_attrs["sortkey_kind"] = table_attrs["sortkey_kind"] or "compound"
    if table_attrs["distkey"] and table_attrs["diststyle"] not in (None, "KEY"):
        raise RsError("DISTSTYLE must be KEY when a DISTKEY is given", "42601")
    if table_attrs["distkey"]:
        table_attrs["diststyle"] = "KEY"
    upstream = head + (" " + body_sql if body_sql else "")
    if tail:
        upstream += " " + join_toks(tail)
    p = Plan("create", upstream, sql)
    p.rewritten = True
    p.extra = {"table": table_name, "columns": col_attrs, "table_attrs": table_attrs}
    return p


def plan_alter_table(sql, sig):
    i = 2
    if i + 1 < len(sig) and sig[i].up == "IF" and sig[i + 1].up == "EXISTS":
        i += 2
    if i < len(sig) and sig[i].up == "ONLY":
        i += 1
    parts, i = parse_qualified_name(sig, i)
    table_name = name_text(parts)
    head = join_toks(sig[:i])
    action = sig[i:]
    if not action:
        raise syntax_error("end of input")
    depth = 0
    for t in action:
        depth += t.text in ("(", "[")
        depth -= t.text in (")", "]")
        if t.text == "," and depth == 0:
            # Redshift runs one action per ALTER TABLE (one column per ADD COLUMN).
            raise syntax_error(",")
    u = action[0].up
    if u == "ADD":
        k = 1
        if k < len(action) and action[k].up in ("CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN"):
            p = Plan("noop", sql, sql)  # informational constraints: accepted, not enforced
            p.tag = "ALTER TABLE"
            return p
        if k < len(action) and action[k].up == "COLUMN":
            k += 1
        if k + 2 < len(action) and action[k].up == "IF" and action[k + 1].up == "NOT":
            k += 3
        text, colname, attrs = parse_column_def(action[k:], ident_value(parts[-1]))
        p = Plan("add_column", f"{head} ADD COLUMN {text}", sql)
        p.rewritten = True
        p.extra = {"table": table_name, "columns": {colname: attrs}}
        return p
    if u == "ALTER":
        k = 1
        if k < len(action) and action[k].up in ("DISTKEY", "DISTSTYLE", "SORTKEY", "COMPOUND",
                                                "INTERLEAVED", "ENCODE"):
            p = Plan("noop", sql, sql)
            p.tag = "ALTER TABLE"
            return p
        if k < len(action) and action[k].up == "COLUMN":
            k += 1
        if k >= len(action):
            raise syntax_error("end of input")
        col = action[k]
        k += 1
        if k < len(action) and action[k].up == "ENCODE":
            p = Plan("noop", sql, sql)
            p.tag = "ALTER TABLE"
            return p
        if k + 2 < len(action) and action[k].up == "SET" and action[k + 1].up == "DATA":
            k += 2
        if k < len(action) and action[k].up == "TYPE":
            j, name, args, is_array, text = parse_type(action, k + 1)
            if j < len(action):
                raise syntax_error(action[j].text)
            p = Plan("alter_type", sql, sql)
            p.extra = {"table": table_name, "column": ident_value(col), "column_text": col.text,
                       "name": name, "args": args, "is_array": is_array, "type_text": text}
            return p
        return rewrite_system_names(sql, tokenize(sql))
    if u == "RENAME":
        for k, t in enumerate(action):
            if t.up == "TO" and k + 1 < len(action):
                check_identifier(action[k + 1])
    return Plan("passthrough", sql, sql)


# COPY ------------------------------------------------------------------------------------------

def plan_copy(sql, sig):
    i = 1
    parts, i = parse_qualified_name(sig, i)
    table_name = name_text(parts)
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
    o = {"manifest": False, "csv": False, "quote": '"', "gzip": False, "delimiter": None,
         "null": "\\N", "emptyasnull": False, "blanksasnull": False, "acceptinvchars": None,
         "truncatecolumns": False, "region": None, "ignoreheader": 0, "iam_role": None,
         "access_key_id": None, "secret_access_key": None, "session_token": None,
         "timeformat": None, "dateformat": None}

    def value(k):
        if k < len(sig) and sig[k].up == "AS":
            k += 1
        if k >= len(sig):
            raise syntax_error("end of input")
        return sig[k], k + 1

    while i < len(sig):
        u = sig[i].up
        if u == "WITH":
            i += 1
            continue
        if u == "IAM_ROLE":
            t, i = value(i + 1)
            o["iam_role"] = "default" if t.up == "DEFAULT" else string_value(t)
        elif u in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"):
            t, i = value(i + 1)
            o[u.lower()] = string_value(t)
        elif u == "CREDENTIALS":
            t, i = value(i + 1)
            for item in string_value(t).split(";"):
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
        elif u == "MANIFEST":
            o["manifest"] = True
            i += 1
        elif u == "FORMAT":
            t, i = value(i + 1)
            if t.up != "CSV":
                raise RsError(f"FORMAT {t.text} is not emulated (only CSV)", "0A000")
            o["csv"] = True
        elif u == "CSV":
            o["csv"] = True
            i += 1
        elif u == "QUOTE":
            t, i = value(i + 1)
            o["quote"] = string_value(t)
        elif u == "GZIP":
            o["gzip"] = True
            i += 1
        elif u in ("BZIP2", "LZOP", "ZSTD", "JSON", "AVRO", "PARQUET", "ORC", "FIXEDWIDTH",
                   "SHAPEFILE", "ENCRYPTED", "ESCAPE", "REMOVEQUOTES", "ADDQUOTES"):
            raise RsError(f"COPY option {u} is not emulated", "0A000")
        elif u == "DELIMITER":
            t, i = value(i + 1)
            o["delimiter"] = string_value(t)
        elif u == "NULL":
            t, i = value(i + 1)
            o["null"] = string_value(t)
        elif u in ("TIMEFORMAT", "DATEFORMAT"):
            t, i = value(i + 1)
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
            t, i = value(i + 1)
            o["region"] = string_value(t)
        elif u in ("COMPUPDATE", "STATUPDATE"):
            i += 1
            if i < len(sig) and sig[i].up in ("ON", "OFF", "TRUE", "FALSE", "PRESET"):
                i += 1
        elif u == "IGNOREHEADER":
            t, i = value(i + 1)
            o["ignoreheader"] = int(t.text)
        elif u == "MAXERROR":
            t, i = value(i + 1)
            if int(t.text) != 0:
                raise RsError("MAXERROR other than 0 is not emulated", "0A000")
        else:
            raise syntax_error(sig[i].text)
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
    for t in parts:
        check_identifier(t)
    p = Plan("copy_s3", sql, sql)
    p.extra = {"table": table_name, "columns": cols, "source": source, "options": o}
    return p


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


# ----------------------------------------------------------------------------------------------
# The server.

EMULATION_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS redshift_emulation;
CREATE TABLE IF NOT EXISTS redshift_emulation.stl_load_errors (
    userid integer, slice integer, tbl integer, starttime timestamp, session integer,
    query integer, filename character(256), line_number bigint, colname character(127),
    type character(10), col_length character(10), position integer,
    raw_line character(1024), raw_field_value character(1024), err_code integer,
    err_reason character(100), is_partial integer, start_offset bigint);
CREATE TABLE IF NOT EXISTS redshift_emulation.table_attributes (
    relid oid PRIMARY KEY, diststyle text, distkey name, sortkey_kind text, encode_auto boolean);
CREATE TABLE IF NOT EXISTS redshift_emulation.column_attributes (
    relid oid, attnum smallint, encoding text, distkey boolean, sortkey integer,
    declared_type text, PRIMARY KEY (relid, attnum));
CREATE OR REPLACE VIEW redshift_emulation.pg_table_def AS
SELECT n.nspname AS schemaname, c.relname AS tablename, a.attname AS "column",
       COALESCE(ca.declared_type, format_type(a.atttypid, a.atttypmod)) AS type,
       COALESCE(ca.encoding, 'none') AS encoding,
       COALESCE(ca.distkey, false) AS distkey,
       COALESCE(ca.sortkey, 0) AS sortkey,
       a.attnotnull AS notnull
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN redshift_emulation.column_attributes ca ON ca.relid = c.oid AND ca.attnum = a.attnum
WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'redshift_emulation', 'pg_toast');
CREATE OR REPLACE VIEW redshift_emulation.svv_table_info AS
SELECT current_database() AS database, n.nspname AS schema, c.oid::integer AS table_id,
       c.relname AS "table",
       CASE COALESCE(ta.diststyle, 'AUTO')
            WHEN 'KEY' THEN 'KEY(' || ta.distkey || ')'
            WHEN 'AUTO' THEN 'AUTO(EVEN)'
            ELSE ta.diststyle END AS diststyle,
       (SELECT a.attname FROM redshift_emulation.column_attributes ca
          JOIN pg_attribute a ON a.attrelid = ca.relid AND a.attnum = ca.attnum
         WHERE ca.relid = c.oid AND ca.sortkey = 1) AS sortkey1,
       ta.sortkey_kind
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN redshift_emulation.table_attributes ta ON ta.relid = c.oid
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'redshift_emulation', 'pg_toast');
CREATE OR REPLACE FUNCTION pg_catalog.getdate() RETURNS timestamp
    LANGUAGE sql STABLE AS $$ SELECT date_trunc('second', now() AT TIME ZONE 'UTC') $$;
CREATE OR REPLACE FUNCTION pg_catalog.json_parse(text) RETURNS json
    LANGUAGE sql IMMUTABLE AS $$ SELECT $1::json $$;
CREATE OR REPLACE FUNCTION pg_catalog.from_hex(text) RETURNS bytea
    LANGUAGE sql IMMUTABLE AS $$ SELECT decode($1, 'hex') $$;
CREATE OR REPLACE FUNCTION pg_catalog.pg_last_copy_id(integer) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;
CREATE OR REPLACE FUNCTION pg_catalog.pg_last_copy_count(bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;
CREATE OR REPLACE FUNCTION pg_catalog.to_hex(bytea) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT encode($1, 'hex') $$;
"""


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

    def log(self, session, statement, outcome, message=None):
        if not self.log_file:
            return
        entry = {"session": session, "statement": mask_credentials(statement), "outcome": outcome}
        if message:
            entry["message"] = message
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


def _error_fields(res):
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
    raise UpstreamError(_error_fields(res))


def describe_fields(res):
    return [(res.fname(c), res.ftable(c), res.ftablecol(c),
             REDSHIFT_OIDS.get(res.ftype(c), res.ftype(c)), res.fsize(c), res.fmod(c))
            for c in range(res.nfields)]


def _cstr(body, pos):
    end = body.index(b"\0", pos)
    return body[pos:end].decode("utf-8", "surrogateescape"), end + 1


class Session:
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

    # -- wire helpers -----------------------------------------------------------------------
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

    def ready(self):
        self.flush_closes()
        self.send_notices()
        st = self.conn.transaction_status
        code = {pq.TransactionStatus.INTRANS: b"T",
                pq.TransactionStatus.INERROR: b"E"}.get(st, b"I")
        self.send(b"Z", code)
        self.flush()

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

    # -- startup ----------------------------------------------------------------------------
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
        f = _error_fields(res)
        f.pop("P", None)
        self.notices.append(f)

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
                self.emu.log(self.id, s, "accepted")
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
                        self.send_error(_error_fields(r))
                elif st == pq.TransactionStatus.INERROR:
                    self.conn.exec_(b"ROLLBACK")
        self.ready()

    @staticmethod
    def _client_fields(fields, plan):
        f = dict(fields)
        if plan is not None and plan.rewritten:
            f.pop("P", None)  # a position in the rewritten text would point at the wrong place
        return f

    # -- executing one plan -----------------------------------------------------------------
    def upstream(self, sql, params=None):
        if params is None:
            res = self.conn.exec_(sql.encode("utf-8", "surrogateescape"))
        else:
            res = self.conn.exec_params(sql.encode("utf-8", "surrogateescape"), params)
        return result_from_pg(res)

    def execute(self, plan, upstream_name=None, params=None, oids=None):
        k = plan.kind
        if k == "virtual":
            if plan.virtual == "last_copy_count":
                return Result([(b"pg_last_copy_count", 0, 0, 20, 8, -1)],
                              [[str(self.last_copy_count).encode()]], b"SELECT 1")
            if plan.virtual == "fail_next_commit":
                if plan.extra["code"] != 1023:
                    raise RsError("only error 1023 can be injected", "22023")
                self.emu.arm_fail_commit(self.id, plan.extra["code"])
                return Result([(b"redshift_emulation_fail_next_commit", 0, 0, 25, -1, -1)],
                              [[b"armed"]], b"SELECT 1")
        if k == "noop":
            return Result(tag=plan.tag.encode())
        if k == "truncate" and self.in_block():
            raise RsError("TRUNCATE cannot run inside a transaction block (the emulation refuses "
                          "it: Redshift would commit the open transaction first)", "25001")
        if k == "commit" and self.status() == pq.TransactionStatus.INTRANS:
            code = self.emu.take_fail_commit(self.id)
            if code is not None:
                return self.fail_commit(code)
        if k == "alter_type":
            return self.alter_type(plan)
        if k == "copy_s3":
            return self.copy_s3(plan)
        if k in ("create", "add_column"):
            return self.create_or_add(plan)
        if plan.extra.get("dynamic"):  # pg_last_copy_id()/pg_last_copy_count() inside
            sql = self.session_sql(plan.sql)
            if params is None:
                return self.upstream(sql)
            return result_from_pg(self.conn.exec_params(
                sql.encode("utf-8", "surrogateescape"), params, oids or None))
        if upstream_name is not None:
            res = self.conn.exec_prepared(upstream_name.encode(), params or [])
            return result_from_pg(res)
        return self.upstream(plan.sql)

    def session_sql(self, sql):
        return (sql.replace(_SESSION_FUNCTIONS["pg_last_copy_id"], str(self.last_copy_id))
                .replace(_SESSION_FUNCTIONS["pg_last_copy_count"], str(self.last_copy_count)))

    def fail_commit(self, code):
        rel = self.conn.exec_(b"SELECT relation::integer FROM pg_locks WHERE pid = "
                              b"pg_backend_pid() AND locktype = 'relation' AND mode = "
                              b"'RowExclusiveLock' ORDER BY relation LIMIT 1")
        table = 0
        if rel.status == pq.ExecStatus.TUPLES_OK and rel.ntuples:
            table = int(rel.get_value(0, 0))
        self.conn.exec_(b"ROLLBACK")
        pid = self.conn.backend_pid
        xid = self.emu.next_query()
        raise RsError(str(code), "XX000",
                      detail=f"Serializable isolation violation on table - {table}, transactions "
                             f"forming the cycle are: {xid - 1}, {xid} (pid:{pid})",
                      kind="error")

    def create_or_add(self, plan):
        table = plan.extra["table"]
        stmts = [plan.sql]
        lit = quote_literal(table)
        if plan.kind == "create":
            ta = plan.extra["table_attrs"]
            vals = [ta["diststyle"] or "AUTO", ta["distkey"], ta["sortkey_kind"],
                    "true" if ta["encode_auto"] else "false"]
            stmts.append(
                "INSERT INTO redshift_emulation.table_attributes VALUES "
                f"({lit}::regclass, {', '.join('NULL' if v is None else quote_literal(v) for v in vals)}) "
                "ON CONFLICT (relid) DO NOTHING")  # CREATE TABLE IF NOT EXISTS of a table
            sortkeys = ta["sortkeys"]
        else:
            sortkeys = []
        rows = []
        for col, a in plan.extra["columns"].items():
            sk = sortkeys.index(col) + 1 if col in sortkeys else 0
            dk = plan.kind == "create" and plan.extra["table_attrs"]["distkey"] == col
            rows.append("(" + ", ".join([
                quote_literal(col), "NULL" if a["encoding"] is None else quote_literal(a["encoding"]),
                "true" if dk else "false", str(sk),
                "NULL" if a["declared"] is None else quote_literal(a["declared"])]) + ")")
        if rows:
            stmts.append(
                "INSERT INTO redshift_emulation.column_attributes "
                f"SELECT {lit}::regclass, a.attnum, v.enc, v.dk, v.sk, v.decl FROM (VALUES "
                + ", ".join(rows) + ") AS v(name, enc, dk, sk, decl) JOIN pg_attribute a ON "
                f"a.attrelid = {lit}::regclass AND a.attname = v.name "
                "ON CONFLICT (relid, attnum) DO NOTHING")
        self.upstream("; ".join(stmts))
        return Result(tag=b"CREATE TABLE" if plan.kind == "create" else b"ALTER TABLE")

    def alter_type(self, plan):
        e = plan.extra
        if self.in_block():
            raise RsError("ALTER TABLE ALTER COLUMN cannot run inside a transaction block",
                          "25001")
        cur = self.conn.exec_params(
            b"SELECT atttypid, atttypmod, format_type(atttypid, atttypmod) FROM pg_attribute "
            b"WHERE attrelid = $1::regclass AND attname = $2 AND attnum > 0 AND NOT attisdropped",
            [e["table"].encode(), e["column"].encode()])
        r = result_from_pg(cur)
        if not r.rows:
            raise RsError(f'column "{e["column"]}" of relation "{e["table"]}" does not exist',
                          "42703")
        typid, typmod, typname = int(r.rows[0][0]), int(r.rows[0][1]), r.rows[0][2].decode()
        if typid != 1043:
            raise RsError(f'ALTER COLUMN TYPE is not supported for column "{e["column"]}" of type '
                          f'{typname}: Redshift only changes the size of a VARCHAR column', "0A000")
        if e["name"] not in ("varchar", "character varying", "nvarchar") or e["is_array"] \
                or not e["args"]:
            raise RsError(f"target data type {e['type_text']} is not supported by ALTER COLUMN "
                          f"TYPE: Redshift only changes the size of a VARCHAR column", "0A000")
        n = _length(e["args"][0], VARCHAR_MAX, "varchar")
        if n < typmod - 4:
            raise RsError("target column size should be greater or equal to current maximum "
                          "column size (the emulation refuses every narrowing)", "0A000")
        conn_sql = (f"ALTER TABLE {e['table']} ALTER COLUMN {e['column_text']} "
                    f"TYPE varchar({n})")
        self.upstream(conn_sql)
        return Result(tag=b"ALTER TABLE")

    # -- COPY from S3 -----------------------------------------------------------------------
    def s3_client(self, o):
        import boto3
        from botocore.config import Config
        a = self.emu.args
        if o["iam_role"]:
            if not (a.iam_role_key_id and a.iam_role_secret):
                raise RsError("User arn:aws:redshift:emulation is not authorized to assume IAM "
                              f"Role {o['iam_role']} (the emulator was given no "
                              "--iam-role-key-id/--iam-role-secret)", "XX000", kind="error")
            key, secret, token = a.iam_role_key_id, a.iam_role_secret, None
        else:
            key, secret, token = o["access_key_id"], o["secret_access_key"], o["session_token"]
        return boto3.client(
            "s3", endpoint_url=a.s3_endpoint, region_name=o["region"] or a.s3_region,
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 1}))

    @staticmethod
    def s3_error(e):
        from botocore.exceptions import ClientError
        if isinstance(e, ClientError):
            err = e.response.get("Error", {})
            meta = e.response.get("ResponseMetadata", {})
            status = meta.get("HTTPStatusCode", 0)
            rid = meta.get("RequestId", "")
            return RsError(f"S3ServiceException:{err.get('Message', str(e))},Status {status},"
                           f"Error {err.get('Code', 'Unknown')},Rid {rid},ExtRid ,CanRetry 1",
                           "XX000", detail="error: S3ServiceException during COPY", kind="error")
        return RsError(f"S3 error: {e}", "XX000", kind="error")

    def fetch_objects(self, o, source):
        """[(url, bytes)] the COPY reads."""
        client = self.s3_client(o)

        def split(url):
            rest = url[len("s3://"):]
            bucket, _, key = rest.partition("/")
            return bucket, key

        try:
            bucket, key = split(source)
            if o["manifest"]:
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                try:
                    manifest = json.loads(body)
                    entries = manifest["entries"]
                except (ValueError, KeyError, TypeError):
                    raise RsError(f"Manifest file is not in correct json format: {source}",
                                  "XX000", kind="error")
                out = []
                for entry in entries:
                    url = entry.get("url", "")
                    b, k = split(url)
                    try:
                        data = client.get_object(Bucket=b, Key=k)["Body"].read()
                    except Exception as e:
                        code = getattr(e, "response", {}).get("Error", {}).get("Code")
                        if code in ("NoSuchKey", "404") and not entry.get("mandatory", False):
                            continue
                        if code in ("NoSuchKey", "404"):
                            raise RsError(f"Manifest file references a mandatory file that does "
                                          f"not exist: {url}", "XX000", kind="error")
                        raise
                    out.append((url, data))
                return out
            keys = []
            token = None
            while True:
                kw = {"Bucket": bucket, "Prefix": key}
                if token:
                    kw["ContinuationToken"] = token
                page = client.list_objects_v2(**kw)
                keys += [c["Key"] for c in page.get("Contents", [])]
                if not page.get("IsTruncated"):
                    break
                token = page.get("NextContinuationToken")
            if not keys:
                raise RsError(f"The specified S3 prefix '{key}' does not exist", "XX000",
                              detail=f"location: s3://{bucket}/{key}", kind="error")
            return [(f"s3://{bucket}/{k}", client.get_object(Bucket=bucket, Key=k)["Body"].read())
                    for k in sorted(keys)]
        except RsError:
            raise
        except Exception as e:
            raise self.s3_error(e)

    def abort_client_transaction(self):
        """A statement that fails (or is refused) aborts the client's transaction block, as any
        error does on Redshift; the upstream must not go on as if nothing happened."""
        if self.status() == pq.TransactionStatus.INTRANS:
            self.conn.exec_(b"DO $$BEGIN RAISE EXCEPTION 'statement failed'; END$$")

    def copy_s3(self, plan):
        e = plan.extra
        o = e["options"]
        # The table's columns, seen from the client's session and transaction.
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
        try:
            objects = self.fetch_objects(o, e["source"])
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
                "line_number": line, "colname": c[0][:127], "type": _short_type(c[3])[:10],
                "col_length": length[:10], "position": 0,
                "raw_line": "".join(ch if ord(ch) < 128 else "." for ch in raw)[:1024],
                "raw_field_value": (value or "")[:1024], "err_code": code,
                "err_reason": reason[:100], "is_partial": 0, "start_offset": 0})
            self.last_copy_count = 0
            self.abort_client_transaction()
            raise RsError(f"Load into table '{relname}' failed.  Check 'stl_load_errors' system "
                          f"table for details.", "XX000", kind="error")

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
                    values.append(self.load_value(v, quoted, c, o, lambda code, reason, v=v, c=c,
                                                  line=line, raw=raw, url=url:
                                                  fail(url, line, raw, c, v, code, reason)))
                records.append((url, line, raw, fields))
                out.append(",".join("" if v is None else '"' + v.replace('"', '""') + '"'
                                    for v in values))
        col_list = ", ".join(quote_ident(c[0]) for c in cols)
        copy_sql = f"COPY {e['table']} ({col_list}) FROM STDIN WITH (FORMAT csv)"
        res = self.conn.exec_(copy_sql.encode("utf-8", "surrogateescape"))
        if res.status != pq.ExecStatus.COPY_IN:
            raise UpstreamError(_error_fields(res))
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
        if final is not None and final.status == pq.ExecStatus.COMMAND_OK:
            self.last_copy_count = len(out)
            return Result(tag=b"COPY")
        f = _error_fields(final)
        ctx = f.get("W", "")
        m = re.search(r"line (\d+)(?:, column ([^:]+))?", ctx)
        url, line, raw, fields, col, value = "", 0, "", [], None, ""
        if m and 0 < int(m.group(1)) <= len(records):
            url, line, raw, fields = records[int(m.group(1)) - 1]
            if m.group(2):
                for k, c in enumerate(cols):
                    if c[0] == m.group(2) and k < len(fields):
                        col, value = c, fields[k][0]
        code, reason = _load_error_code(f, col)
        fail(url, line, raw, col, value, code, reason)

    @staticmethod
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


    # -- extended protocol ------------------------------------------------------------------
    def on_parse(self, body):
        name, pos = _cstr(body, 0)
        query, pos = _cstr(body, pos)
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
                f = _error_fields(res)
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
        portal, pos = _cstr(body, 0)
        stmt, pos = _cstr(body, pos)
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
        res = self.conn.describe_prepared(uname.encode())
        if res.status != pq.ExecStatus.COMMAND_OK:
            raise UpstreamError(_error_fields(res))
        return describe_fields(res) if res.nfields else None, res


    def execute_virtual_description(self, plan):
        if plan.virtual == "last_copy_count":
            return [(b"pg_last_copy_count", 0, 0, 20, 8, -1)], None
        return [(b"redshift_emulation_fail_next_commit", 0, 0, 25, -1, -1)], None


    def on_describe(self, body):
        what = body[:1]
        name, _ = _cstr(body, 1)
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
        name, pos = _cstr(body, 0)
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
            self.emu.log(self.id, plan.original, "accepted")
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
        name, _ = _cstr(body, 1)
        if what == b"S":
            if name in self.statements:
                self._forget_statement(name)
        else:
            self.portals.pop(name, None)
        self.send(b"3")


def _short_type(typname):
    t = typname.split("(")[0]
    return {"character varying": "varchar", "character": "char", "timestamp without time zone":
            "timestamp", "timestamp with time zone": "timestamptz", "double precision": "float8",
            "integer": "int4", "bigint": "int8", "smallint": "int2", "json": "super",
            "bytea": "varbyte"}.get(t, t)


def _load_error_code(f, col):
    state = f.get("C", "")
    msg = f.get("M", "")
    t = _short_type(col[3]) if col else ""
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


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Session(self.server.emulator, self.request).run()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--upstream-user", default="postgres")
    ap.add_argument("--password", default=None,
                    help="clients must send it (md5 or cleartext password message); "
                         "without it, any client is trusted")
    ap.add_argument("--password-method", choices=("md5", "cleartext"), default="md5",
                    help="which password message the emulator asks for (it accepts either)")
    ap.add_argument("--s3-endpoint", default=None)
    ap.add_argument("--s3-region", default="us-east-1")
    ap.add_argument("--iam-role-key-id", default=None)
    ap.add_argument("--iam-role-secret", default=None)
    ap.add_argument("--statements-log", default=None)
    args = ap.parse_args(argv)
    emu = Emulator(args)
    server = Server(("127.0.0.1", args.port), Handler)
    server.emulator = emu

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
