"""SQL text: a tokenizer good enough to split statements and find the parts the emulation checks,
quoting, credential masking, and helpers over lists of significant tokens."""

import re

from .errors import syntax_error


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
