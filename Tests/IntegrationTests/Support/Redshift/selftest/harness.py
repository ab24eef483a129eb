"""The self-test's harness: PostgreSQL 15, moto's S3 with signatures checked, the emulator; and
the helpers the tests use (connections, psql, the upstream, S3 objects, credentials).

setUpModule starts everything once; tearDownModule stops it and removes every temporary directory,
also on Ctrl-C or SIGTERM."""

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
import time

import boto3
import psycopg
from botocore.config import Config

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # Support/Redshift
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
