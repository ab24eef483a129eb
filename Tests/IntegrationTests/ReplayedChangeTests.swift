import ForagerDemo
import Foundation
import Glibc
import Testing

/// Scenarios modelled on PostgreSQL's own logical replication tests (`src/test/subscription`), run
/// against both warehouses: changes replayed across schema changes arrive exactly.
@Suite("Replayed changes, both warehouses", .serialized, .cleansUpScenarios)
struct ReplayedChangeTests {
    /// A scenario for `warehouse` ("postgres" or "clickhouse") with one table, `table (id int PRIMARY KEY,
    /// <columns>)`, holding the ids 1 to `rows`, each followed by `values` (SQL over the series' `g`);
    /// the table is mapped as it is unless `mapping` (a mapping file) says otherwise.
    private func scenario(
        _ warehouse: String, table: String = "t", columns: String, rows: Int, values: String, mapping: String? = nil
    ) async throws -> Scenario {
        let server = warehouse == "clickhouse" ? try await ClickHouseServer.shared() : nil
        return try await Scenario.make(
            sourceSQL: """
                CREATE TABLE \(table) (id int PRIMARY KEY, \(columns));
                INSERT INTO \(table) SELECT g, \(values) FROM generate_series(1, \(rows)) g;
                """, tables: [table], mapping: mapping, clickHouse: server)
    }

    /// A value as the warehouse holds it: from the `_current` view on ClickHouse.
    private func warehouseValue(_ scenario: Scenario, _ warehouse: String, _ column: String, table: String, id: Int) async throws -> String?
    {
        if warehouse == "clickhouse" {
            let server = try await ClickHouseServer.shared()
            return try await server.query(
                "SELECT \(column) FROM `\(scenario.warehouseDatabase)`.\(table)_current WHERE id = \(id) FORMAT TabSeparated"
            )
            .trimmingCharacters(in: .newlines)
        }
        return try await scenario.warehouseScalar("SELECT \(column)::text FROM analytics.\(table) WHERE id = \(id)")
    }

    /// Rows as the warehouse holds them, tab-separated, each ending in a newline: `clickHouse` on
    /// ClickHouse (in TabSeparated), `postgres` (one text value, the rows joined) on Postgres.
    private func warehouseRows(_ scenario: Scenario, _ warehouse: String, clickHouse: String, postgres: String) async throws -> String {
        if warehouse == "clickhouse" {
            return try await ClickHouseServer.shared().query(clickHouse + " FORMAT TabSeparated")
        }
        return try await scenario.warehouseScalar(postgres).map { $0 + "\n" } ?? ""
    }

    /// Waits until the running Forager has brought `column` of row `id` to `value`, then stops it cleanly.
    private func expectStreamed(
        _ running: ChildProcess, _ scenario: Scenario, _ warehouse: String, _ what: String, column: String, table: String, id: Int,
        value: String
    ) async throws {
        try await scenario.eventually(what) {
            try await warehouseValue(scenario, warehouse, column, table: table, id: id) == value
        }
        try await running.expectCleanStop()
    }

    /// A scenario for `warehouse` whose table `table` (`id`, `v`) of `rows` rows is mapped with
    /// `deletes: soft`, synced, and synced again after the rows up to `deletedUpTo` are deleted.
    private func softDeletedRows(_ warehouse: String, table: String, rows: Int, deletedUpTo: Int) async throws -> Scenario {
        let scenario = try await scenario(
            warehouse, table: table, columns: "v text", rows: rows, values: "'v' || g",
            mapping: "tables:\n  - source: \(table)\n    deletes: soft\n")
        try await scenario.syncBeforeAndAfter(["DELETE FROM \(table) WHERE id <= \(deletedUpTo)"])
        return scenario
    }

    @Test(
        "a key widened while streaming, after an update of the table, keeps the run going (ClickHouse: stops only that table, until a resync)",
        arguments: ["postgres", "clickhouse"])
    func keyWidenedWhileStreaming(warehouse: String) async throws {
        let scenario = try await scenario(warehouse, columns: "b text", rows: 5, values: "'b' || g")
        let running = try await scenario.launchStreaming(thenEach: [
            "UPDATE t SET b = 'u' WHERE id = 1",
            "ALTER TABLE t ALTER COLUMN id TYPE bigint",
            "UPDATE t SET b = 'v' WHERE id = 2",
            "INSERT INTO t VALUES (5000000000, 'wide')",
            "DELETE FROM t WHERE id = 3",
        ])
        if warehouse == "clickhouse" {
            // A sort key column cannot change type in place: the table stops, the run goes on.
            let server = try await ClickHouseServer.shared()
            try await scenario.eventually("the table to stop") {
                try await server.query(
                    "SELECT argMax(state, version) FROM `\(scenario.warehouseDatabase)`._forager_tables WHERE source_table = 't' FORMAT TabSeparated"
                )
                .hasPrefix("stopped")
            }
            try await running.expectCleanStop()
            try await scenario.forager(["resync", "--table", "t"])
            try await scenario.forager(["sync"])
        } else {
            try await expectStreamed(
                running, scenario, warehouse, "the changes after the widening", column: "b", table: "t", id: 5_000_000_000, value: "wide")
        }
        #expect(try await warehouseValue(scenario, warehouse, "b", table: "t", id: 2) == "v")
        try await scenario.expectValidatedEqual("public.t")
    }

    @Test(
        "columns added and dropped while Forager was stopped, with rows between, arrive exactly when caught up (not taken for a rename)",
        arguments: ["postgres", "clickhouse"])
    func columnsAddedAndDroppedWhileStopped(warehouse: String) async throws {
        let scenario = try await scenario(warehouse, table: "ddl_tab2", columns: "b text", rows: 1000, values: "'b' || g")
        try await scenario.forager(["sync"])
        try await scenario.onSource(
            """
            BEGIN;
            ALTER TABLE ddl_tab2 ADD COLUMN c int;
            INSERT INTO ddl_tab2 SELECT g, 'b' || g, g FROM generate_series(1001, 2000) g;
            ALTER TABLE ddl_tab2 ADD COLUMN d text DEFAULT 'dd';
            INSERT INTO ddl_tab2 SELECT g, 'b' || g, g, 'd' || g FROM generate_series(2001, 3000) g;
            ALTER TABLE ddl_tab2 DROP COLUMN b;
            INSERT INTO ddl_tab2 SELECT g, g, 'd' || g FROM generate_series(3001, 4000) g;
            COMMIT;
            """)
        try await scenario.onSourceEach([
            "ALTER TABLE ddl_tab2 ADD COLUMN e int DEFAULT 5",
            "INSERT INTO ddl_tab2 SELECT g, g, 'd' || g, g FROM generate_series(4001, 5000) g",
            "ALTER TABLE ddl_tab2 DROP COLUMN c",
            "INSERT INTO ddl_tab2 SELECT g, 'd' || g, g FROM generate_series(5001, 6000) g",
            "UPDATE ddl_tab2 SET d = 'updated' WHERE id % 100 = 0",
        ])
        try await scenario.forager(["sync"])
        #expect(try await warehouseValue(scenario, warehouse, "d", table: "ddl_tab2", id: 5001) == "d5001")
        #expect(try await warehouseValue(scenario, warehouse, "e", table: "ddl_tab2", id: 10) == "5")
        try await scenario.expectValidatedEqual("public.ddl_tab2")
    }

    @Test(
        "a real value older than the widening of its column to double precision is stored as the source's cast stores it",
        arguments: ["postgres", "clickhouse"])
    func realWidenedAfterAnUpdate(warehouse: String) async throws {
        let scenario = try await scenario(warehouse, columns: "f real", rows: 10, values: "g / 3.0")
        try await scenario.syncBeforeAndAfter([
            "UPDATE t SET f = 0.1 WHERE id = 4",
            "INSERT INTO t VALUES (11, 1e30), (12, 'Infinity')",
            "ALTER TABLE t ALTER COLUMN f TYPE float8",
            "INSERT INTO t VALUES (13, 0.1)",
        ])
        #expect(try await scenario.sourceScalar("SELECT f::text FROM t WHERE id = 4") == "0.10000000149011612")
        #expect(try await warehouseValue(scenario, warehouse, "f", table: "t", id: 4) == "0.10000000149011612")
        #expect(try await warehouseValue(scenario, warehouse, "f", table: "t", id: 13) == "0.1")
        try await scenario.expectValidatedEqual("public.t")
    }

    @Test(
        "a conflict that concerns one Postgres warehouse table stops only it: keys reloaded into a partition truncated on its own replace the kept rows; a CHECK added by hand stops that table with the row and the way out"
    )
    func oneTablesConflictStopsOnlyIt() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: """
                \(Scenario.yearlyPartitions("daily", "day date, id int, v text, PRIMARY KEY (day, id)", by: "day", years: 2025...2026))
                INSERT INTO daily SELECT date '2025-06-01' + g, g, 'first' FROM generate_series(1, 100) g;
                CREATE TABLE other (id int PRIMARY KEY, n int);
                """,
            tables: ["daily", "other"])
        try await scenario.forager(["sync"])
        try await scenario.onSourceEach([
            "TRUNCATE daily_2025",
            "INSERT INTO daily SELECT date '2025-06-01' + g, g, 'reloaded' FROM generate_series(1, 50) g",
            "INSERT INTO other VALUES (1, 1)",
        ])
        try await scenario.expectOutput(of: ["sync"], containing: ["the newer rows replace them"])
        #expect(
            try await scenario.warehouseScalar(
                "SELECT string_agg(v || ':' || n, ',' ORDER BY v) FROM (SELECT v, count(*) AS n FROM analytics.daily GROUP BY v) x")
                == "first:50,reloaded:50")
        #expect(try await scenario.warehouseScalar("SELECT n FROM analytics.other WHERE id = 1") == "1")

        try await scenario.warehouse.execute(
            "ALTER TABLE analytics.other ADD CONSTRAINT positive CHECK (n > 0)", database: scenario.warehouseDatabase)
        try await scenario.onSourceEach([
            "INSERT INTO other VALUES (2, -1)",
            "INSERT INTO daily VALUES ('2026-02-02', 1, 'after')",
        ])
        try await scenario.forager(["sync"])
        #expect(try await scenario.warehouseScalar("SELECT v FROM analytics.daily WHERE day = '2026-02-02'") == "after")
        let reason =
            try await scenario.warehouseScalar("SELECT state || ': ' || reason FROM analytics._forager_tables WHERE source_table = 'other'")
            ?? ""
        #expect(reason.hasPrefix("stopped: warehouse table analytics.other refuses a change to public.other"), "\(reason)")
        #expect(
            reason.contains("\"positive\"") && reason.contains("(2, -1") && reason.contains("forager resync --table public.other"),
            "\(reason)")
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.other") == "1")

        // The way out the message gives: drop the constraint, copy the table again.
        try await scenario.warehouse.execute("ALTER TABLE analytics.other DROP CONSTRAINT positive", database: scenario.warehouseDatabase)
        try await scenario.forager(["resync", "--table", "other"])
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "other", target: "analytics.other", columns: ["id", "n"])
        #expect(
            try await scenario.warehouseScalar("SELECT state FROM analytics._forager_tables WHERE source_table = 'other'") == "streaming")
    }

    @Test(
        "ADD COLUMN ... DEFAULT followed by a table rewrite (VACUUM FULL, a rewriting ALTER ... TYPE): older rows get the source's value, caught up and streaming",
        arguments: ["postgres", "clickhouse"])
    func addedDefaultSurvivesARewrite(warehouse: String) async throws {
        let scenario = try await scenario(warehouse, columns: "name text, m int", rows: 100, values: "'n' || g, g")
        try await scenario.syncBeforeAndAfter([
            "ALTER TABLE t ADD COLUMN w int DEFAULT 42",
            "VACUUM FULL t",
            "INSERT INTO t VALUES (101, 'after', 101, 7)",
        ])
        #expect(try await warehouseValue(scenario, warehouse, "w", table: "t", id: 1) == "42")
        #expect(try await warehouseValue(scenario, warehouse, "w", table: "t", id: 101) == "7")

        let running = try await scenario.launchStreaming(thenEach: [
            "ALTER TABLE t ADD COLUMN extra int DEFAULT 5",
            "ALTER TABLE t ALTER COLUMN m TYPE bigint",
            "INSERT INTO t VALUES (102, 'streamed', 102, 8, 9)",
        ])
        try await expectStreamed(
            running, scenario, warehouse, "the older rows' value of the added column", column: "extra", table: "t", id: 1, value: "5")
        #expect(try await warehouseValue(scenario, warehouse, "extra", table: "t", id: 102) == "9")
        try await scenario.expectValidatedEqual("public.t")
    }

    @Test(
        "a key deleted with deletes: soft and inserted again in a later batch replaces the row kept as deleted",
        arguments: ["postgres", "clickhouse"])
    func softDeletedKeyInsertedAgain(warehouse: String) async throws {
        let scenario = try await softDeletedRows(warehouse, table: "t", rows: 10, deletedUpTo: 3)
        try await scenario.onSource("INSERT INTO t VALUES (1, 'again'), (2, 'again')")
        try await scenario.forager(["sync"])
        #expect(try await warehouseValue(scenario, warehouse, "v", table: "t", id: 1) == "again")
        let deleted = try await warehouseRows(
            scenario, warehouse,
            clickHouse: "SELECT id, _forager_deleted FROM `\(scenario.warehouseDatabase)`.t FINAL WHERE id <= 3 ORDER BY id",
            postgres: "SELECT string_agg(id || '\t' || _forager_deleted::int, E'\\n' ORDER BY id) FROM analytics.t WHERE id <= 3")
        #expect(deleted == "1\t0\n2\t0\n3\t1\n", "\(deleted)")
    }

    @Test(
        "a table with deletes: soft is not copied again after a rewrite hides an added column's older values: its deleted rows stay, and the log says how to fill the column",
        arguments: ["postgres", "clickhouse"])
    func rowsKeptAsHistoryAreNotCopiedAway(warehouse: String) async throws {
        let scenario = try await softDeletedRows(warehouse, table: "h", rows: 5, deletedUpTo: 1)
        try await scenario.onSourceEach([
            "ALTER TABLE h ADD COLUMN w int DEFAULT 42", "VACUUM FULL h", "INSERT INTO h VALUES (6, 'new', 7)",
        ])
        try await scenario.expectOutput(of: ["sync"], containing: ["which a copy would drop"])
        let kept = try await warehouseRows(
            scenario, warehouse, clickHouse: "SELECT count(), sum(_forager_deleted) FROM `\(scenario.warehouseDatabase)`.h FINAL",
            postgres: "SELECT count(*) || E'\\t' || count(*) FILTER (WHERE _forager_deleted) FROM analytics.h")
        #expect(kept == "6\t1\n", "\(kept)")
        #expect(try await warehouseValue(scenario, warehouse, "w", table: "h", id: 6) == "7")
    }

    @Test("a resync asked for a table that is no longer mapped restarts neither run nor sync")
    func resyncOfAnUnmappedTableIsIgnored() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY); INSERT INTO a VALUES (1);",
            tables: ["a", "b"])
        try await scenario.forager(["sync"])
        try await scenario.forager(["resync", "--table", "b"])
        try scenario.writeMapping("tables:\n  - source: a\n")
        let synced = try await scenario.forager(["sync"])
        #expect(!synced.contains("a table resync was requested"), "\(synced)")
        let running = try await scenario.launchStreaming()
        try await scenario.onSource("INSERT INTO a VALUES (2)")
        try await Task.sleep(for: .seconds(7))
        try await running.expectCleanStop()
        #expect(!running.output.contains("a table resync was requested"), "\(running.output)")
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.a") == "2")
    }
}
