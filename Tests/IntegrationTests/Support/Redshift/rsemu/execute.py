"""Running one plan: the intercepted functions, TRUNCATE and COMMIT rules, the fault switch's
failing COMMIT, CREATE TABLE/ADD COLUMN with their Redshift attributes, ALTER COLUMN TYPE."""

from psycopg import pq

from .column_types import VARCHAR_MAX, checked_length
from .errors import RsError
from .plan import SESSION_FUNCTIONS
from .sql_text import quote_literal
from .upstream import Result, result_from_pg


class Executor:
    """Executing plans for a Session."""

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
        return (sql.replace(SESSION_FUNCTIONS["pg_last_copy_id"], str(self.last_copy_id))
                .replace(SESSION_FUNCTIONS["pg_last_copy_count"], str(self.last_copy_count)))

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
        n = checked_length(e["args"][0], VARCHAR_MAX, "varchar")
        if n < typmod - 4:
            raise RsError("target column size should be greater or equal to current maximum "
                          "column size (the emulation refuses every narrowing)", "0A000")
        conn_sql = (f"ALTER TABLE {e['table']} ALTER COLUMN {e['column_text']} "
                    f"TYPE varchar({n})")
        self.upstream(conn_sql)
        return Result(tag=b"ALTER TABLE")
