"""The lag of `forager run` streaming under a load on the source: the measurement cases 4, 10 and
11 share, and cases 10 (many small transactions, unthrottled) and 11 (the fleet's wake-up bursts)."""

import statistics
import time

from . import workload
from .cluster import LONG, wait_until
from .result import Result
from .tools import pgbench

# The warehouse transaction's start minus the row's insert time on the source (the same clock), in ms.
LAG_MS = "extract(epoch FROM _forager_synced_at - created_at) * 1000"
PERCENTILES = (f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {LAG_MS}), "
               f"percentile_cont(0.99) WITHIN GROUP (ORDER BY {LAG_MS}), max({LAG_MS})")
SMALL_CLIENTS = 4  # pgbench clients of cases 10 and 11: devices uploading at the same time


def start_streaming(env):
    """An empty snapshot, then `forager run` holding its slot; returns the running process."""
    env.forager.sync()
    running = env.forager.run()
    env.wait_slot_active("forager")
    return running


def lag_percentiles(cluster, table="analytics.samples", lag=LAG_MS):
    """Lag p50, p99 and max (ms) over every row of `table` on `cluster`."""
    percentiles = PERCENTILES.replace(LAG_MS, lag)
    line = cluster.scalar(f"SELECT concat_ws(',', {percentiles}) FROM {table}")
    return tuple(float(value) for value in line.split(","))


# On the subscriber, a column the source does not have takes its default when a row is applied.
NATIVE_LAG_MS = "extract(epoch FROM applied_at - created_at) * 1000"


def measure_native_lag(env, load):
    """The same load replicated by a native subscription instead: the reference for what logical
    replication of this load costs on this machine. The subscriber's table has one more column,
    `applied_at DEFAULT clock_timestamp()`, which the apply worker fills as it writes each row.
    Returns lag p50, p99 and max (ms)."""
    env.reset()
    env.source.sql("CREATE PUBLICATION bench_native FOR TABLE samples;\n")
    env.subscriber.sql(workload.create_table() + "ALTER TABLE samples ADD COLUMN applied_at timestamptz DEFAULT clock_timestamp();\n")
    env.subscriber.sql(
        f"CREATE SUBSCRIPTION bench_sub CONNECTION '{env.source.conninfo()}' PUBLICATION bench_native "
        "WITH (copy_data = false)")
    env.wait_slot_active("bench_sub")
    env.quiesce()
    load()
    expected = env.source.scalar("SELECT count(*) FROM samples")
    with env.subscriber.session() as poll:
        wait_until(lambda: poll.scalar("SELECT count(*) FROM samples") == expected, timeout=LONG,
                   interval=0.2, what="the subscription to catch up")
    env.expect_copy(env.subscriber, "samples", "the subscriber's")
    return lag_percentiles(env.subscriber, "samples", NATIVE_LAG_MS)


def lag_series(env):
    """(second since the first row, lag p50, p99, max) for every second in which rows were inserted."""
    lines = env.warehouse.sql(
        f"SELECT floor(extract(epoch FROM created_at - first))::int, {PERCENTILES}"
        " FROM analytics.samples, (SELECT min(created_at) AS first FROM analytics.samples) f GROUP BY 1 ORDER BY 1")
    return [tuple(float(value) for value in line.split("|")) for line in lines]


def measure_lag(env, load):
    """On a fresh table, `forager run` streams while load() runs on the source (it returns the
    metrics of what it offered); once the warehouse has every row Forager is stopped with SIGTERM and
    the copy checked. The lag of every row, per run and per second of load, and the peak RSS."""
    env.reset()
    running = start_streaming(env)
    env.quiesce()
    offered = load()
    expected = env.source.scalar("SELECT count(*) FROM samples")
    with env.warehouse.session() as poll:
        wait_until(lambda: poll.scalar("SELECT count(*) FROM analytics.samples") == expected, timeout=LONG,
                   interval=0.2, what="Forager to catch up")
    peak = running.terminate().peak_rss_mib
    env.expect_copy(env.warehouse, "analytics.samples", "Forager's")
    p50, p99, worst = lag_percentiles(env.warehouse)
    return Result({
        "lag p99 (ms)": {"forager": p99},
        "lag p50 (ms)": {"forager": p50},
        "lag max (ms)": {"forager": worst},
        **offered,
        "Forager peak RSS (MiB)": {"forager": peak},
    }, series=lag_series(env))


def steady_state(env, sizes):
    """Case 4: pgbench inserts big transactions at a fixed rate while forager run streams."""
    rows = workload.ROWS_PER_PGBENCH_TRANSACTION
    script = env.script("insert.sql", workload.pgbench_insert(rows))

    def load():
        tps = pgbench(env.source, script, sizes.steady_seconds, 2, env.log("pgbench-steady"),
                      rate=sizes.steady_transactions_per_second)
        return {"rows/s offered": {"load": tps * rows}}
    return measure_lag(env, load)


def small_steady_state(env, sizes):
    """Case 10: unthrottled pgbench commits case 9's small transactions (one device's upload each)
    from 4 clients while forager run streams."""
    rows = sizes.small_rows_per_transaction
    script = env.script("insert-small.sql", workload.pgbench_insert(rows))

    def load():
        tps = pgbench(env.source, script, sizes.small_steady_seconds, SMALL_CLIENTS, env.log("pgbench-small-steady"))
        return {"transactions/s offered": {"load": tps}, "rows/s offered": {"load": tps * rows}}
    return with_native_reference(env, measure_lag(env, load), load)


def wake_up_bursts(env, sizes):
    """Case 11: the fleet wakes at once: `burst_count` bursts of case 9's small transactions at
    `burst_rows_per_second`, `burst_seconds` each, `burst_gap_seconds` of quiet between them, while
    forager run streams."""
    rows = sizes.small_rows_per_transaction
    script = env.script("insert-small.sql", workload.pgbench_insert(rows))

    def load():
        offered = []
        for burst in range(sizes.burst_count):
            if burst:
                time.sleep(sizes.burst_gap_seconds)
            offered.append(rows * pgbench(env.source, script, sizes.burst_seconds, SMALL_CLIENTS,
                                          env.log(f"pgbench-burst-{burst + 1}"), rate=burst_rate(sizes)))
        return {"rows/s offered": {"load": statistics.mean(offered)}}
    return with_native_reference(env, measure_lag(env, load), load)


def with_native_reference(env, result, load):
    """`result` with the lag of a native subscription under the same load beside Forager's."""
    for metric, value in zip(("lag p50 (ms)", "lag p99 (ms)", "lag max (ms)"), measure_native_lag(env, load)):
        result.values[metric]["native"] = value
    return result


def burst_rate(sizes):
    """pgbench's -R during a burst: transactions/s that offer `burst_rows_per_second` rows/s."""
    return sizes.burst_rows_per_second / sizes.small_rows_per_transaction
