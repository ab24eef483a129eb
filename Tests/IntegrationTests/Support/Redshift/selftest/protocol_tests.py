"""The self-test of the wire protocol (simple and extended), sessions, and statement splitting."""

import socket
import sys
import threading
import unittest

import psycopg

from .harness import H, HERE, connect, psql, start_emulator, upstream


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
                                     "secret_access_key AS 's3cr3t' session_token 'T0K3N' "
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

    def test_a_describe_waiting_for_a_lock_leaves_the_holder_free(self):
        # Redshift's LOCK makes other sessions' reads wait; the lock holder must still be able to
        # commit (the Describe of the waiting read once kept every session of the emulator waiting).
        # The read is prepared before the LOCK, so that its Describe, not its Parse, waits.
        with connect() as holder, connect() as reader:
            holder.execute("create table locked_t (id integer)")
            read = "select id from locked_t where id >= %t"
            self.assertEqual(reader.execute(read, (0,), prepare=True).fetchall(), [])
            holder.execute("begin")
            holder.execute("lock locked_t")
            rows = []
            waiting = threading.Thread(
                target=lambda: rows.extend(reader.execute(read, (0,), prepare=True).fetchall()))
            waiting.start()
            waiting.join(0.5)
            self.assertTrue(waiting.is_alive(), "the read did not wait for the lock")
            finishing = threading.Thread(target=lambda: (
                holder.execute("insert into locked_t values (1)"), holder.execute("commit")))
            finishing.start()
            finishing.join(10)
            stuck = finishing.is_alive()
            if stuck:  # ending the waiting read frees the emulator: the test fails, not hangs
                upstream("select pg_terminate_backend(pid) from pg_stat_activity "
                         "where wait_event_type = 'Lock'")
                finishing.join(10)
            waiting.join(10)
            self.assertFalse(stuck, "the lock holder could not commit while a read waited")
            self.assertEqual(rows, [(1,)])
