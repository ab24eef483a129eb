"""Self-test of the Redshift emulation.

Run from the repository root:
    .build-venv/aws/bin/python -m unittest Tests/IntegrationTests/Support/Redshift/test_emulator.py

Starts a throwaway PostgreSQL 15 cluster, moto's S3 server with signature checking on (IAM-backed:
the first requests create an IAM user, its access key and policy, every later one is checked),
and the emulator in front of the cluster; then checks the emulation through psycopg (extended
protocol) and psql (simple protocol). Everything started is stopped, and every temporary
directory removed, even when a test fails.
"""

import atexit
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import boto3
import psycopg
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
PG_BIN = "/usr/lib/postgresql/15/bin"
PY = sys.executable
MOTO = os.path.join(os.path.dirname(PY), "moto_server")
REGION = "us-east-1"
BUCKET = "forager-loads"
ROLE_ARN = "arn:aws:iam::123456789012:role/forager-copy"

H = {}  # the harness: processes, ports, keys


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port}")


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _die_with_parent():
    """Children (moto, the emulators) get SIGTERM if this process dies without cleaning up."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def setUpModule():
    atexit.register(tearDownModule)  # also on Ctrl-C; tearDownModule runs once

    def on_term(*_):
        raise KeyboardInterrupt("SIGTERM")  # unittest lets it through; atexit cleans up

    signal.signal(signal.SIGTERM, on_term)
    try:
        _start()
    except BaseException:
        tearDownModule()
        raise


def _start():
    H["tmp"] = tmp = tempfile.mkdtemp(prefix="rsemu-test-")
    os.chmod(tmp, 0o755)
    # PostgreSQL 15, as the postgres user (initdb and pg_ctl refuse root).
    data = os.path.join(tmp, "pgdata")
    os.mkdir(data)
    shutil.chown(data, "postgres", "postgres")
    H["pg_port"] = free_port()
    subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/initdb", "-D", data,
                    "--auth=trust", "-U", "postgres", "-E", "UTF8", "--locale=C"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    H["pg_data"] = data
    subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", data, "-w",
                    "-l", os.path.join(data, "log"), "-o",
                    f"-p {H['pg_port']} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start"], check=True, stdout=subprocess.DEVNULL)
    H["pg_started"] = True
    subprocess.run([f"{PG_BIN}/psql", "-h", "127.0.0.1", "-p", str(H["pg_port"]), "-U", "postgres",
                    "-qc", "CREATE DATABASE warehouse"], check=True)
    # moto's S3 with signature checking: 3 unauthenticated requests, then every one is checked.
    H["s3_port"] = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    H["moto"] = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(H["s3_port"])], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 preexec_fn=_die_with_parent)
    wait_port(H["s3_port"], H["moto"], "moto_server")
    endpoint = f"http://127.0.0.1:{H['s3_port']}"
    H["endpoint"] = endpoint
    iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION,
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="forager")
    key = iam.create_access_key(UserName="forager")["AccessKey"]
    iam.put_user_policy(UserName="forager", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    H["key_id"], H["secret"] = key["AccessKeyId"], key["SecretAccessKey"]
    s3 = s3_client(H["key_id"], H["secret"])
    s3.create_bucket(Bucket=BUCKET)
    H["s3"] = s3
    # The emulator.
    H["port"] = free_port()
    H["log"] = os.path.join(tmp, "statements.jsonl")
    H["emu_err"] = open(os.path.join(tmp, "emulator.err"), "w")
    H["emu"] = subprocess.Popen(
        [PY, os.path.join(HERE, "redshift_emulator.py"), "--port", str(H["port"]),
         "--upstream-host", "127.0.0.1", "--upstream-port", str(H["pg_port"]),
         "--password", "sekret", "--s3-endpoint", endpoint, "--s3-region", REGION,
         "--iam-role-key-id", H["key_id"], "--iam-role-secret", H["secret"],
         "--statements-log", H["log"]],
        stdout=subprocess.PIPE, stderr=H["emu_err"], text=True, preexec_fn=_die_with_parent)
    line = H["emu"].stdout.readline()
    if not line.startswith("listening on"):
        raise RuntimeError(f"emulator did not start: {line!r}")


def start_emulator(*extra):
    """Another emulator in front of the same cluster (for the authentication variants)."""
    port = free_port()
    proc = subprocess.Popen(
        [PY, os.path.join(HERE, "redshift_emulator.py"), "--port", str(port),
         "--upstream-port", str(H["pg_port"]), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=_die_with_parent)
    H.setdefault("extra", []).append(proc)
    line = proc.stdout.readline()
    if not line.startswith("listening on"):
        raise RuntimeError(f"emulator did not start: {line!r}")
    return port


def tearDownModule():
    if H.get("torn_down"):
        return
    H["torn_down"] = True
    for proc in H.get("extra", []):
        stop(proc)
    stop(H.get("emu"))
    stop(H.get("moto"))
    if H.get("pg_started"):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", H["pg_data"],
                        "-m", "immediate", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if H.get("emu_err"):
        H["emu_err"].close()
        with open(H["emu_err"].name) as f:
            err = f.read()
        if "Traceback" in err or "failed" in err:  # the emulator's own failures, shown with the test's result
            sys.stderr.write("emulator stderr:\n" + err)
    if H.get("tmp"):
        shutil.rmtree(H["tmp"], ignore_errors=True)


def s3_client(key_id, secret):
    return boto3.client("s3", endpoint_url=H["endpoint"], region_name=REGION,
                        aws_access_key_id=key_id, aws_secret_access_key=secret,
                        config=Config(signature_version="s3v4",
                                      s3={"addressing_style": "path"}))


def connect(**kw):
    return psycopg.connect(host="127.0.0.1", port=H["port"], user="forager", dbname="warehouse",
                           password="sekret", autocommit=True, **kw)


def psql(sql, expect_ok=True):
    env = dict(os.environ, PGPASSWORD="sekret")
    p = subprocess.run([f"{PG_BIN}/psql", "-h", "127.0.0.1", "-p", str(H["port"]), "-U", "forager",
                        "-d", "warehouse", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, env=env, timeout=30)
    if expect_ok and p.returncode != 0:
        raise AssertionError(f"psql failed: {p.stderr}")
    return p


def upstream(sql):
    with psycopg.connect(host="127.0.0.1", port=H["pg_port"], user="postgres",
                         dbname="warehouse", autocommit=True) as c:
        return c.execute(sql).fetchall()


def put(key, body, gz=False):
    data = body.encode() if isinstance(body, str) else body
    if gz:
        data = gzip.compress(data)
    H["s3"].put_object(Bucket=BUCKET, Key=key, Body=data)


def creds():
    return f"ACCESS_KEY_ID '{H['key_id']}' SECRET_ACCESS_KEY '{H['secret']}'"


class SqlTextTests(unittest.TestCase):
    """The emulator's statement splitting and masking, without a server."""

    def test_split_respects_quotes_identifiers_dollar_quotes_and_comments(self):
        sys.path.insert(0, HERE)
        from rsemu import sql_text as rs
        sql = ("select 'a;b', \"c;d\" from t; -- x; y\n"
               "create function f() returns int as $body$ select 1; $body$ language sql;"
               "/* a; /* nested; */ b; */ select E'it\\'s;' ; ; select $$;$$")
        parts = [p.strip() for p in rs.split_statements(sql)]
        self.assertEqual(len(parts), 4, parts)
        self.assertTrue(parts[0].startswith("select 'a;b'"))
        self.assertIn("$body$ select 1; $body$", parts[1])
        self.assertIn("E'it\\'s;'", parts[2])
        self.assertEqual(parts[3], "select $$;$$")
        self.assertEqual(rs.split_statements(" ; -- nothing\n;"), [])
        masked = rs.mask_credentials("copy t from 's3://b/k' access_key_id 'AKIA1' "
                                     "secret_access_key AS 's3cr3t' session_token 'tok' "
                                     "credentials 'aws_access_key_id=A;aws_secret_access_key=B'")
        for secret in ("AKIA1", "s3cr3t", "T0K3N", "aws_secret_access_key=B"):
            self.assertNotIn(secret, masked)
        self.assertIn("'s3://b/k'", masked)


class ProtocolTests(unittest.TestCase):
    def test_server_version_through_libpq(self):
        with connect() as c:
            self.assertEqual(c.info.server_version, 80002)
            self.assertEqual(c.info.parameter_status("server_version"), "8.0.2")
            self.assertEqual(c.info.parameter_status("integer_datetimes"), "on")
        self.assertEqual(psql("select 1 + 1").stdout.strip(), "2")

    def test_wrong_password_refused(self):
        with self.assertRaises(psycopg.OperationalError) as cm:
            psycopg.connect(host="127.0.0.1", port=H["port"], user="forager", dbname="warehouse",
                            password="wrong")
        self.assertIn("password authentication failed", str(cm.exception))

    def test_extended_protocol_params_and_prepared(self):
        with connect() as c:
            c.execute("create table ext_t (id integer, name varchar(20))")
            # %t: text-format parameters, as libpq's PQexecParams sends them
            c.execute("insert into ext_t values (%t, %t)", (1, "one"))
            c.execute("insert into ext_t values (%t, %t)", (2, None), prepare=True)
            c.execute("insert into ext_t values (%t, %t)", (3, "three"), prepare=True)
            rows = c.execute("select id, name from ext_t where id >= %t order by id", (1,),
                             prepare=True).fetchall()
            self.assertEqual(rows, [(1, "one"), (2, None), (3, "three")])
            cur = c.execute("select name, id from ext_t where id = %t", (3,))
            self.assertEqual([d.type_code for d in cur.description], [1043, 23])

    def test_libpq_exec_execparams_prepare_describe(self):
        conn = psycopg.pq.PGconn.connect(
            f"host=127.0.0.1 port={H['port']} user=forager dbname=warehouse "
            f"password=sekret".encode())
        try:
            ok = psycopg.pq.ExecStatus
            self.assertEqual(conn.status, psycopg.pq.ConnStatus.OK)
            self.assertEqual(conn.server_version, 80002)
            r = conn.exec_(b"select 1 as a; select 'two' as b")  # PQexec: the last result
            self.assertEqual((r.status, r.fname(0), r.get_value(0, 0)), (ok.TUPLES_OK, b"b", b"two"))
            r = conn.exec_params(b"select $1::integer * 2, $2::text", [b"21", None])
            self.assertEqual((r.get_value(0, 0), r.get_value(0, 1)), (b"42", None))
            r = conn.prepare(b"plus", b"select $1::bigint + 1 as next", None)
            self.assertEqual(r.status, ok.COMMAND_OK)
            d = conn.describe_prepared(b"plus")
            self.assertEqual((d.nparams, d.param_type(0), d.nfields, d.fname(0), d.ftype(0)),
                             (1, 20, 1, b"next", 20))
            for k in (1, 41):
                r = conn.exec_prepared(b"plus", [str(k).encode()])
                self.assertEqual(r.get_value(0, 0), str(k + 1).encode())
            r = conn.prepare(b"plus", b"select 1", None)
            self.assertEqual(r.status, ok.FATAL_ERROR)  # named statements are not redefined
            self.assertEqual(conn.close_prepared(b"plus").status, ok.COMMAND_OK)
            r = conn.exec_prepared(b"plus", [b"1"])
            self.assertEqual(r.status, ok.FATAL_ERROR)
            r = conn.exec_(b"")
            self.assertEqual(r.status, ok.EMPTY_QUERY)
            r = conn.exec_params(b"select pg_last_copy_count()", [])
            self.assertEqual((r.ftype(0), r.get_value(0, 0)), (20, b"0"))
        finally:
            conn.finish()

    def test_ssl_and_gss_requests_answered_no(self):
        with connect(sslmode="prefer", gssencmode="prefer") as c:
            self.assertEqual(c.execute("select 7").fetchone()[0], 7)
        with self.assertRaises(psycopg.OperationalError):
            connect(sslmode="require")

    def test_cleartext_password_and_trust(self):
        port = start_emulator("--password", "pw", "--password-method", "cleartext")
        with psycopg.connect(host="127.0.0.1", port=port, user="u", dbname="warehouse",
                             password="pw") as c:
            self.assertEqual(c.execute("select 3").fetchone()[0], 3)
        with self.assertRaises(psycopg.OperationalError):
            psycopg.connect(host="127.0.0.1", port=port, user="u", dbname="warehouse",
                            password="nope")
        port = start_emulator()  # no --password: trust
        with psycopg.connect(host="127.0.0.1", port=port, user="u", dbname="warehouse") as c:
            self.assertEqual(c.execute("select 4").fetchone()[0], 4)

    def test_raw_extended_protocol_suspend_and_discard_until_sync(self):
        """What libpq never does: a row limit on Execute, and messages after an error."""
        import struct
        port = start_emulator()  # trust: no password exchange to write here

        def msg(kind, payload=b""):
            return kind + struct.pack("!I", len(payload) + 4) + payload

        def read_until_ready(sock):
            out, buf = [], b""
            while True:
                while len(buf) < 5 or len(buf) < 1 + struct.unpack("!I", buf[1:5])[0]:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise AssertionError(f"connection closed after {out}")
                    buf += chunk
                n = struct.unpack("!I", buf[1:5])[0]
                out.append((buf[:1], buf[5:1 + n]))
                buf = buf[1 + n:]
                if out[-1][0] == b"Z":
                    return out

        with socket.create_connection(("127.0.0.1", port)) as sock:
            params = b"user\0u\0database\0warehouse\0\0"
            sock.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
            startup = read_until_ready(sock)
            statuses = dict(p.split(b"\0")[:2] for k, p in startup if k == b"S")
            self.assertEqual(statuses[b"server_version"], b"8.0.2")
            q = b"select g from generate_series(1, 5) g\0"
            sock.sendall(msg(b"P", b"s1\0" + q + b"\0\0") + msg(b"B", b"p1\0s1\0" + b"\0" * 6)
                         + msg(b"E", b"p1\0" + struct.pack("!I", 2))
                         + msg(b"E", b"p1\0" + struct.pack("!I", 2))
                         + msg(b"E", b"p1\0" + struct.pack("!I", 0)) + msg(b"S"))
            kinds = [k for k, _ in read_until_ready(sock)]
            self.assertEqual(kinds, [b"1", b"2", b"D", b"D", b"s", b"D", b"D", b"s", b"D", b"C",
                                     b"Z"])
            # An error: what follows is discarded until Sync, then the session goes on.
            bad = b"insert into nowhere values (1) on conflict do nothing\0"
            sock.sendall(msg(b"P", b"\0" + bad + b"\0\0") + msg(b"B", b"\0\0" + b"\0" * 6)
                         + msg(b"E", b"\0" + struct.pack("!I", 0)) + msg(b"S"))
            reply = read_until_ready(sock)
            self.assertEqual([k for k, _ in reply], [b"E", b"Z"])
            self.assertIn(b"42601", reply[0][1])
            sock.sendall(msg(b"Q", b"select 1\0"))
            self.assertEqual([k for k, _ in read_until_ready(sock)], [b"T", b"D", b"C", b"Z"])
            sock.sendall(msg(b"X"))

    def test_several_statements_in_one_simple_query(self):
        out = psql("create table multi_t (a integer); insert into multi_t values (1), (2); "
                   "select count(*) from multi_t;").stdout
        self.assertEqual(out.strip().splitlines()[-1], "2")
        # an error skips the rest of the string and rolls back the implicit transaction
        p = psql("insert into multi_t values (3); select 1/0; insert into multi_t values (4)",
                 expect_ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(upstream("select count(*) from multi_t")[0][0], 2)

    def test_temp_table_lives_across_statements(self):
        with connect() as c:
            c.execute("create temp table stage_t (id bigint, v text)")
            c.execute("insert into stage_t values (1, 'a')")
            self.assertEqual(c.execute("select count(*) from stage_t").fetchone()[0], 1)
        with connect() as c:  # another session does not see it
            with self.assertRaises(psycopg.errors.UndefinedTable):
                c.execute("select * from stage_t")

    def test_two_sessions_at_once(self):
        with connect() as a, connect() as b:
            a.execute("create table two_t (id integer)")
            a.execute("begin")
            a.execute("insert into two_t values (1)")
            self.assertEqual(b.execute("select count(*) from two_t").fetchone()[0], 0)
            a.execute("commit")
            self.assertEqual(b.execute("select count(*) from two_t").fetchone()[0], 1)
            a.execute("begin")
            self.assertEqual(a.execute("show transaction_isolation").fetchone()[0], "serializable")
            a.execute("rollback")
        errors = []

        def worker(n):
            try:
                with connect() as c:
                    for k in range(20):
                        c.execute("insert into two_t values (%t)", (n * 100 + k,))
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(upstream("select count(*) from two_t")[0][0], 81)


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
        self.assertEqual(types["a"], "character varying(256)")
        self.assertEqual(types["b"], "character varying(256)")
        self.assertEqual(types["c"], "numeric(18,0)")
        self.assertEqual(types["d"], "numeric(10,2)")
        self.assertEqual(types["e"], "json")
        self.assertEqual(types["f"], "bytea")
        self.assertEqual(types["g"], "timestamp with time zone")
        self.assertEqual(types["h"], "timestamp without time zone")
        self.assertEqual(types["i"], "boolean")
        self.assertEqual(types["j"], "character varying(65535)")
        self.assertEqual(types["k"], "double precision")
        self.assertEqual(types["l"], "character varying(12)")
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


if __name__ == "__main__":
    unittest.main()
