#!/usr/bin/env python3
"""Forager's benchmarks: starts throwaway source, warehouse and subscriber clusters, runs the cases
against Forager and its references, and writes a markdown page with SVG charts.

    python3 bench/run.py [--runs N] [--smoke] [--scale F] [--cases 1,3,5] [--binary PATH] [--values text|binary] [--out FILE]
"""

import argparse
import datetime
import os
import platform
import shlex
import signal
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

from harness.cases import CASES
from harness.env import FULL, SMOKE, Env
from harness.cluster import BenchError, pg_tool
from harness.report import Outcome, render

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="runs per case (default 3; 1 with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run: checks the harness end to end")
    parser.add_argument("--scale", type=float, default=1.0, help="row counts times this factor (full mode)")
    parser.add_argument("--cases", default=",".join(str(c.number) for c in CASES), help="e.g. 1,3,5")
    parser.add_argument("--binary", help="a forager binary to use instead of building one")
    parser.add_argument("--values", choices=["binary", "text"], default="binary",
                        help="how Forager receives column values (source.binary; default binary, as Forager's default)")
    parser.add_argument("--note", action="append", default=[],
                        help="a sentence for the page's machine section (e.g. that the machine was shared); repeatable")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks.md"), help="the markdown page")
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.smoke else 3)
    args.cases = [int(n) for n in args.cases.split(",")]
    unknown = set(args.cases) - {c.number for c in CASES}
    if unknown:
        parser.error(f"no such case: {sorted(unknown)}")
    return args


def forager_binary(args):
    """--binary, else the debug build in smoke mode if there is one, else a fresh release build."""
    if args.binary:
        return os.path.abspath(args.binary)
    debug = os.path.join(REPO, ".build", "debug", "forager")
    if args.smoke and os.path.exists(debug):
        return debug
    print("building forager (release, scratch path .build-bench) ...", flush=True)
    subprocess.run(["swift", "build", "-c", "release", "--scratch-path", ".build-bench", "--product", "forager"],
                   cwd=REPO, check=True)
    return os.path.join(REPO, ".build-bench", "release", "forager")


def machine_facts(binary, mode, values):
    """What the page says about the machine and the software measured."""
    with open("/proc/meminfo") as meminfo:
        memory_kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    with open("/proc/cpuinfo") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown")
    commit = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return {
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": mode,
        "CPU": f"{os.cpu_count()} × {cpu} (nproc {os.cpu_count()})",
        "memory": f"{memory_kib / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "load average at start (1/5/15 min)": " / ".join(f"{load:.2f}" for load in os.getloadavg()),
        "PostgreSQL": subprocess.run([pg_tool("postgres"), "--version"], capture_output=True, text=True).stdout.strip(),
        "server settings (all three clusters)": "fsync on (default), synchronous_commit on (default), "
        "shared_buffers 256MB, max_wal_size 4GB, wal_level logical, max_replication_slots 20, max_wal_senders 20, "
        "wal_retrieve_retry_interval 100ms",
        "Forager": f"`{os.path.relpath(binary, REPO)}`, built from the work tree at `git describe --dirty` {commit}; "
        f"batch max_rows 50000, max_age_ms 500, column values in {values} (source.binary: {str(values == 'binary').lower()})",
    }


def run_case(case, env, sizes, runs):
    """Runs one case `runs` times; a failure ends the case and is recorded, not raised."""
    outcome = Outcome(case)
    for run in range(runs):
        print(f"case {case.number} ({case.title}), run {run + 1}/{runs} ...", flush=True)
        started = time.perf_counter()
        try:
            outcome.results.append(case.run(env, sizes))
        except Exception as error:  # recorded on the page; the other cases still run
            outcome.error = str(error) if isinstance(error, BenchError) else traceback.format_exc()
            print(f"case {case.number} failed: {outcome.error}", file=sys.stderr, flush=True)
            return outcome
        print(f"  done in {time.perf_counter() - started:.1f} s: "
              + ", ".join(f"{m} {v}" for m, v in outcome.results[-1].values.items()), flush=True)
    return outcome


def interrupt(signum, frame):
    """SIGTERM ends the run like Ctrl-C, so the clusters are still stopped and removed."""
    raise KeyboardInterrupt


def main(argv):
    args = parse_args(argv)
    command = "python3 bench/run.py" + "".join(" " + shlex.quote(a) for a in argv)
    sizes = SMOKE if args.smoke else FULL.scaled(args.scale)
    mode = "smoke (tiny sizes)" if args.smoke else f"full, scale {args.scale:g}, {args.runs} run(s) per case"
    binary = forager_binary(args)
    facts = machine_facts(binary, mode, args.values)  # now, while the commit is the one the binary was built from
    signal.signal(signal.SIGTERM, interrupt)
    root = tempfile.mkdtemp(prefix="forager-bench-")
    env = Env(root, binary, binary_values=args.values == "binary")
    try:
        env.start()
        outcomes = [run_case(case, env, sizes, args.runs) for case in CASES if case.number in args.cases]
    finally:
        env.stop()
        shutil.rmtree(root, ignore_errors=True)
    ordered = {}
    for key, value in facts.items():  # the load at the end next to the load at the start
        ordered[key] = value
        if key.startswith("load average at start"):
            ordered["load average at end (1/5/15 min)"] = " / ".join(f"{load:.2f}" for load in os.getloadavg())
    facts = ordered
    if env.clickhouse_version:
        facts["ClickHouse"] = f"clickhouse-server {env.clickhouse_version} (Debian's package), a private server " \
            "with the packaged configuration on free loopback ports"
    for note in args.note:
        facts["note"] = note if "note" not in facts else facts["note"] + " " + note
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    render(args.out, command, facts, mode, sizes, outcomes)
    print(f"wrote {args.out}")
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
