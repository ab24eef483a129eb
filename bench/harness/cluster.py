"""Throwaway PostgreSQL clusters on free loopback ports, driven through psql."""

import os
import shutil
import socket
import subprocess
import time

DATABASE = "bench"
LONG = 3600  # seconds any single wait may take before the case fails

PG_BIN = next(
    (d for d in ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
     if os.path.exists(os.path.join(d, "initdb"))),
    "/usr/lib/postgresql/15/bin",
)

# Every cluster gets the same settings, so that no tool runs against a better-tuned server. fsync stays
# on. wal_retrieve_retry_interval is lowered so the subscriber's launcher starts workers at once instead
# of waiting up to 5 s after it last started one, which would be measured as native replication time.
SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "20",
    "max_wal_senders": "20",
    "max_connections": "100",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "wal_retrieve_retry_interval": "100ms",
}


class BenchError(Exception):
    """A benchmark step failed; the message says which and why."""


def pg_tool(name):
    """The path of a PostgreSQL client or server program."""
    return os.path.join(PG_BIN, name)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_postgres(argv):
    """initdb and pg_ctl refuse to run as root: under root they run as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.getuid() == 0 else argv


def run(argv, **kwargs):
    """Runs a command, raising BenchError with its output if it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}".strip())
    return done.stdout


class Cluster:
    """One PostgreSQL cluster in its own directory under a temporary root."""

    def __init__(self, name, root):
        self.name = name
        self.directory = os.path.join(root, name)
        self.port = None

    @property
    def data(self):
        return os.path.join(self.directory, "data")

    def start(self):
        """initdb, start on a free port with SETTINGS, and create the bench database."""
        os.makedirs(self.directory)
        if os.getuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        run(as_postgres([pg_tool("initdb"), "-D", self.data, "-U", "postgres", "--auth=trust",
                         "-E", "UTF8", "--no-locale", "--no-sync"]))
        self.port = free_port()
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1",
                   f"-c unix_socket_directories='{self.directory}'"]
        options += [f"-c {key}={value}" for key, value in SETTINGS.items()]
        run(as_postgres([pg_tool("pg_ctl"), "-D", self.data, "-l", os.path.join(self.directory, "server.log"),
                         "-w", "-t", "60", "-o", " ".join(options), "start"]))
        self.sql("CREATE DATABASE " + DATABASE, database="postgres")

    def stop(self):
        """Stops the server at once; errors are ignored (it may never have started)."""
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(as_postgres([pg_tool("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"]),
                           capture_output=True)

    def url(self, database=DATABASE):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database=DATABASE):
        return f"host=127.0.0.1 port={self.port} dbname={database} user=postgres"

    def connection_args(self, database=DATABASE):
        """The -h/-p/-U/-d arguments every client program takes."""
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database]

    def psql_argv(self, database=DATABASE):
        return [pg_tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *self.connection_args(database)]

    def sql(self, script, database=DATABASE):
        """Runs a script (each statement in its own transaction unless it says BEGIN) and returns the
        output lines."""
        return run(self.psql_argv(database), input=script).splitlines()

    def scalar(self, query, database=DATABASE):
        """The single value a query returns, as text."""
        lines = self.sql(query, database)
        return lines[0] if lines else None

    def session(self):
        """A persistent psql for cheap polling."""
        return PsqlSession(self.psql_argv())


class PsqlSession:
    """One long-lived psql process: polling through it costs no process start per query."""

    SENTINEL = "--bench-end--"

    def __init__(self, argv):
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, bufsize=1)

    def scalar(self, query):
        """The first value the query returns, as text."""
        self.process.stdin.write(f"{query};\n\\echo {self.SENTINEL}\n")
        self.process.stdin.flush()
        lines = []
        while (line := self.process.stdout.readline()) and line.rstrip("\n") != self.SENTINEL:
            lines.append(line.rstrip("\n"))
        if not line:
            raise BenchError(f"psql session ended: {' '.join(lines)}")
        return lines[0] if lines else None

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it is true; returns the seconds waited, or raises after timeout."""
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.perf_counter() - start
