"""Plans: what the emulation does with one statement; and the pass-through rewrite that names the
emulated system tables, marks the session functions and calls SYSDATE (a bare word in Redshift)."""

from .sql_text import significant


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


_SYSTEM_NAMES = {"stl_load_errors", "pg_table_def", "svv_table_info"}
# pg_last_copy_id() and pg_last_copy_count() inside a statement: replaced, when it runs, by the
# session's values, through identity functions of the same names upstream (so columns keep the
# functions' names).
SESSION_FUNCTIONS = {"pg_last_copy_id": "\0last_copy_id\0",
                     "pg_last_copy_count": "\0last_copy_count\0"}


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
        elif (name in SESSION_FUNCTIONS and not qualified and nxt[0] is not None
              and nxt[0].text == "(" and nxt[1].text == ")"):
            out.append(f"pg_catalog.{name}({SESSION_FUNCTIONS[name]}")
            drop.add(id(nxt[0]))  # the "(" is written above; the ")" stays
            changed = dynamic = True
        elif name == "sysdate" and not qualified and (nxt[0] is None or nxt[0].text != "("):
            out.append("pg_catalog.sysdate()")  # the transaction's start, to the microsecond
            changed = True
        else:
            out.append(t.text)
        if t.kind not in ("ws", "lcomment", "bcomment"):
            prev_sig = t
    p = Plan("passthrough", "".join(out) if changed else sql, sql)
    p.extra["dynamic"] = dynamic
    return p
