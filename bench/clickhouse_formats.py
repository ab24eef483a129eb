#!/usr/bin/env python3
"""Measures how fast a private ClickHouse server (Debian's clickhouse-server) takes 1,000,000 IoT
sample rows in TabSeparated, RowBinary and JSONEachRow, to choose Forager's insert format.

    python3 bench/clickhouse_formats.py [--rows N] [--runs N]

Each format's rows are generated in memory first and sent in one HTTP POST; the time is the
POST's, from sending to the server's reply.
"""

import argparse
import json
import shutil
import struct
import tempfile
import time

from harness.clickhouse import ClickHouse


def rows(count):
    for i in range(1, count + 1):
        temperature = None if i % 97 == 0 else 20 + (i % 400) / 10
        weight = None if i % 89 == 0 else (i % 90000)  # thousandths
        yield (i, i % 50000, 1780272000000000 + i * 86400, temperature, weight,
               '{"fw": "v%d", "rssi": %d}' % (i % 5, -(i % 90)))


def tab_separated(count):
    null = "\\N"
    out = []
    for i, hive, at, temperature, weight, payload in rows(count):
        t = null if temperature is None else temperature
        w = null if weight is None else f"{weight // 1000}.{weight % 1000:03d}"
        out.append(f"{i}\t{hive}\t{at}\t{t}\t{w}\t{payload}\n")
    return "".join(out).encode()


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def row_binary(count):
    out = bytearray()
    for i, hive, at, temperature, weight, payload in rows(count):
        out += struct.pack("<qqq", i, hive, at)
        out += b"\x01" if temperature is None else b"\x00" + struct.pack("<d", temperature)
        out += b"\x01" if weight is None else b"\x00" + struct.pack("<i", weight)
        encoded = payload.encode()
        out += varint(len(encoded)) + encoded
    return bytes(out)


def json_each_row(count):
    out = []
    for i, hive, at, temperature, weight, payload in rows(count):
        out.append(json.dumps({"id": i, "hive_id": hive, "sampled_at": at, "temperature_c": temperature,
                               "weight_kg": None if weight is None else weight / 1000, "payload": payload}))
    return ("\n".join(out) + "\n").encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="forager-ch-formats-")
    server = ClickHouse(directory)
    try:
        server.start()
        version = server.version()
        results = {}
        for name, make in [("TabSeparated", tab_separated), ("RowBinary", row_binary), ("JSONEachRow", json_each_row)]:
            body = make(args.rows)
            times = []
            for run in range(args.runs):
                server.query("DROP TABLE IF EXISTS default.samples")
                server.query("CREATE TABLE default.samples (id Int64, hive_id Int64, sampled_at Int64, temperature_c Nullable(Float64), "
                             "weight_kg Nullable(Decimal(7, 3)), payload String, _forager_version UInt64 DEFAULT 0, "
                             "_forager_deleted UInt8 DEFAULT 0) ENGINE = ReplacingMergeTree(_forager_version) ORDER BY id")
                started = time.perf_counter()
                server.query(f"INSERT INTO default.samples (id, hive_id, sampled_at, temperature_c, weight_kg, payload) FORMAT {name}", body)
                times.append(time.perf_counter() - started)
                count = int(server.scalar("SELECT count() FROM default.samples"))
                assert count == args.rows, (name, count)
            results[name] = (len(body), sorted(times)[len(times) // 2])
        print(f"ClickHouse {version}, {args.rows:,} rows, median of {args.runs} runs")
        print("| format | body MiB | seconds | rows/s |")
        print("|---|---|---|---|")
        for name, (size, seconds) in results.items():
            print(f"| {name} | {size / 2**20:.1f} | {seconds:.2f} | {args.rows / seconds:,.0f} |")
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)

if __name__ == "__main__":
    main()
