"""Classifies one statement: the intercepted functions, the refusals that apply anywhere, and the
statements with a plan of their own (CREATE TABLE, ALTER TABLE, COPY, TRUNCATE, COMMIT)."""

import re

from .copy_statement import plan_copy
from .ddl import plan_alter_table, plan_create_table
from .errors import RsError, syntax_error
from .plan import Plan, rewrite_system_names
from .reserved_words import check_identifier
from .sql_text import matching_paren, parse_qualified_name, significant, split_top_commas, tokenize


STATEMENT_LIMIT = 16 * 1024 * 1024

_LAST_COPY_COUNT = re.compile(r"^\s*select\s+pg_last_copy_count\s*\(\s*\)\s*;?\s*$", re.I | re.S)
_FAIL_COMMIT = re.compile(
    r"^\s*select\s+redshift_emulation_fail_next_commit\s*\(\s*(\d+)\s*\)\s*;?\s*$", re.I | re.S)


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
        if rest[:1] == ["INDEX"] or rest[:2] == ["UNIQUE", "INDEX"]:
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
