"""The self-test of what the emulation refuses and rewrites, over the extended protocol and psql."""

import json
import unittest

import psycopg

from .harness import BUCKET, ROLE_ARN, connect, psql, put, upstream


class RefusalTests(unittest.TestCase):
    def refused(self, sql, fragment, in_txn=False):
        with connect() as c:
            if in_txn:
                c.execute("begin")
            with self.assertRaises(psycopg.Error) as cm:
                c.execute(sql)
            self.assertIn(fragment, str(cm.exception), sql)
            if in_txn:  # a refusal aborts the transaction block, as any error does
                self.assertEqual(c.info.transaction_status,
                                 psycopg.pq.TransactionStatus.INERROR)
                c.execute("rollback")
        return cm.exception

    @classmethod
    def setUpClass(cls):
        with connect() as c:
            c.execute("create table ref_t (id integer, name varchar(10), n integer)")

    def test_copy_from_stdin_and_copy_to(self):
        self.refused("copy ref_t from stdin", "LOAD source is not supported")
        self.refused("copy ref_t to stdout", 'syntax error at or near "to"')
        p = psql("copy ref_t from stdin", expect_ok=False)
        self.assertIn("LOAD source is not supported", p.stderr)

    def test_on_conflict(self):
        self.refused("insert into ref_t values (1, 'a', 1) on conflict do nothing",
                     'syntax error at or near "on"')

    def test_truncate_in_transaction(self):
        self.refused("truncate ref_t", "TRUNCATE cannot run inside a transaction block", in_txn=True)
        self.refused("insert into ref_t values (1, 'a', 1) on conflict do nothing", "on", in_txn=True)
        with connect() as c:
            c.execute("truncate ref_t")  # outside a transaction block it runs

    def test_alter_column_type(self):
        self.refused("alter table ref_t alter column name type varchar(20)",
                     "cannot run inside a transaction block", in_txn=True)
        self.refused("alter table ref_t alter column n type bigint", "only changes the size")
        self.refused("alter table ref_t alter column name type varchar(5)",
                     "greater or equal to current")
        self.refused("alter table ref_t alter column name type integer", "only changes the size")
        with connect() as c:
            c.execute("alter table ref_t alter column name type varchar(40)")
        self.assertEqual(upstream("select format_type(atttypid, atttypmod) from pg_attribute "
                                  "where attrelid = 'ref_t'::regclass and attname = 'name'")[0][0],
                         "character varying(40)")

    def test_add_two_columns(self):
        self.refused("alter table ref_t add column a integer, add column b integer",
                     'syntax error at or near ","')
        with connect() as c:
            c.execute("alter table ref_t add column c1 integer")

    def test_types_redshift_lacks(self):
        for t in ("pg_lsn", "integer[]", "text ARRAY", "json", "jsonb", "bytea", "uuid",
                  "interval", "inet", "cidr", "macaddr", "int4range", "tstzrange", "serial",
                  "bigserial", "xml", "money", "mood"):
            with self.subTest(type=t):
                self.refused(f"create table bad_t (id integer, x {t})", "type")
                self.refused(f"create temp table bad_t (id integer, x {t})", "type")
                self.refused(f"alter table ref_t add column x {t}", "type")
        self.refused("create type mood as enum ('a', 'b')", "CREATE TYPE is not supported")
        self.refused("create table bad_t (v varchar(65536))", "cannot exceed 65535")
        self.refused("create table bad_t (d decimal(39, 2))", "precision 39")

    def test_reserved_words(self):
        for word in ("raw", "offset", "tag", "new", "old", "open", "system", "snapshot"):
            with self.subTest(word=word):
                self.refused(f"create table rw_t (id integer, {word} integer)",
                             f'syntax error at or near "{word}"')
        with connect() as c:
            c.execute('create table rw_ok (id integer, "raw" integer, "tag" varchar(3))')
        self.refused("alter table rw_ok add column new integer", 'syntax error at or near "new"')
        self.refused("insert into rw_ok (id, raw) values (1, 2)", 'syntax error at or near "raw"')

    def test_statement_over_16_mb(self):
        big = "select '" + "x" * (16 * 1024 * 1024) + "'"
        self.refused(big, "Statement is too large")

    def test_create_index_listen_notify(self):
        self.refused("create index ref_i on ref_t (id)", "CREATE INDEX is not supported")
        self.refused("create unique index ref_u on ref_t (id)", "CREATE INDEX is not supported")
        with connect() as c:  # INDEX is no reserved word in Redshift: a table may be named so
            c.execute("create table index (id integer)")
            c.execute("drop table index")
        self.refused("listen chan", "LISTEN is not supported")
        self.refused("notify chan", "NOTIFY is not supported")
        self.refused("update ref_t set n = 1 returning id", 'syntax error at or near "returning"')

    def test_binary_format_refused(self):
        with connect() as c:
            with self.assertRaises(psycopg.Error) as cm:
                c.execute("select %b::integer", (1,))
            self.assertIn("binary", str(cm.exception))
            self.assertEqual(c.execute("select 5").fetchone()[0], 5)  # the session goes on


class RewriteTests(unittest.TestCase):
    def test_types_rewritten(self):
        with connect() as c:
            c.execute("create table rw_types (a text, b varchar, c numeric, d decimal(10,2), "
                      "e super, f varbyte(16), g timestamptz, h timestamp, i bool, "
                      "j character varying(max), k float, l nvarchar(12))")
        types = dict(upstream("select attname, format_type(atttypid, atttypmod) from pg_attribute"
                              " where attrelid = 'rw_types'::regclass and attnum > 0"))
        self.assertEqual(types, {
            "a": "character varying(256)",
            "b": "character varying(256)",
            "c": "numeric(18,0)",
            "d": "numeric(10,2)",
            "e": "json",
            "f": "bytea",
            "g": "timestamp with time zone",
            "h": "timestamp without time zone",
            "i": "boolean",
            "j": "character varying(65535)",
            "k": "double precision",
            "l": "character varying(12)",
        })
        with connect() as c:
            c.execute("insert into rw_types (e, f, g, h) values (json_parse('{\"k\": [1, 2]}'), "
                      "from_hex('00ff10'), '2024-01-02 03:04:05.123456+00', "
                      "'2024-01-02 03:04:05.654321')")
            e, f, g, h = c.execute("select e, f, g::text, h::text from rw_types").fetchone()
            self.assertEqual(json.loads(e), {"k": [1, 2]})
            self.assertEqual(f, "00ff10")  # VARBYTE as hex text, with Redshift's type OIDs:
            cur = c.execute("select e, f from rw_types")
            self.assertEqual([d.type_code for d in cur.description], [4000, 6551])
            self.assertEqual(g, "2024-01-02 03:04:05.123456+00")
            self.assertEqual(h, "2024-01-02 03:04:05.654321")
        self.assertEqual(psql("select f from rw_types").stdout.strip(), "00ff10")

    def test_distribution_and_keys_stripped_and_remembered(self):
        with connect() as c:
            c.execute("create table dk_t (id bigint not null encode az64 primary key, "
                      "name varchar(30) encode zstd, ts timestamp sortkey, "
                      "unique (name)) diststyle key distkey(id) compound sortkey(ts, id)")
            c.execute("insert into dk_t values (1, 'a', '2024-01-01'), (1, 'a', '2024-01-01')")
            self.assertEqual(c.execute("select count(*) from dk_t").fetchone()[0], 2)
            defs = c.execute("select \"column\", encoding, distkey, sortkey from pg_table_def "
                             "where tablename = 'dk_t' order by \"column\"").fetchall()
            self.assertEqual(defs, [("id", "az64", True, 2), ("name", "zstd", False, 0),
                                    ("ts", "none", False, 1)])
            info = c.execute("select diststyle, sortkey1 from svv_table_info "
                             "where \"table\" = 'dk_t'").fetchone()
            self.assertEqual(info, ("KEY(id)", "ts"))
            c.execute("create table ds_all (id integer) diststyle all")
            self.assertEqual(c.execute("select diststyle from svv_table_info where \"table\" = "
                                       "'ds_all'").fetchone()[0], "ALL")
            c.execute("create table sup_t (id integer, doc super, bin varbyte(8))")
            types = dict(c.execute("select \"column\", type from pg_table_def where tablename = "
                                   "'sup_t'").fetchall())
            self.assertEqual(types, {"id": "integer", "doc": "super", "bin": "varbyte(8)"})
        self.assertEqual(upstream("select count(*) from pg_index where indrelid = "
                                  "'dk_t'::regclass")[0][0], 0)

    def test_like_and_create_table_as(self):
        with connect() as c:
            c.execute("create table base_t (id bigint distkey, v varchar(5) encode lzo) "
                      "sortkey(id)")
            c.execute("create temp table stage_like (like base_t)")
            c.execute("insert into stage_like values (1, 'x')")
            c.execute("create temp table stage_as distkey(id) as select * from stage_like")
            self.assertEqual(c.execute("select count(*) from stage_as").fetchone()[0], 1)
            c.execute("create temp table stage_names (k, w) as select id, v from stage_like")
            self.assertEqual(c.execute("select k, w from stage_names").fetchone(), (1, "x"))
            for tail in ("with (fillfactor = 70)", "partition by range (id)"):
                with self.assertRaises(psycopg.errors.SyntaxError):
                    c.execute(f"create table tail_t (id integer) {tail}")
            c.execute("delete from base_t using stage_as where base_t.id = stage_as.id")

    def test_identity_column(self):
        with connect() as c:
            c.execute("create table id_t (id bigint identity(1, 1), v integer)")
            c.execute("insert into id_t (v) values (10), (20)")
            self.assertEqual(c.execute("select max(id) from id_t").fetchone()[0], 2)

    def test_sysdate_is_the_transactions_start_to_the_microsecond(self):
        with connect() as c:
            c.execute("create table sysdate_t (id integer, at timestamptz)")
            c.execute("begin")
            c.execute("insert into sysdate_t select 1, sysdate")
            c.execute("select pg_sleep(0.05)")
            c.execute("insert into sysdate_t (id, at) values (2, SYSDATE)")
            c.execute("commit")
            first, second = [r[0] for r in c.execute("select at from sysdate_t order by id").fetchall()]
            self.assertEqual(first, second)  # the transaction's start, not the statement's
            # Microseconds, unlike GETDATE(): exactly the transaction's start, as now() has it.
            self.assertTrue(c.execute("select sysdate = now() at time zone 'UTC'").fetchone()[0])


class PsqlTests(unittest.TestCase):
    """The simple protocol, as psql speaks it."""

    def test_refusals_and_rewrites_through_psql(self):
        p = psql("create table psql_t (id integer, j jsonb)", expect_ok=False)
        self.assertIn('type "jsonb" does not exist', p.stderr)
        p = psql("create table psql_t (id integer, offset integer)", expect_ok=False)
        self.assertIn('syntax error at or near "offset"', p.stderr)
        psql("create table psql_t (id bigint encode az64, v varchar) diststyle even sortkey(id)")
        self.assertEqual(psql("select type, sortkey from pg_table_def where tablename = 'psql_t' "
                              "order by 1").stdout.split(), ["bigint|1", "character", "varying(256)|0"])
        p = psql("begin; insert into psql_t values (1, 'a'); truncate psql_t;", expect_ok=False)
        self.assertIn("TRUNCATE cannot run inside a transaction block", p.stderr)
        put("psql/a.csv", "5,five\n6,six\n")
        out = psql(f"copy psql_t from 's3://{BUCKET}/psql/' iam_role '{ROLE_ARN}' csv; "
                   "select pg_last_copy_count();").stdout
        self.assertEqual(out.strip().splitlines()[-1], "2")
        self.assertEqual(upstream("select count(*) from psql_t")[0][0], 2)
