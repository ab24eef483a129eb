"""The benchmark cases: what each sets up, what it times, and the goals it is judged by. The cases
whose lag is measured while `forager run` streams (4, 10, 11) are in streaming.py, the Redshift
path's (12) in redshift.py."""

import dataclasses
import time
from dataclasses import dataclass

from . import workload
from .cluster import LONG, wait_until
from .redshift import into_redshift
from .result import Result
from .streaming import burst_rate, small_steady_state, start_streaming, steady_state, wake_up_bursts
from .tools import copy_pipe, copy_to_clickhouse, pgbench, recvlogical
from .workload import ROWS_PER_PGBENCH_TRANSACTION


# --- native logical replication -------------------------------------------------------------------

def create_subscription(env, copy_data, enabled):
    """The subscriber's bench_sub on publication bench_native (which must exist on the source)."""
    env.subscriber.sql(
        f"CREATE SUBSCRIPTION bench_sub CONNECTION '{env.source.conninfo()}' PUBLICATION bench_native "
        f"WITH (copy_data = {str(copy_data).lower()}, enabled = {str(enabled).lower()})")


def wait_native_ready(poll):
    """Waits until every table of the subscription is in state 'r' (initial sync done)."""
    query = "SELECT count(*) > 0 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel"
    return wait_until(lambda: poll.scalar(query) == "t", timeout=LONG, what="native initial sync")


def native_catch_up(env, last_change_lsn):
    """Enables bench_sub and times until its replication origin has applied a commit past
    last_change_lsn, i.e. the workload's last transaction."""
    query = ("SELECT coalesce(bool_or(remote_lsn > '{}'), false) FROM pg_replication_origin_status "
             "WHERE external_id = (SELECT 'pg_' || oid FROM pg_subscription WHERE subname = 'bench_sub')")
    with env.subscriber.session() as poll:
        start = time.perf_counter()
        poll.scalar("ALTER SUBSCRIPTION bench_sub ENABLE")
        wait_until(lambda: poll.scalar(query.format(last_change_lsn)) == "t", timeout=LONG,
                   what="native catch-up")
        return time.perf_counter() - start


# --- cases -----------------------------------------------------------------------------------------

def compare_catch_up(env, changes, last_change_lsn, end_lsn, decode_limit):
    """Times forager sync, (optionally) pg_recvlogical to end_lsn, and native catch-up over the same
    backlog; every tool has its own slot, created before the backlog."""
    env.quiesce()
    forager = env.forager.sync()
    env.expect_copy(env.warehouse, "analytics.samples", "Forager's")
    seconds = {"forager": forager.seconds}
    if decode_limit:
        env.quiesce()
        # The values in the format Forager asks for: the decode limit of the same work.
        values = ["-o", "binary=true"] if env.binary_values else []
        seconds["pg_recvlogical"] = recvlogical(
            env.source, "bench_recv", "--start", "--no-loop", "-f", "/dev/null", f"--endpos={end_lsn}",
            "-o", "proto_version=1", "-o", "publication_names=bench_recv", *values, log_path=env.log("recvlogical")).seconds
    env.quiesce()
    seconds["native"] = native_catch_up(env, last_change_lsn)
    env.expect_copy(env.subscriber, "samples", "the subscriber's")
    return Result({
        "changes/s": {tool: changes / value for tool, value in seconds.items()},
        "seconds": seconds,
        "Forager peak RSS (MiB)": {"forager": forager.peak_rss_mib},
    })


def catch_up(env, sizes):
    """Case 1: an insert-only backlog, replayed by Forager, pg_recvlogical and a native subscription."""
    env.reset()
    env.source.sql("CREATE PUBLICATION bench_recv FOR TABLE samples;\n"
                   "CREATE PUBLICATION bench_native FOR TABLE samples;\n")
    env.forager.sync()
    recvlogical(env.source, "bench_recv", "--create-slot", "--plugin", "pgoutput", log_path=env.log("create-slot"))
    env.subscriber.sql(workload.create_table())
    create_subscription(env, copy_data=False, enabled=False)
    bodies = workload.backlog(sizes.backlog_transactions, sizes.backlog_rows_per_transaction)
    last_change, end = env.source.sql(workload.transactions_script(bodies))
    changes = sizes.backlog_transactions * sizes.backlog_rows_per_transaction
    return compare_catch_up(env, changes, last_change, end, decode_limit=True)


def small_catch_up(env, sizes):
    """Case 9: case 1 with the sensors' shape: many transactions of a few rows each."""
    return catch_up(env, dataclasses.replace(
        sizes, backlog_transactions=sizes.small_transactions,
        backlog_rows_per_transaction=sizes.small_rows_per_transaction))


def mixed_catch_up(env, sizes):
    """Case 2: 60 % inserts, 30 % updates, 10 % deletes, by Forager and a native subscription."""
    env.reset()
    env.source.sql(workload.mixed_prefill(sizes.mixed_transactions, sizes.mixed_changes_per_transaction)
                   + "CREATE PUBLICATION bench_native FOR TABLE samples;\n")
    env.forager.sync()
    env.subscriber.sql(workload.create_table())
    create_subscription(env, copy_data=True, enabled=True)
    with env.subscriber.session() as poll:
        wait_native_ready(poll)
    env.subscriber.sql("ALTER SUBSCRIPTION bench_sub DISABLE")
    env.wait_slot_active("bench_sub", active=False)
    bodies = workload.mixed(sizes.mixed_transactions, sizes.mixed_changes_per_transaction)
    last_change, end = env.source.sql(workload.transactions_script(bodies))
    changes = sizes.mixed_transactions * sizes.mixed_changes_per_transaction
    return compare_catch_up(env, changes, last_change, end, decode_limit=False)


def fill_snapshot_source(env, rows):
    """Fills the source table once for all runs of case 3, in statements of at most 1M rows."""
    if env.source_holds == ("snapshot", rows):
        env.reset(keep_table=True)
        return
    env.reset()
    for first in range(1, rows + 1, 1_000_000):
        env.source.sql(workload.insert_rows(first, min(1_000_000, rows + 1 - first)))
    env.source.sql("VACUUM (FREEZE, ANALYZE) samples")
    env.source_holds = ("snapshot", rows)


def snapshot(env, sizes):
    """Case 3: initial copy by forager sync, a binary COPY pipe, and native initial sync."""
    rows = sizes.snapshot_rows
    fill_snapshot_source(env, rows)
    env.quiesce()
    seconds = {"forager": env.forager.sync().seconds}
    env.expect_copy(env.warehouse, "analytics.samples", "Forager's")
    env.warehouse.sql("DROP SCHEMA analytics CASCADE;\nCREATE SCHEMA copy_ref;\n"
                      + workload.create_table("copy_ref.samples"))
    env.quiesce()
    seconds["copy"] = copy_pipe(env.source, env.warehouse, "copy_ref.samples", env.log("copy-pipe")).seconds
    env.expect_copy(env.warehouse, "copy_ref.samples", "the COPY pipe's")
    env.warehouse.sql("DROP SCHEMA copy_ref CASCADE")
    env.source.sql("CREATE PUBLICATION bench_native FOR TABLE samples")
    env.subscriber.sql(workload.create_table())
    env.quiesce()
    with env.subscriber.session() as poll:
        start = time.perf_counter()
        create_subscription(env, copy_data=True, enabled=True)
        wait_native_ready(poll)
        seconds["native"] = time.perf_counter() - start
    env.expect_copy(env.subscriber, "samples", "the subscriber's")
    return Result({"rows/s": {tool: rows / value for tool, value in seconds.items()}, "seconds": seconds})


def big_transaction(env, sizes):
    """Case 5: one huge transaction applied by forager sync; its peak RSS and time."""
    env.reset()
    env.forager.sync()
    rows = sizes.big_transaction_rows
    env.source.sql(workload.insert_rows(1, rows))
    env.quiesce()
    result = env.forager.sync()
    env.expect_copy(env.warehouse, "analytics.samples", "Forager's")
    return Result({
        "peak RSS (MiB)": {"forager": result.peak_rss_mib},
        "apply seconds": {"forager": result.seconds},
        "rows/s": {"forager": rows / result.seconds},
    })


def wide_value(env, sizes):
    """Case 7: one row with a jsonb value of `wide_value_mib` MiB, applied by forager sync; the
    copies of it Forager holds at once (its peak RSS above that of a sync of one ordinary row,
    divided by the value's size)."""
    env.reset()
    env.forager.sync()
    env.source.sql(workload.insert_rows(1, 1))
    env.quiesce()
    ordinary = env.forager.sync()
    env.source.sql(workload.insert_wide_row(2, sizes.wide_value_mib))
    env.quiesce()
    wide = env.forager.sync()
    env.expect_copy(env.warehouse, "analytics.samples", "Forager's")
    size = float(env.source.scalar("SELECT octet_length(payload::text) FROM samples WHERE id = 2")) / (1 << 20)
    return Result({
        "copies held at once": {"forager": (wide.peak_rss_mib - ordinary.peak_rss_mib) / size},
        "peak RSS (MiB)": {"forager": wide.peak_rss_mib},
        "apply seconds": {"forager": wide.seconds},
    })


def source_overhead(env, sizes):
    """Case 6: unthrottled pgbench inserts alone, then while forager run streams them, then while a
    native subscription streams them (the overhead any logical replication costs the source)."""
    script = env.script("insert.sql", workload.pgbench_insert(ROWS_PER_PGBENCH_TRANSACTION))
    env.reset()
    env.quiesce()
    alone = pgbench(env.source, script, sizes.overhead_seconds, 2, env.log("pgbench-alone"))
    env.reset()
    running = start_streaming(env)
    env.quiesce()
    streaming = pgbench(env.source, script, sizes.overhead_seconds, 2, env.log("pgbench-streaming"))
    running.terminate()
    env.reset()
    env.source.sql("CREATE PUBLICATION bench_native FOR TABLE samples;\n")
    env.subscriber.sql(workload.create_table())
    create_subscription(env, copy_data=False, enabled=True)
    env.wait_slot_active("bench_sub")
    env.quiesce()
    native = pgbench(env.source, script, sizes.overhead_seconds, 2, env.log("pgbench-native"))
    return Result({"insert rows/s": {"forager": streaming * ROWS_PER_PGBENCH_TRANSACTION,
                                     "alone": alone * ROWS_PER_PGBENCH_TRANSACTION,
                                     "native": native * ROWS_PER_PGBENCH_TRANSACTION}})


def clickhouse_select(env):
    """The source columns as ClickHouse's TabSeparated reads them into Forager's column types:
    timestamps as Int64 microseconds on 18.16 (or DateTime64 text from 20.1 on), the rest as
    PostgreSQL's text COPY writes them."""
    types = dict(line.split("\t") for line in env.clickhouse.query(
        "SELECT name, type FROM system.columns WHERE database = 'copy_ref' AND table = 'samples'").splitlines())

    def timestamp(column):
        if "DateTime64" in types[column]:
            return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
        return f"(extract(epoch FROM {column}) * 1000000)::bigint"
    columns = ["id", "hive_id", "device_id", timestamp("taken_at"), "temperature_c", "humidity_pct", "weight_kg",
               "battery_v", "sound_db", "payload", timestamp("created_at")]
    return "SELECT " + ", ".join(columns) + " FROM samples"


CLICKHOUSE_COLUMNS = ("id, hive_id, device_id, taken_at, temperature_c, humidity_pct, weight_kg, battery_v, sound_db, "
                      "payload, created_at")


def into_clickhouse(env, sizes):
    """Case 8: case 1's insert backlog caught up into ClickHouse by forager sync, against pg_recvlogical
    decoding it with the options Forager uses for ClickHouse (text values); then case 3's table copied
    into ClickHouse by forager sync and by a psql COPY to clickhouse-client pipe."""
    env.start_clickhouse()
    ch, forager = env.clickhouse, env.clickhouse_forager
    env.reset()
    env.source.sql("CREATE PUBLICATION bench_recv FOR TABLE samples;\n")
    forager.sync()
    recvlogical(env.source, "bench_recv", "--create-slot", "--plugin", "pgoutput", log_path=env.log("create-slot"))
    bodies = workload.backlog(sizes.backlog_transactions, sizes.backlog_rows_per_transaction)
    _, end = env.source.sql(workload.transactions_script(bodies))
    changes = sizes.backlog_transactions * sizes.backlog_rows_per_transaction
    env.quiesce()
    catch_up = forager.sync()
    env.expect_clickhouse_copy("analytics.samples_current", "Forager's")
    env.quiesce()
    # ClickHouse takes text values: Forager asks for text whatever source.binary says, and so does this.
    decode = recvlogical(
        env.source, "bench_recv", "--start", "--no-loop", "-f", "/dev/null", f"--endpos={end}",
        "-o", "proto_version=1", "-o", "publication_names=bench_recv", log_path=env.log("recvlogical"))

    rows = sizes.snapshot_rows
    fill_snapshot_source(env, rows)
    env.quiesce()
    snapshot = forager.sync()
    env.expect_clickhouse_copy("analytics.samples_current", "Forager's")
    ch.query("CREATE DATABASE copy_ref")
    ch.query("CREATE TABLE copy_ref.samples AS analytics.samples")
    ch.query("DROP DATABASE analytics")
    env.quiesce()
    pipe = copy_to_clickhouse(env.source, clickhouse_select(env), ch,
                              f"copy_ref.samples ({CLICKHOUSE_COLUMNS})", env.log("copy-clickhouse"))
    env.expect_clickhouse_copy("copy_ref.samples", "the COPY to clickhouse-client pipe's")
    ch.query("DROP DATABASE copy_ref")
    return Result({
        "changes/s": {"forager": changes / catch_up.seconds, "pg_recvlogical": changes / decode.seconds},
        "snapshot rows/s": {"forager": rows / snapshot.seconds, "clickhouse_pipe": rows / pipe.seconds},
        "catch-up seconds": {"forager": catch_up.seconds, "pg_recvlogical": decode.seconds},
        "snapshot seconds": {"forager": snapshot.seconds, "clickhouse_pipe": pipe.seconds},
        "Forager peak RSS (MiB)": {"forager": max(catch_up.peak_rss_mib, snapshot.peak_rss_mib)},
    })


# --- the catalogue ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Goal:
    """Forager's median divided by a reference's median must reach `threshold`, or, without a
    reference, Forager's median must stay below `threshold`."""

    metric: str
    reference: str | None
    threshold: float

    def met(self, medians):
        if self.reference:
            return medians["forager"] / medians[self.reference] >= self.threshold
        return medians["forager"] < self.threshold

    def describe(self):
        return f">= {self.threshold:g}x" if self.reference else f"< {self.threshold:g}"


@dataclass(frozen=True)
class Case:
    number: int
    title: str
    measures: str
    run: object
    summary: tuple
    goals: tuple = ()


TOOLS = {
    "forager": "Forager",
    "pg_recvlogical": "pg_recvlogical (decode limit)",
    "native": "native logical replication",
    "copy": "binary COPY pipe (psql to psql)",
    "load": "pgbench (the load)",
    "alone": "pgbench without Forager",
    "clickhouse_pipe": "text COPY pipe (psql to clickhouse-client)",
    "postgres_warehouse": "Forager into the Postgres warehouse (same backlog)",
}

CASES = [
    Case(1, "CDC catch-up of an insert backlog",
         "`forager sync` catching up a backlog of {backlog} rows ({backlog_tx} transactions) created while it was "
         "stopped, against `pg_recvlogical` decoding the same backlog with the same pgoutput options into /dev/null "
         "(the decode limit) and a native subscription (`copy_data = false`, disabled during the backlog) until its "
         "origin has applied the last transaction. Each tool has its own slot and publication, created before the "
         "backlog.",
         catch_up, ("changes/s",),
         (Goal("changes/s", "pg_recvlogical", 0.9), Goal("changes/s", "native", 1.5))),
    Case(2, "Mixed catch-up (60 % insert, 30 % update, 10 % delete)",
         "A table of {prefill} rows is copied by both tools, then {mixed} changes in {mixed_tx} transactions are "
         "made while both are stopped; `forager sync` and the re-enabled native subscription each replay them.",
         mixed_catch_up, ("changes/s",)),
    Case(3, "Initial snapshot",
         "A {snapshot}-row table copied into an empty target by `forager sync`, by "
         "`psql -c \"COPY samples TO STDOUT (FORMAT binary)\" | psql -c \"COPY copy_ref.samples FROM STDIN (FORMAT binary)\"` "
         "into a pre-created table with the same primary key, and by a native subscription with `copy_data = true` "
         "(until `pg_subscription_rel` shows state `r`).",
         snapshot, ("rows/s",),
         (Goal("rows/s", "copy", 0.9), Goal("rows/s", "native", 1.5))),
    Case(4, "Steady-state lag",
         "`pgbench -n -R {steady_tps} -T {steady_s} -c 2` inserting 100 rows per transaction ({steady_rows} rows/s) "
         "while `forager run` streams; after it caught up it is stopped with SIGTERM. Lag per row is "
         "`_forager_synced_at - created_at` in the warehouse (the warehouse transaction start minus the row's "
         "insert time on the source).",
         steady_state, ("lag p99 (ms)", "lag p50 (ms)", "lag max (ms)"),
         (Goal("lag p99 (ms)", None, 500),)),
    Case(5, "One huge transaction",
         "One {big}-row INSERT committed while Forager was stopped, applied by `forager sync`; peak RSS is the "
         "process's maximum resident set size (`wait4` rusage).",
         big_transaction, ("peak RSS (MiB)", "apply seconds"),
         (Goal("peak RSS (MiB)", None, 200),)),
    Case(6, "Source overhead",
         "Unthrottled `pgbench -n -T {overhead_s} -c 2` with the 100-row insert script, first alone, then while "
         "`forager run` streams the same table, then while a native subscription streams it (each on a freshly "
         "created table): the native figure is what any logical replication of the table costs the source.",
         source_overhead, ("insert rows/s",),
         (Goal("insert rows/s", "alone", 0.95),)),
    Case(7, "One wide value",
         "One row whose jsonb value is {wide_mib} MiB of text, committed while Forager was stopped and applied by "
         "`forager sync`. Copies held at once: Forager's peak RSS above that of a sync of one ordinary row, divided "
         "by the value's size; receiving, collapsing and writing the value each hold it, so the ideal is one copy "
         "in Forager's own memory, plus libpq's receive and send buffers.",
         wide_value, ("copies held at once", "peak RSS (MiB)", "apply seconds")),
    Case(8, "ClickHouse: CDC catch-up and initial snapshot",
         "Into a private `clickhouse-server` (its version is under Machine; Forager's `warehouse.type: clickhouse`, gzip bodies "
         "as by default). Catch-up: case 1's backlog of {backlog} rows ({backlog_tx} transactions), created while "
         "Forager was stopped, caught up by `forager sync`, against `pg_recvlogical` decoding the same backlog "
         "into /dev/null on its own slot with the options Forager uses for ClickHouse (pgoutput, text values: "
         "ClickHouse takes text, so Forager never asks for binary there), the decode limit. Snapshot: case 3's "
         "{snapshot}-row table copied into an empty ClickHouse database by `forager sync`, and by "
         "`psql -c \"COPY (SELECT ...) TO STDOUT\" | clickhouse-client --query \"INSERT INTO copy_ref.samples "
         "FORMAT TabSeparated\"` into a table made like Forager's (`CREATE TABLE ... AS analytics.samples`), "
         "timestamps converted to microseconds in the SELECT. Every copy is checked against the source: the row "
         "count and per-column sums through Forager's `samples_current` view (FINAL, deleted rows left out). "
         "ClickHouse's background merges are waited out before every timed step.",
         into_clickhouse, ("changes/s", "snapshot rows/s"),
         (Goal("changes/s", "pg_recvlogical", 0.9),)),
    Case(9, "CDC catch-up of many small transactions",
         "Case 1 with the sensors' own shape: {small_tx:,} transactions of {small_rows} rows each (one device's "
         "upload), made while every tool was stopped, caught up by `forager sync`, by `pg_recvlogical` into "
         "/dev/null (the decode limit) and by a native subscription, each on its own slot.",
         small_catch_up, ("changes/s", "seconds"),
         (Goal("changes/s", "pg_recvlogical", 0.85),)),
    Case(10, "Steady load of many small transactions",
         "Case 4 with case 9's transactions: unthrottled `pgbench -n -T {small_steady_s} -c 4` commits transactions of "
         "{small_rows} rows (one device's upload) as fast as the source takes them while `forager run` streams, with "
         "Forager's default batching; after it caught up it is stopped with SIGTERM. Lag per row as in case 4; the "
         "transactions and rows per second are what pgbench committed. Reference: the same load again, replicated by "
         "a native subscription (`copy_data = false`) into a subscriber table with one more column, `applied_at "
         "DEFAULT clock_timestamp()`, which the apply worker fills as it writes each row: its lag is `applied_at - "
         "created_at`, what logical replication of this load costs on this machine.",
         small_steady_state, ("lag p99 (ms)", "lag p50 (ms)", "lag max (ms)"),
         (Goal("lag p99 (ms)", None, 100), Goal("lag max (ms)", None, 1000))),
    Case(11, "Fleet wake-up bursts (the demo's pattern)",
         "The sensors wake in the same window: {burst_count} burst(s) of `pgbench -n -R {burst_tps} -T {burst_s} -c 4` "
         "committing transactions of {small_rows} rows ({burst_rows} rows/s offered), {burst_gap_s} s of quiet between "
         "bursts, while `forager run` streams with Forager's default batching; after it caught up it is stopped with "
         "SIGTERM. Lag per row as in case 4 (every row is written during a burst); rows/s offered is pgbench's mean "
         "over the bursts. Reference: the same bursts replicated by a native subscription, as in case 10.",
         wake_up_bursts, ("lag p99 (ms)", "lag p50 (ms)", "lag max (ms)"),
         (Goal("lag p99 (ms)", None, 500),)),
    Case(12, "Redshift path: CDC catch-up through S3 (emulation)",
         "`warehouse.type: redshift` against the test suite's stand-ins: every batch is written as gzip CSV, uploaded "
         "with SigV4 to a local moto S3 server (signatures not checked here; the tests check them), and loaded by "
         "`COPY ... MANIFEST` in the Redshift emulator (Python, a PostgreSQL-wire front that reads the objects from "
         "S3, parses each CSV record and COPYs it into its upstream, here the warehouse cluster), then `DELETE ... "
         "USING` and `INSERT ... SELECT` from the staging table. Two backlogs, each made while both Foragers were "
         "stopped: case 1's {backlog} rows ({backlog_tx} transactions) and case 9's {small_tx:,} transactions of "
         "{small_rows} rows, each caught up by `forager sync` into the Postgres warehouse (the reference: same run, "
         "same backlog, same cluster) and by a second `forager sync` into the emulation on a slot of its own. Staged "
         "bytes are the data objects the emulation's COPYs read from S3 (its statements log), over every change of "
         "both backlogs; Forager's CPU time (user and system, from `wait4`) per change, over both backlogs, is its own "
         "cost on each path (CSV, gzip and signing against COPY rows). What this leaves unmeasured: Redshift's own "
         "COPY and S3's latency; the emulator's parsing in Python is most of the Redshift path's time, so the ratio "
         "is a floor for Forager, not a forecast of a cluster.",
         into_redshift, ("changes/s", "small-transaction changes/s", "Forager CPU µs per change", "staged bytes per change")),
]


def describe(case, sizes):
    """The case's description with the sizes of this run filled in."""
    touched = workload.touched_per_transaction(sizes.mixed_changes_per_transaction)
    return case.measures.format(
        backlog=f"{sizes.backlog_transactions * sizes.backlog_rows_per_transaction:,}",
        backlog_tx=sizes.backlog_transactions, prefill=f"{sizes.mixed_transactions * touched:,}",
        mixed=f"{sizes.mixed_transactions * sizes.mixed_changes_per_transaction:,}", mixed_tx=sizes.mixed_transactions,
        snapshot=f"{sizes.snapshot_rows:,}", steady_tps=sizes.steady_transactions_per_second,
        steady_s=sizes.steady_seconds,
        steady_rows=f"{sizes.steady_transactions_per_second * ROWS_PER_PGBENCH_TRANSACTION:,}",
        big=f"{sizes.big_transaction_rows:,}", overhead_s=sizes.overhead_seconds, wide_mib=sizes.wide_value_mib,
        small_tx=sizes.small_transactions, small_rows=sizes.small_rows_per_transaction,
        small_steady_s=sizes.small_steady_seconds, burst_count=sizes.burst_count, burst_s=sizes.burst_seconds,
        burst_gap_s=sizes.burst_gap_seconds, burst_rows=f"{sizes.burst_rows_per_second:,}",
        burst_tps=f"{burst_rate(sizes):.1f}")
