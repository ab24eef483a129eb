"""A throwaway ClickHouse server (Debian's clickhouse-server) on free loopback ports, driven over HTTP."""

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from .cluster import BenchError, free_port

SERVER = "/usr/sbin/clickhouse-server"
CONFIG = "/etc/clickhouse-server/config.xml"
USERS = "/etc/clickhouse-server/users.xml"


def available():
    """Whether the packaged server and its configuration are installed."""
    return all(os.path.exists(path) for path in (SERVER, CONFIG, USERS))


class ClickHouse:
    """One clickhouse-server with its data, logs and configuration in its own directory. The packaged
    config.xml is copied with the ports and paths replaced; users.xml as it is (user `default`, no
    password, loopback only)."""

    def __init__(self, root):
        self.directory = os.path.join(root, "clickhouse")
        self.process = None
        self.url = None
        self.tcp_port = None

    def start(self, timeout=60):
        if not available():
            raise BenchError(f"ClickHouse is not installed ({SERVER}, {CONFIG}): apt-get install clickhouse-server")
        http, self.tcp_port, interserver = free_port(), free_port(), free_port()
        with open(CONFIG) as packaged:
            config = packaged.read()
        for old, new in [
            ("<http_port>8123</http_port>", f"<http_port>{http}</http_port>"),
            ("<tcp_port>9000</tcp_port>", f"<tcp_port>{self.tcp_port}</tcp_port>"),
            ("<interserver_http_port>9009</interserver_http_port>",
             f"<interserver_http_port>{interserver}</interserver_http_port>"),
            ("<listen_host>::1</listen_host>", ""),
            ("<path>/var/lib/clickhouse/</path>", f"<path>{self.directory}/data/</path>"),
            ("/var/lib/clickhouse/tmp/", f"{self.directory}/tmp/"),
            ("/var/lib/clickhouse/user_files/", f"{self.directory}/user_files/"),
            ("/var/lib/clickhouse/format_schemas/", f"{self.directory}/format_schemas/"),
            ("/var/log/clickhouse-server/", f"{self.directory}/log/"),
        ]:
            if old not in config:
                raise BenchError(f"{CONFIG} has no {old}: cannot move the server to a private port and directory")
            config = config.replace(old, new)
        for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
            os.makedirs(os.path.join(self.directory, sub), exist_ok=True)
        with open(os.path.join(self.directory, "config.xml"), "w") as private:
            private.write(config)
        shutil.copy(USERS, os.path.join(self.directory, "users.xml"))
        with open(os.path.join(self.directory, "server.out"), "w") as out:
            self.process = subprocess.Popen([SERVER, f"--config-file={self.directory}/config.xml"],
                                            stdout=out, stderr=subprocess.STDOUT, cwd=self.directory)
        self.url = f"http://127.0.0.1:{http}"
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"clickhouse-server exited {self.process.returncode}; see {self.directory}/log")
            try:
                if urllib.request.urlopen(self.url + "/ping", timeout=1).read() == b"Ok.\n":
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BenchError(f"clickhouse-server did not answer within {timeout} s")

    def stop(self):
        """SIGTERM, then SIGKILL if it has not exited after 30 s."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def query(self, sql, body=None):
        """Runs one statement; returns its TabSeparated output. With `body` (bytes), the statement goes
        into the URL and the body is its data (an INSERT ... FORMAT's rows). wait_end_of_query makes an
        error in the middle of a result an HTTP error (18.16 otherwise answers 200)."""
        params = {"wait_end_of_query": "1"}
        if body is not None:
            params["query"] = sql
        request = urllib.request.Request(f"{self.url}/?{urllib.parse.urlencode(params)}",
                                         data=sql.encode() if body is None else body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=3600) as response:
                return response.read().decode()
        except urllib.error.HTTPError as error:
            raise BenchError(f"ClickHouse refused {sql[:200]!r}: {error.read().decode().strip()}") from None

    def scalar(self, sql):
        lines = self.query(sql).splitlines()
        return lines[0] if lines else None

    def version(self):
        return self.scalar("SELECT version()")

    def client_argv(self, query):
        """clickhouse-client running `query` against this server (for the COPY-to-INSERT pipe)."""
        return ["clickhouse-client", "--host", "127.0.0.1", "--port", str(self.tcp_port), "--query", query]
