"""The programs the cases time: forager, pg_recvlogical, pgbench and the psql COPY pipe."""

import os
import re
import shlex
import signal
import subprocess
import time

from .cluster import DATABASE, BenchError, pg_tool

# Background processes still running; the harness ends them if it stops early.
LIVE = set()


class Timed:
    """Wall time, CPU time (user and system) and peak resident set size (from wait4's rusage) of one
    finished process."""

    def __init__(self, seconds, peak_rss_kib, cpu_seconds=0.0):
        self.seconds = seconds
        self.peak_rss_mib = peak_rss_kib / 1024
        self.cpu_seconds = cpu_seconds


class Process:
    """A started child whose exit is collected with wait4, so its peak RSS is exact."""

    def __init__(self, argv, log_path, **kwargs):
        self.argv = argv
        self.log_path = log_path
        self.started = time.perf_counter()
        with open(log_path, "w") as log:
            self.popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kwargs)
        LIVE.add(self)

    def wait(self):
        """Waits for the exit; raises BenchError with the log's tail unless it exited 0."""
        _, status, usage = os.wait4(self.popen.pid, 0)
        elapsed = time.perf_counter() - self.started
        self.popen.returncode = os.waitstatus_to_exitcode(status)
        LIVE.discard(self)
        if self.popen.returncode != 0:
            raise BenchError(f"{os.path.basename(self.argv[0])} {' '.join(self.argv[1:3])} exited "
                             f"{self.popen.returncode}:\n{self.log_tail()}")
        return Timed(elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)

    def terminate(self):
        """SIGTERM, then the exit as wait() reports it."""
        self.popen.send_signal(signal.SIGTERM)
        return self.wait()

    def log_tail(self, lines=15):
        with open(self.log_path) as log:
            return "".join(log.readlines()[-lines:])


def kill_live():
    """Kills every background process the harness started and did not collect."""
    for process in list(LIVE):
        process.popen.kill()
        process.popen.wait()
        LIVE.discard(process)


def timed(argv, log_path, **kwargs):
    """Runs a program to its end and returns its Timed result."""
    return Process(argv, log_path, **kwargs).wait()


class Forager:
    """The forager binary with a config for one source table, written into `directory`."""

    def __init__(self, binary, directory, source, warehouse, binary_values=True, warehouse_config=None, slot="forager",
                 environment=None):
        """`warehouse_config` is the `warehouse:` mapping as YAML flow text; by default the Postgres
        `warehouse` cluster, schema analytics. `slot` names the slot and the publication; `environment`
        is added to forager's."""
        if warehouse_config is None:
            warehouse_config = f'{{type: postgres, url: "{warehouse.url()}", schema: analytics}}'
        self.binary = binary
        self.directory = directory
        self.environment = dict(os.environ, **(environment or {}))
        self.runs = 0
        os.makedirs(os.path.join(directory, "mappings"), exist_ok=True)
        with open(os.path.join(directory, "mappings", "app.yaml"), "w") as mapping:
            mapping.write("tables:\n  - source: public.samples\n")
        with open(self.config, "w") as config:
            config.write(
                f'source: {{url: "{source.url()}", publication: {slot}, slot: {slot}, binary: {str(binary_values).lower()}}}\n'
                f'warehouse: {warehouse_config}\n'
                "batch: {max_rows: 50000, max_age_ms: 500}\n"
                "mappings: mappings\n")

    @property
    def config(self):
        return os.path.join(self.directory, "forager.yaml")

    def _start(self, command):
        self.runs += 1
        log = os.path.join(self.directory, f"forager-{self.runs:03d}-{command}.log")
        return Process([self.binary, command, "--config", self.config], log, env=self.environment)

    def sync(self):
        """`forager sync` to its end: snapshot or catch-up. Returns Timed."""
        return self._start("sync").wait()

    def run(self):
        """Starts `forager run`; stop it with .terminate()."""
        return self._start("run")


def recvlogical(source, slot, *args, log_path):
    """pg_recvlogical on the source's bench database; returns Timed."""
    argv = [pg_tool("pg_recvlogical"), *source.connection_args(), "--slot", slot, *args]
    return timed(argv, log_path)


def pgbench(source, script_path, seconds, clients, log_path, rate=None):
    """pgbench with a custom script; returns transactions per second (excluding connection time)."""
    argv = [pg_tool("pgbench"), "-n", "-f", script_path, "-T", str(seconds), "-c", str(clients), "-j", str(clients)]
    if rate:
        argv += ["-R", str(rate)]
    # pgbench's -d means debug: the database goes last, on its own.
    timed(argv + source.connection_args()[:-2] + [DATABASE], log_path)
    with open(log_path) as log:
        match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", log.read())
    if not match:
        raise BenchError(f"no tps in pgbench output {log_path}")
    return float(match.group(1))


def copy_pipe(source, target, table, log_path):
    """`psql -c COPY ... TO STDOUT (binary) | psql -c COPY ... FROM STDIN (binary)`; returns Timed."""
    dump = source.psql_argv() + ["-c", "COPY samples TO STDOUT (FORMAT binary)"]
    load = target.psql_argv() + ["-c", f"COPY {table} FROM STDIN (FORMAT binary)"]
    pipeline = f"set -o pipefail; {shlex.join(dump)} | {shlex.join(load)}"
    return timed(["bash", "-c", pipeline], log_path)


def copy_to_clickhouse(source, select, clickhouse, table, log_path):
    """`psql -c "COPY (select) TO STDOUT" | clickhouse-client --query "INSERT INTO table FORMAT
    TabSeparated"`: PostgreSQL's text COPY format is ClickHouse's TabSeparated for the values the
    select produces. Returns Timed."""
    dump = source.psql_argv() + ["-c", f"COPY ({select}) TO STDOUT"]
    load = clickhouse.client_argv(f"INSERT INTO {table} FORMAT TabSeparated")
    pipeline = f"set -o pipefail; {shlex.join(dump)} | {shlex.join(load)}"
    return timed(["bash", "-c", pipeline], log_path)
