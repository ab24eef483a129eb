"""The self-test of COPY from S3: prefixes, manifests, gzip, CSV options, load errors."""

import json
import unittest

import psycopg

from .harness import BUCKET, H, REGION, ROLE_ARN, connect, creds, psql, put


class CopyTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with connect() as c:
            c.execute("create table load_t (id integer, name varchar(10), "
                      "note varchar(20), b varbyte(4))")

    def setUp(self):
        with connect() as c:
            c.execute("delete from load_t")

    def test_pg_last_copy_id_before_any_copy(self):
        with connect() as c:
            self.assertEqual(c.execute("select pg_last_copy_id(), pg_last_copy_count()"
                                       ).fetchone(), (-1, 0))

    def test_gzip_csv_prefix(self):
        put("gz/part-0.csv.gz", 'id,name,note,b\n1,alice,"x, y",00ff\n2,,\\N,\n', gz=True)
        put("gz/part-1.csv.gz", 'id,name,note,b\n3,"multi\nline","say ""hi""",ab01\n', gz=True)
        with connect() as c:
            c.execute(f"copy load_t from 's3://{BUCKET}/gz/part-' {creds()} format as csv gzip "
                      "ignoreheader 1 timeformat 'auto' compupdate off statupdate off "
                      f"region '{REGION}'")
            self.assertEqual(c.execute("select pg_last_copy_count()").fetchone()[0], 3)
            rows = c.execute("select id, name, note, b from load_t order by id").fetchall()
        self.assertEqual(rows[0][:3], (1, "alice", "x, y"))
        self.assertEqual(rows[1][:3], (2, "", None))
        self.assertEqual(rows[2][:3], (3, "multi\nline", 'say "hi"'))
        self.assertEqual(psql("select b from load_t where id = 3").stdout.strip(), "ab01")
        self.assertEqual(psql("  SELECT  PG_LAST_COPY_COUNT( ) ;").stdout.strip(), "0")

    def test_manifest_null_as_and_iam_role(self):
        put("man/a.csv", "10|N/A|z\n11|bob|\n")
        put("man/b.csv", "12|carol|N/A\n")
        put("man/list.manifest", json.dumps({"entries": [
            {"url": f"s3://{BUCKET}/man/a.csv", "mandatory": True},
            {"url": f"s3://{BUCKET}/man/b.csv", "mandatory": True},
            {"url": f"s3://{BUCKET}/man/gone.csv", "mandatory": False}]}))
        with connect() as c:
            c.execute(f"copy load_t (id, name, note) from 's3://{BUCKET}/man/list.manifest' "
                      f"iam_role '{ROLE_ARN}' manifest csv delimiter '|' null as 'N/A' "
                      "emptyasnull")
            self.assertEqual(c.execute("select pg_last_copy_count()").fetchone()[0], 3)
            rows = c.execute("select id, name, note from load_t order by id").fetchall()
        self.assertEqual(rows, [(10, None, "z"), (11, "bob", None), (12, "carol", None)])
        put("man/missing.manifest", json.dumps({"entries": [
            {"url": f"s3://{BUCKET}/man/gone.csv", "mandatory": True}]}))
        with connect() as c:
            with self.assertRaises(psycopg.Error) as cm:
                c.execute(f"copy load_t from 's3://{BUCKET}/man/missing.manifest' "
                          f"{creds()} manifest csv")
            self.assertIn("gone.csv", str(cm.exception))

    def test_load_error_lands_in_stl_load_errors_despite_rollback(self):
        put("bad/data.csv", "1,ok,fine,\n2,ok,fine,\nthree,bad,row,\n")
        with connect() as c:
            c.execute("begin")
            c.execute("insert into load_t values (99, 'kept?', null, null)")
            with self.assertRaises(psycopg.Error) as cm:
                c.execute(f"copy load_t from 's3://{BUCKET}/bad/data.csv' {creds()} csv")
            self.assertIn("Load into table 'load_t' failed.  Check 'stl_load_errors' system "
                          "table for details.", str(cm.exception))
            self.assertEqual(c.info.transaction_status, psycopg.pq.TransactionStatus.INERROR)
            c.execute("rollback")
            self.assertEqual(c.execute("select count(*) from load_t").fetchone()[0], 0)
            self.assertEqual(c.execute("select pg_last_copy_count()").fetchone()[0], 0)
            row = c.execute("select filename, line_number, colname, trim(raw_line), "
                            "trim(raw_field_value), err_code, trim(err_reason), type "
                            "from stl_load_errors where query = pg_last_copy_id()").fetchone()
            self.assertEqual(c.execute("select count(*) from stl_load_errors where query = "
                                       "pg_last_copy_id ( ) and session = pg_backend_pid()"
                                       ).fetchone()[0], 1)
        self.assertIsNotNone(row)
        self.assertEqual(row[0].strip(), f"s3://{BUCKET}/bad/data.csv")
        self.assertEqual(row[1], 3)
        self.assertEqual(row[2].strip(), "id")
        self.assertEqual(row[3], "three,bad,row,")
        self.assertEqual(row[4], "three")
        self.assertEqual(row[5], 1207)
        # A wrong number of columns, and a value too long in bytes.
        put("bad/short.csv", "1,a\n")
        put("bad/long.csv", "1,\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9,x,\n")
        with connect() as c:
            with self.assertRaises(psycopg.Error):
                c.execute(f"copy load_t from 's3://{BUCKET}/bad/short.csv' {creds()} csv")
            with self.assertRaises(psycopg.Error):
                c.execute(f"copy load_t from 's3://{BUCKET}/bad/long.csv' {creds()} csv")
            reasons = [r[0].strip() for r in c.execute(
                "select err_reason from stl_load_errors where filename like '%bad/short%' or "
                "filename like '%bad/long%' order by query").fetchall()]
            self.assertEqual(reasons, ["Delimiter not found", "String length exceeds DDL length"])
            c.execute(f"copy load_t from 's3://{BUCKET}/bad/long.csv' {creds()} csv "
                      "truncatecolumns")
            self.assertEqual(c.execute("select name from load_t").fetchone()[0], "\u00e9" * 5)

    def test_blanksasnull_acceptinvchars_and_empty_numbers(self):
        put("opt/a.csv", b'20,   ,ok\xff,\n,"",,\n')
        with connect() as c:
            with self.assertRaises(psycopg.Error):  # invalid UTF-8 without ACCEPTINVCHARS
                c.execute(f"copy load_t from 's3://{BUCKET}/opt/' {creds()} csv")
            reason = c.execute("select trim(err_reason), err_code from stl_load_errors where "
                               "filename like '%opt/a.csv%' order by query desc").fetchone()
            self.assertEqual(reason, ("String contains invalid or unsupported UTF8 codepoints",
                                      1220))
            c.execute(f"copy load_t from 's3://{BUCKET}/opt/' {creds()} csv blanksasnull "
                      "acceptinvchars as '^'")
            rows = c.execute("select id, name, note, b from load_t order by id").fetchall()
        # an empty field of a non-character column is NULL; of a character column, ''
        self.assertEqual(rows, [(20, None, "ok^", None), (None, "", "", None)])

    def test_wrong_s3_keys_fail_the_copy(self):
        put("keys/a.csv", "1,a,b,\n")
        with connect() as c:
            with self.assertRaises(psycopg.Error) as cm:
                c.execute(f"copy load_t from 's3://{BUCKET}/keys/' access_key_id "
                          f"'{H['key_id']}' secret_access_key 'not-the-secret' csv")
            self.assertIn("S3ServiceException", str(cm.exception))
            self.assertIn("SignatureDoesNotMatch", str(cm.exception))
            with self.assertRaises(psycopg.Error) as cm:
                c.execute(f"copy load_t from 's3://{BUCKET}/keys/' credentials "
                          "'aws_access_key_id=AKIANOBODY;aws_secret_access_key=x' csv")
            self.assertIn("S3ServiceException", str(cm.exception))
            c.execute(f"copy load_t from 's3://{BUCKET}/keys/' credentials "
                      f"'aws_access_key_id={H['key_id']};aws_secret_access_key={H['secret']}' csv")
            self.assertEqual(c.execute("select pg_last_copy_count()").fetchone()[0], 1)
