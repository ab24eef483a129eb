"""The self-test of the fault switch, the statements log and the SQL grammar checker."""

import json
import os
import subprocess
import time
import unittest

import psycopg

from .harness import BUCKET, H, HERE, PY, ROLE_ARN, connect, creds, psql, put, upstream


class FaultAndLogTests(unittest.TestCase):
    def test_fail_next_commit_1023(self):
        with connect() as admin, connect() as s:
            s.execute("create table ser_t (id integer)")
            admin.execute("select redshift_emulation_fail_next_commit(1023)")
            s.execute("begin")
            s.execute("insert into ser_t values (1)")
            with self.assertRaises(psycopg.Error) as cm:
                s.execute("commit")
            self.assertIn("1023", str(cm.exception))
            self.assertIn("Serializable isolation violation on table",
                          cm.exception.diag.message_detail)
            self.assertEqual(s.info.transaction_status, psycopg.pq.TransactionStatus.IDLE)
            self.assertEqual(s.execute("select count(*) from ser_t").fetchone()[0], 0)
            s.execute("begin")  # the retry goes through
            s.execute("insert into ser_t values (1)")
            s.execute("commit")
            self.assertEqual(s.execute("select count(*) from ser_t").fetchone()[0], 1)
        p = psql("select redshift_emulation_fail_next_commit(1023)")
        self.assertIn("armed", p.stdout)
        p = psql("begin; insert into ser_t values (2); commit;", expect_ok=False)
        self.assertIn("1023", p.stderr)
        self.assertEqual(upstream("select count(*) from ser_t")[0][0], 1)

    def test_statements_log_masks_secrets(self):
        put("log/a.csv", "1,a,b,\n")
        with connect() as c:
            c.execute("create table log_t (id integer, a varchar(3), b varchar(3), c varbyte(3))")
            c.execute(f"copy log_t from 's3://{BUCKET}/log/' {creds()} csv")
            with self.assertRaises(psycopg.Error):
                c.execute("create table log_bad (u uuid)")
        with open(H["log"]) as f:
            entries = [json.loads(line) for line in f]
        text = json.dumps(entries)
        self.assertNotIn(H["secret"], text)
        self.assertNotIn(H["key_id"], text)
        copies = [e for e in entries if "log/" in e["statement"]]
        self.assertEqual(copies[-1]["outcome"], "accepted")
        self.assertIn("SECRET_ACCESS_KEY '***'", copies[-1]["statement"])
        self.assertEqual(copies[-1]["s3_bytes"], len("1,a,b,\n"))  # the objects' bytes the COPY read
        self.assertNotIn("s3_bytes", [e for e in entries if "create table log_t" in e["statement"]][-1])
        bad = [e for e in entries if "log_bad" in e["statement"]]
        self.assertEqual(bad[-1]["outcome"], "refused")
        self.assertTrue(all({"session", "statement", "outcome"} <= set(e) for e in entries))


class CheckerTests(unittest.TestCase):
    def run_checker(self, statements):
        path = os.path.join(H["tmp"], f"log-{len(statements)}-{time.time_ns()}.jsonl")
        with open(path, "w") as f:
            for s in statements:
                f.write(json.dumps({"session": 1, "statement": s, "outcome": "accepted"}) + "\n")
            f.write(json.dumps({"session": 1, "statement": "insert into t values (1) on conflict "
                                "do nothing", "outcome": "refused"}) + "\n")
        return subprocess.run([PY, os.path.join(HERE, "check_redshift_sql.py"), path],
                              capture_output=True, text=True, timeout=60)

    def test_checker(self):
        good = [
            "CREATE TABLE events (id BIGINT NOT NULL ENCODE az64, name VARCHAR(256), "
            "ts TIMESTAMP) DISTKEY(id) SORTKEY(ts, id)",
            "DELETE FROM events USING stage WHERE events.id = stage.id",
            f"COPY events FROM 's3://{BUCKET}/m.manifest' IAM_ROLE '{ROLE_ARN}' MANIFEST "
            "FORMAT AS CSV GZIP",
            "select pg_last_copy_count()",
        ]
        p = self.run_checker(good)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.run_checker(good + ["INSERT INTO events (id) VALUES (1) ON CONFLICT (id) DO "
                                     "NOTHING", "SELECT ARRAY[1,2] @> ARRAY[1]::int[]"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ON CONFLICT", p.stdout)
        self.assertNotIn("DELETE FROM events", p.stdout)
