#!/usr/bin/env python3
"""A small HTTP front for chdb (the ClickHouse engine as a Python module), serving the part of
ClickHouse's HTTP interface that Forager and its tests use, so the integration tests can run
against a modern engine as well as Debian's clickhouse-server 18.16.

    chdb_front.py --port PORT --path DATA_DIR

What it serves, as clickhouse-server does:
- GET / and GET /ping: "Ok.\\n".
- GET or POST /: the statement is the `query` parameter followed by a newline and the body, or the
  body alone (so `INSERT ... FORMAT TabSeparated` in `query` with the rows in the body works, and
  the rows reach the engine as one buffer, without a copy per row). `Content-Encoding: gzip` (or
  deflate) bodies are decompressed.
- `database`: the statement's default database (`USE` before it). `default_format`: the output
  format of a statement without a FORMAT clause (TabSeparated when not given). `param_NAME`: query
  parameters ({NAME:Type}). Every other parameter is a setting for this statement only (`SET`
  before it, `SET ... = DEFAULT` after); an unknown one fails with UNKNOWN_SETTING, as on the real
  server. Parameters that only steer the real server's HTTP handler (wait_end_of_query,
  send_progress_in_http_headers, session_id, query_id, user, password, ...) are accepted and
  ignored: the answer is always buffered whole, as with wait_end_of_query=1.
- Errors: the status clickhouse-server gives the exception code (400, 404, 500, ...), the
  X-ClickHouse-Exception-Code header, and the text "Code: N. DB::Exception: .... (NAME)
  (version V)".
- External data: a `multipart/form-data` body whose parts are tables for this statement only,
  each part's structure in the `<name>_structure` parameter (`name type` pairs, comma-separated)
  and its format in `<name>_format` (TabSeparated by default): made as temporary tables before
  the statement and dropped after it.
- No access control: any user and password (headers or parameters) are accepted.

chdb is not safe for concurrent use within one process: statements run one at a time on one
session, under a lock, while the HTTP server takes connections on threads.
"""

import argparse
import gzip
import re
import signal
import sys
import threading
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from chdb import session as chdb_session

# clickhouse-server's exceptionCodeToHTTPStatus (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp).
_STATUS_BY_CODE = {}
for _status, _codes in (
    (401, [194]),  # REQUIRED_PASSWORD
    (403, [192, 193, 497, 512, 516]),  # UNKNOWN_USER, WRONG_PASSWORD, ACCESS_DENIED, ...
    (400, [6, 8, 15, 25, 26, 27, 36, 37, 38, 41, 44, 53, 62, 72, 117, 123, 167, 168, 223, 321, 376,
           427, 441, 675, 676]),  # parse errors, SYNTAX_ERROR, TYPE_MISMATCH, BAD_ARGUMENTS, ...
    (404, [46, 47, 50, 56, 60, 63, 73, 78, 81, 115, 152, 336, 511]),  # UNKNOWN_TABLE, ..._DATABASE, ...
    (413, [229]),  # QUERY_IS_TOO_LARGE
    (501, [48]),  # NOT_IMPLEMENTED
    (503, [76, 209, 439]),  # CANNOT_OPEN_FILE, SOCKET_TIMEOUT, CANNOT_SCHEDULE_TASK
    (411, [381]),  # HTTP_LENGTH_REQUIRED
    (408, [159]),  # TIMEOUT_EXCEEDED
    (415, [779]),  # UNSUPPORTED_MEDIA_TYPE
):
    for _code in _codes:
        _STATUS_BY_CODE[_code] = _status

# Parameters of the real server's HTTP handler that are not settings of the statement.
_HANDLER_PARAMETERS = {
    "query", "database", "default_format", "user", "password", "quota_key", "query_id",
    "session_id", "session_timeout", "session_check", "compress", "decompress", "buffer_size",
    "wait_end_of_query", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
    "enable_http_compression", "http_zlib_compression_level", "http_native_compression_disable_checksumming_on_decompress",
    "add_http_cors_header", "stacktrace", "role", "client_protocol_version", "http_response_buffer_size",
}

_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CODE = re.compile(r"^Code: (\d+)\.")


class ClickHouseError(Exception):
    """An exception as the server reports it: code, text, and the HTTP status it maps to."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code = code
        self.text = text

    @staticmethod
    def from_engine(error):
        text = str(error).strip()
        match = _CODE.match(text)
        if match:
            return ClickHouseError(int(match.group(1)), text)
        return ClickHouseError(1001, "Code: 1001. DB::Exception: " + text + ". (STD_EXCEPTION)")

    @property
    def status(self):
        return _STATUS_BY_CODE.get(self.code, 500)


def _literal(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote(identifier):
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


class Engine:
    """One chdb session, used by one statement at a time."""

    def __init__(self, path):
        self._lock = threading.Lock()
        self._session = chdb_session.Session(path)
        self.version = self._session.query("SELECT version()", "TabSeparated").bytes().decode().strip()

    def run(self, statement, database, settings, params, output_format, external=()):
        """Runs `statement` (bytes) with the request's default database, settings, query
        parameters and external tables ((name, structure, format, rows) each); returns the output
        bytes, or raises ClickHouseError."""
        with self._lock:
            self._raw("USE " + _quote(database))
            applied, made = [], []
            try:
                for name, structure, data_format, rows in external:
                    self._raw(f"CREATE TEMPORARY TABLE {_quote(name)} ({structure}) ENGINE = Memory")
                    made.append(name)
                    if rows:
                        self._raw(b"INSERT INTO " + _quote(name).encode() + b" FORMAT " + data_format.encode() + b"\n" + rows)
                for name, value in settings:
                    if not _SETTING_NAME.match(name):
                        raise ClickHouseError(115, f"Code: 115. DB::Exception: Unknown setting '{name}'. (UNKNOWN_SETTING)")
                    self._raw(f"SET {name} = {_literal(value)}")
                    applied.append(name)
                return self._raw(statement, output_format, params)
            finally:
                for name in made:
                    try:
                        self._raw(f"DROP TEMPORARY TABLE IF EXISTS {_quote(name)}")
                    except ClickHouseError as error:
                        print(f"chdb_front: cannot drop external table {name}: {error.text}", file=sys.stderr)
                for name in applied:
                    try:
                        self._raw(f"SET {name} = DEFAULT")
                    except ClickHouseError as error:
                        print(f"chdb_front: cannot reset setting {name}: {error.text}", file=sys.stderr)

    def _raw(self, statement, output_format="TabSeparated", params=None):
        try:
            if params:
                result = self._session.query(statement, output_format, params=params)
            else:
                result = self._session.query(statement, output_format)
        except ClickHouseError:
            raise
        except Exception as error:  # chdb raises its ChdbError (a RuntimeError) with the server's text
            raise ClickHouseError.from_engine(error)
        if result is None:
            return b""
        if getattr(result, "has_error", lambda: False)():
            raise ClickHouseError.from_engine(result.error_message())
        return result.bytes()

    def close(self):
        with self._lock:
            self._session.close()


def _multipart_parts(body, content_type):
    """The (name, content) of each part of a multipart/form-data body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ClickHouseError(1, "Code: 1. DB::Exception: multipart/form-data without a boundary. (UNSUPPORTED_METHOD)")
    delimiter = b"--" + match.group(1).encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            parts.append((name.group(1).decode(), content[:-2] if content.endswith(b"\r\n") else content))
    return parts


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdb-front"
    engine = None  # set by main

    def log_message(self, format, *args):  # the tests read errors from the response, not a log
        pass

    def do_GET(self):
        self._handle(allow_body=False)

    def do_POST(self):
        self._handle(allow_body=True)

    def _handle(self, allow_body):
        try:
            url = urlsplit(self.path)
            if url.path == "/ping" or (url.path == "/" and not url.query and not allow_body):
                return self._send(200, b"Ok.\n", "text/html; charset=UTF-8")
            if url.path != "/":
                return self._send(404, f"There is no handle {self.path}\n\nUse / or /ping for health checks.\n".encode(),
                                  "text/plain; charset=UTF-8")
            body = self._body() if allow_body else b""
            parameters = parse_qsl(url.query, keep_blank_values=True)
            query, database, output_format = "", "default", "TabSeparated"
            settings, params = [], {}
            for name, value in parameters:
                if name == "query":
                    query = value
                elif name == "database":
                    database = value or "default"
                elif name == "default_format":
                    output_format = value or output_format
                elif name.startswith("param_"):
                    params[name[len("param_"):]] = value
                elif name in _HANDLER_PARAMETERS:
                    continue
                else:
                    settings.append((name, value))
            external = []
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("multipart/form-data"):
                given = dict(parameters)
                for name, rows in _multipart_parts(body, content_type):
                    structure = given.get(name + "_structure")
                    if structure is None:
                        raise ClickHouseError(36, f"Code: 36. DB::Exception: Neither structure nor types have not been provided for external table {name}. (BAD_ARGUMENTS)")
                    external.append((name, structure, given.get(name + "_format", "TabSeparated"), rows))
                settings = [(n, v) for n, v in settings
                            if not any(n in (table + "_structure", table + "_format", table + "_types") for table, *_ in external)]
                body = b""
            statement = (query.encode() + b"\n" + body) if query and body else (query.encode() if query else body)
            if not statement.strip():
                raise ClickHouseError(62, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)")
            output = self.engine.run(statement, database, settings, params, output_format, external)
            content_type = "text/tab-separated-values; charset=UTF-8" if output_format.startswith("TabSeparated") else "text/plain; charset=UTF-8"
            self._send(200, output, content_type, {"X-ClickHouse-Format": output_format})
        except ClickHouseError as error:
            text = f"{error.text} (version {self.engine.version})\n"
            self._send(error.status, text.encode("utf-8", "replace"), "text/plain; charset=UTF-8",
                       {"X-ClickHouse-Exception-Code": str(error.code)})
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as error:  # a bug of the front: say so as the server would, as a 500
            text = f"Code: 1001. DB::Exception: chdb_front: {type(error).__name__}: {error}. (STD_EXCEPTION) (version {self.engine.version})\n"
            self._send(500, text.encode("utf-8", "replace"), "text/plain; charset=UTF-8", {"X-ClickHouse-Exception-Code": "1001"})

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        try:
            if encoding == "gzip":
                return gzip.decompress(body)
            if encoding == "deflate":
                return zlib.decompress(body)
        except (OSError, zlib.error, EOFError) as error:
            raise ClickHouseError(432, f"Code: 432. DB::Exception: Cannot decompress the {encoding} request body: {error}. (CANNOT_DECOMPRESS)")
        if encoding not in ("", "identity"):
            raise ClickHouseError(
                1, f"Code: 1. DB::Exception: Unknown Content-Encoding of HTTP request: {encoding}. (UNSUPPORTED_METHOD)")
        return body

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb-front")
        self.send_header("X-ClickHouse-Query-Id", str(uuid.uuid4()))
        self.send_header("X-ClickHouse-Timezone", "UTC")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def main():
    parser = argparse.ArgumentParser(description="ClickHouse's HTTP interface over chdb, for tests")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True, help="the chdb data directory (kept across restarts)")
    parser.add_argument("--host", default="127.0.0.1")
    arguments = parser.parse_args()

    Handler.engine = Engine(arguments.path)
    server = ThreadingHTTPServer((arguments.host, arguments.port), Handler)
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"chdb_front: ClickHouse {Handler.engine.version} on http://{arguments.host}:{arguments.port}, data in {arguments.path}",
          flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        Handler.engine.close()


if __name__ == "__main__":
    main()
