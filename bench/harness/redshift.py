"""The Redshift path's stand-in: moto's S3 and the test suite's Redshift emulator
(Tests/IntegrationTests/Support/Redshift) in front of the warehouse cluster, both from the Python
environment ./scripts/prerequisites makes (.build-venv/aws)."""

import json
import os
import signal
import subprocess
import time
import urllib.request

from . import workload
from .cluster import BenchError, free_port
from .result import Result

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(REPO, ".build-venv", "aws", "bin")
EMULATOR = os.path.join(REPO, "Tests", "IntegrationTests", "Support", "Redshift", "redshift_emulator.py")
BUCKET = "forager-bench"
SCHEMA = "redshift_analytics"  # on the warehouse cluster, beside the Postgres warehouse's analytics
REGION = "us-east-1"
# moto runs without signature checking here (the tests check signatures): any key is accepted.
KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret"}


class RedshiftEmulation:
    """moto_server and the emulator on free loopback ports; the emulator's upstream is `upstream` (a
    Cluster), and its statements log says how many bytes each COPY read from S3."""

    def __init__(self, root, upstream):
        self.directory = os.path.join(root, "redshift")
        self.upstream = upstream
        self.processes = []
        self.endpoint = None
        self.port = None

    @property
    def statements_log(self):
        return os.path.join(self.directory, "statements.jsonl")

    def start(self, timeout=60):
        python, moto = os.path.join(VENV, "python"), os.path.join(VENV, "moto_server")
        if not os.path.exists(moto):
            raise BenchError(f"{moto} is missing: run ./scripts/prerequisites (it makes .build-venv/aws)")
        os.makedirs(self.directory, exist_ok=True)
        s3_port = free_port()
        self.endpoint = f"http://127.0.0.1:{s3_port}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self._spawn([moto, "-H", "127.0.0.1", "-p", str(s3_port)], "moto.out", environment)
        self._wait(lambda: self._put(f"/{BUCKET}"), timeout, "moto_server to make the bucket")
        self.port = free_port()
        emulator = self._spawn(
            [python, EMULATOR, "--port", str(self.port), "--upstream-port", str(self.upstream.port),
             "--s3-endpoint", self.endpoint, "--s3-region", REGION, "--iam-role-key-id", KEYS["AWS_ACCESS_KEY_ID"],
             "--iam-role-secret", KEYS["AWS_SECRET_ACCESS_KEY"], "--statements-log", self.statements_log],
            "emulator.out", environment)

        def listening():
            if emulator.poll() is not None:
                raise BenchError(f"the Redshift emulator exited {emulator.returncode}; see {self.directory}/emulator.out")
            with open(os.path.join(self.directory, "emulator.out")) as out:
                return "listening on" in out.read()
        self._wait(listening, timeout, "the Redshift emulator to listen")

    def warehouse_config(self, schema):
        """The `warehouse:` flow mapping of a Forager that loads into `schema` through the emulation."""
        url = f"postgresql://postgres@127.0.0.1:{self.port}/bench?sslmode=disable"
        return (f'{{type: redshift, url: "{url}", schema: {schema}, '
                f's3: {{bucket: {BUCKET}, region: {REGION}, endpoint: "{self.endpoint}", prefix: bench}}}}')

    def staged_bytes(self):
        """The bytes every COPY so far read from S3 (the gzip CSV objects Forager staged)."""
        if not os.path.exists(self.statements_log):
            return 0
        with open(self.statements_log) as log:
            return sum(json.loads(line).get("s3_bytes") or 0 for line in log)

    def stop(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes = []

    def _spawn(self, argv, output, environment):
        with open(os.path.join(self.directory, output), "w") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=environment)
        self.processes.append(process)
        return process

    def _put(self, path):
        try:
            urllib.request.urlopen(urllib.request.Request(self.endpoint + path, method="PUT"), timeout=2).read()
            return True
        except OSError:
            return False

    @staticmethod
    def _wait(predicate, timeout, what):
        deadline = time.perf_counter() + timeout
        while not predicate():
            if time.perf_counter() > deadline:
                raise BenchError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.1)


def into_redshift(env, sizes):
    """Case 12: case 1's backlog and case 9's many small transactions, each caught up by `forager sync`
    into the Postgres warehouse and by a second Forager into the Redshift emulation (its own slot,
    made before the backlog); the bytes staged are what the emulation's COPYs read from S3."""
    emulation, redshift = env.start_redshift()
    values = {"changes/s": {}, "small-transaction changes/s": {}, "seconds": {}, "small-transaction seconds": {}}
    staged = total = peak = 0
    cpu = {"forager": 0.0, "postgres_warehouse": 0.0}
    shapes = [("changes/s", "seconds", sizes.backlog_transactions, sizes.backlog_rows_per_transaction),
              ("small-transaction changes/s", "small-transaction seconds", sizes.small_transactions,
               sizes.small_rows_per_transaction)]
    for rate, seconds, transactions, rows in shapes:
        env.reset()
        env.forager.sync()
        redshift.sync()
        env.source.sql(workload.transactions_script(workload.backlog(transactions, rows)))
        changes = transactions * rows
        env.quiesce()
        postgres = env.forager.sync()
        env.expect_copy(env.warehouse, "analytics.samples", "Forager's (Postgres warehouse)")
        env.quiesce()
        before = emulation.staged_bytes()
        loaded = redshift.sync()
        staged += emulation.staged_bytes() - before
        total += changes
        peak = max(peak, loaded.peak_rss_mib)
        cpu["forager"] += loaded.cpu_seconds
        cpu["postgres_warehouse"] += postgres.cpu_seconds
        env.expect_copy(env.warehouse, f"{SCHEMA}.samples", "Forager's (Redshift emulation)")
        values[rate] = {"forager": changes / loaded.seconds, "postgres_warehouse": changes / postgres.seconds}
        values[seconds] = {"forager": loaded.seconds, "postgres_warehouse": postgres.seconds}
    values["staged bytes per change"] = {"forager": staged / total}
    values["Forager CPU µs per change"] = {tool: seconds * 1e6 / total for tool, seconds in cpu.items()}
    values["Forager peak RSS (MiB)"] = {"forager": peak}
    return Result(values)
