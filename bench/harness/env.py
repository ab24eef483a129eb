"""The benchmark's sizes and its environment: the source, warehouse and subscriber clusters, the
forager binary and the ClickHouse server every case runs against."""

import dataclasses
import os
import shutil
from dataclasses import dataclass

from . import workload
from .clickhouse import ClickHouse
from .cluster import LONG, BenchError, Cluster, wait_until
from .redshift import KEYS, SCHEMA, RedshiftEmulation
from .tools import Forager, kill_live


@dataclass(frozen=True)
class Sizes:
    """How big each case is. Full mode uses FULL (optionally scaled), smoke mode SMOKE."""

    backlog_transactions: int
    backlog_rows_per_transaction: int
    mixed_transactions: int
    mixed_changes_per_transaction: int
    snapshot_rows: int
    steady_seconds: int
    steady_transactions_per_second: int
    big_transaction_rows: int
    overhead_seconds: int
    wide_value_mib: int
    small_transactions: int
    small_rows_per_transaction: int
    small_steady_seconds: int
    burst_count: int
    burst_seconds: int
    burst_gap_seconds: int
    burst_rows_per_second: int

    def scaled(self, scale):
        """Row counts times `scale`; transaction counts and durations stay."""
        def rows(value, multiple=1):
            return max(multiple, round(value * scale / multiple) * multiple)
        return dataclasses.replace(
            self,
            backlog_rows_per_transaction=rows(self.backlog_rows_per_transaction),
            mixed_changes_per_transaction=rows(self.mixed_changes_per_transaction, 10),
            snapshot_rows=rows(self.snapshot_rows),
            big_transaction_rows=rows(self.big_transaction_rows))


FULL = Sizes(100, 10_000, 100, 10_000, 5_000_000, 60, 100, 5_000_000, 30, 10, 40_000, 6, 30, 5, 4, 3, 5_000)
SMOKE = Sizes(4, 500, 4, 500, 5_000, 3, 20, 5_000, 2, 1, 200, 6, 3, 1, 1, 1, 5_000)


class Env:
    """The three clusters, the Forager under test, and the operations every case shares."""

    def __init__(self, root, binary, binary_values=True):
        self.root = root
        self.binary_values = binary_values
        self.source = Cluster("source", root)
        self.warehouse = Cluster("warehouse", root)
        self.subscriber = Cluster("subscriber", root)
        self.binary = binary
        self.forager = None
        self.clickhouse = None  # started by the first case that needs it (case 8)
        self.clickhouse_forager = None
        self.clickhouse_version = None
        self.redshift = None  # started by the first case that needs it (case 12)
        self.redshift_forager = None
        self.source_holds = None
        self.log_count = 0

    def start(self):
        """Starts the three clusters and puts a private copy of the forager binary next to them."""
        os.chmod(self.root, 0o711)  # the postgres user must reach its cluster directory
        for cluster in (self.source, self.warehouse, self.subscriber):
            cluster.start()
        directory = os.path.join(self.root, "forager")
        os.makedirs(directory)
        # A private copy: a concurrent rebuild must neither change nor lock the binary under test.
        binary = shutil.copy2(self.binary, os.path.join(directory, "forager"))
        self.forager = Forager(binary, directory, self.source, self.warehouse, self.binary_values)

    def start_clickhouse(self):
        """Starts the ClickHouse server and a second Forager configured for it, once."""
        if self.clickhouse:
            return
        self.clickhouse = ClickHouse(self.root)
        self.clickhouse.start()
        self.clickhouse_version = self.clickhouse.version()
        self.clickhouse_forager = Forager(
            self.forager.binary, os.path.join(self.root, "forager-clickhouse"), self.source, None, self.binary_values,
            warehouse_config=f'{{type: clickhouse, url: "{self.clickhouse.url}", database: analytics}}')

    def start_redshift(self):
        """Starts the Redshift emulation (upstream: the warehouse cluster) and a second Forager
        configured for it, on slot forager_redshift, once. Returns both."""
        if not self.redshift:
            self.redshift = RedshiftEmulation(self.root, self.warehouse)
            self.redshift.start()
            self.redshift_forager = Forager(
                self.forager.binary, os.path.join(self.root, "forager-redshift"), self.source, None, self.binary_values,
                warehouse_config=self.redshift.warehouse_config(SCHEMA), slot="forager_redshift", environment=KEYS)
        return self.redshift, self.redshift_forager

    def stop(self):
        kill_live()
        if self.redshift:
            self.redshift.stop()
        if self.clickhouse:
            self.clickhouse.stop()
        for cluster in (self.subscriber, self.warehouse, self.source):
            cluster.stop()

    def log(self, name):
        """A fresh log file path under the temporary root."""
        self.log_count += 1
        os.makedirs(os.path.join(self.root, "logs"), exist_ok=True)
        return os.path.join(self.root, "logs", f"{self.log_count:03d}-{name}.log")

    def script(self, name, text):
        """Writes a script file under the temporary root and returns its path."""
        path = self.log(name)
        with open(path, "w") as script:
            script.write(text)
        return path

    def reset(self, keep_table=False):
        """Drops every subscription, slot, publication and warehouse table; recreates an empty source
        table unless keep_table."""
        kill_live()
        self.subscriber.sql("DROP SUBSCRIPTION IF EXISTS bench_sub;\nDROP TABLE IF EXISTS samples;\n")
        wait_until(lambda: self.source.scalar("SELECT count(*) FROM pg_replication_slots WHERE active") == "0",
                   timeout=30, what="replication slots to be released")
        self.source.sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots;\n"
                        "DO $$DECLARE p text; BEGIN FOR p IN SELECT pubname FROM pg_publication LOOP "
                        "EXECUTE format('DROP PUBLICATION %I', p); END LOOP; END$$;\n")
        if not keep_table:
            self.source.sql("DROP TABLE IF EXISTS samples;\n" + workload.create_table())
            self.source_holds = None
        self.warehouse.sql("DROP SCHEMA IF EXISTS analytics CASCADE;\nDROP SCHEMA IF EXISTS copy_ref CASCADE;\n"
                           f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;\n")
        if self.clickhouse:
            self.clickhouse.query("DROP DATABASE IF EXISTS analytics")
            self.clickhouse.query("DROP DATABASE IF EXISTS copy_ref")

    def quiesce(self):
        """A checkpoint on every cluster and a sync of the page cache, so that no tool pays for the
        previous one's dirty buffers."""
        for cluster in (self.source, self.warehouse, self.subscriber):
            cluster.sql("CHECKPOINT")
        if self.clickhouse:
            # Background merges of parts just inserted must not run during the next timed step.
            wait_until(lambda: self.clickhouse.scalar("SELECT count() FROM system.merges") == "0", timeout=LONG,
                       interval=0.1, what="ClickHouse merges to finish")
        os.sync()

    def expect_copy(self, cluster, table, who):
        """Fails unless `table` on `cluster` holds the same rows as the source table (count and a
        checksum over the columns the workloads change)."""
        query = ("SELECT count(*) || ' / ' || coalesce(sum(hashtext(id || ' ' || temperature_c || ' ' || battery_v"
                 " || ' ' || payload::text)::bigint), 0) FROM {}")
        expected = self.source.scalar(query.format("samples"))
        actual = cluster.scalar(query.format(table))
        if actual != expected:
            raise BenchError(f"{who} copy differs from the source: rows / checksum {actual}, expected {expected}")

    def expect_clickhouse_copy(self, table, who):
        """Fails unless `table` in ClickHouse (a `_current` view: the FINAL rows that are not deleted)
        holds the source table's rows: the count and, per column, a sum both servers compute exactly
        (integers; timestamps as microseconds; floats through floor(x * 1e6) of their exact double;
        the numeric as thousandths; payload's byte length and the first 32 bits of its MD5), each
        term reduced modulo a prime so that no sum overflows ClickHouse's Int64."""
        prime = 1_000_000_007
        database, name = table.split(".")
        types = dict(line.split("\t") for line in self.clickhouse.query(
            f"SELECT name, type FROM system.columns WHERE database = '{database}' AND table = '{name}' "
            "AND name IN ('taken_at', 'created_at')").splitlines())
        # Int64 microseconds on 18.16; DateTime64(6) from 20.1 on.
        micros = {c: f"toUnixTimestamp64Micro({c})" if "DateTime64" in types.get(c, "") else c
                  for c in ("taken_at", "created_at")}
        clickhouse_terms = [
            "count()", "sum(id)", "sum(hive_id)", "sum(device_id)",
            *(f"sum({micros[c]} % {prime})" for c in ("taken_at", "created_at")),
            *(f"sum(toInt64(floor(toFloat64({c}) * 1000000)))" for c in ("temperature_c", "humidity_pct", "battery_v", "sound_db")),
            "sum(toInt64(weight_kg * 1000))", "sum(length(payload))",
            "sum(reinterpretAsUInt32(reverse(unhex(substring(hex(MD5(payload)), 1, 8)))))"]
        source_terms = [
            "count(*)", "sum(id)", "sum(hive_id)", "sum(device_id)",
            *(f"sum((extract(epoch FROM {c}) * 1000000)::bigint % {prime})" for c in ("taken_at", "created_at")),
            *(f"sum(floor({c}::float8 * 1000000)::bigint)" for c in ("temperature_c", "humidity_pct", "battery_v", "sound_db")),
            "sum((weight_kg * 1000)::bigint)", "sum(octet_length(payload::text))",
            "sum(('x' || left(md5(payload::text), 8))::bit(32)::bigint)"]
        expected = self.source.scalar("SELECT concat_ws(' / ', " + ", ".join(
            f"coalesce({t}, 0)" for t in source_terms) + ") FROM samples")
        actual = self.clickhouse.scalar("SELECT concat(" + ", ' / ', ".join(
            f"ifNull(toString({t}), '0')" for t in clickhouse_terms) + f") FROM {table}")
        if actual != expected:
            raise BenchError(f"{who} copy in ClickHouse differs from the source: count / sums {actual}, "
                             f"expected {expected}")

    def wait_slot_active(self, slot, active=True):
        """Waits until the slot is (or is no longer) held by a walsender."""
        wanted = "t" if active else "f"
        query = f"SELECT coalesce(bool_or(active), false) FROM pg_replication_slots WHERE slot_name = '{slot}'"
        wait_until(lambda: self.source.scalar(query) == wanted, timeout=60, what=f"slot {slot} active={active}")
