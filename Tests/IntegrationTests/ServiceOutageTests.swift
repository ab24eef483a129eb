import ForagerDemo
import Foundation
import Glibc
import Testing

@Suite("Service faults, ClickHouse", .serialized, .cleansUpScenarios)
struct ClickHouseFaultTests {
    @Test("the ClickHouse server stopped mid-stream: forager retries, acknowledges nothing meanwhile, and catches up once it is back")
    func clickHouseOutage() async throws {
        let (server, scenario) = try await Scenario.make(
            ownClickHouse: "outage",
            sourceSQL:
                "CREATE TABLE readings (id bigint PRIMARY KEY, value int); INSERT INTO readings SELECT g, g FROM generate_series(1, 100) g;",
            tables: ["readings"])
        let database = scenario.warehouseDatabase
        let running = try scenario.launch(["run"])
        try await scenario.eventually("the snapshot") {
            try await server.query("SELECT count() FROM \(database).readings_current") == "100\n"
        }
        server.pause()
        #expect((try? await server.query("SELECT 1")) == nil, "the server still answers after pause()")
        try await scenario.onSource(
            "INSERT INTO readings SELECT g, g FROM generate_series(101, 600) g; UPDATE readings SET value = -value WHERE id <= 50; DELETE FROM readings WHERE id > 590;"
        )
        let written = try await scenario.sourceScalar("SELECT pg_current_wal_lsn()::text") ?? ""
        do {
            try await scenario.eventually(timeout: .seconds(30), "a retry") {
                guard let (_, body) = await httpGet(port: scenario.metricsPort, "/status") else { return false }
                return body.contains("\"phase\" : \"retrying\"")
            }
        } catch {
            Issue.record("\(error); log:\n\(running.output)")
            throw error
        }
        try await Task.sleep(for: .seconds(2))
        #expect(running.poll() == nil, "forager exited while ClickHouse was down:\n\(running.output)")
        #expect(
            try await scenario.sourceScalar(
                "SELECT confirmed_flush_lsn < '\(written)'::pg_lsn FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "t")
        try await server.resume()
        try await scenario.eventually(timeout: .seconds(90), "catching up") {
            try await server.query("SELECT count(), countIf(value < 0) FROM \(database).readings_current") == "590\t50\n"
        }
        try await running.expectCleanStop()
        #expect(running.output.contains("warehouse failed; retrying"), "\(running.output)")
    }
}

@Suite("Service faults, long outages", .serialized, .cleansUpScenarios)
struct LongOutageTests {
    @Test(
        "the warehouse crashed in the middle of a large batch, then each server unreachable for 30 s: all heal, validate reports equality")
    func crashesAndLongOutages() async throws {
        let source = try LocalCluster.startSourceForTests(name: "outage-source")
        defer { source.stop() }
        let warehouse = try LocalCluster.startForTests(name: "outage-warehouse-2", settings: [:])
        defer { warehouse.stop() }
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE samples (id bigint PRIMARY KEY, hive int, value float8);",
            tables: ["samples"], batch: "batch:\n  max_rows: 20000\n", source: source, warehouse: warehouse)
        let running = try await scenario.launchStreaming()
        defer { running.signal(SIGKILL) }

        // A transaction of 150,000 rows is applied in pieces; the warehouse dies while they land.
        try await scenario.onSource("INSERT INTO samples SELECT g, g % 500, g * 0.25 FROM generate_series(1, 150000) g")
        try await Task.sleep(for: .milliseconds(500))
        try await scenario.eventually(timeout: .seconds(60), "a warehouse transaction of forager's writing") {
            try await scenario.warehouse.scalar(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'forager' AND backend_xid IS NOT NULL",
                database: "postgres") == "t"
        }
        try warehouse.crash()
        try await Task.sleep(for: .seconds(2))
        try warehouse.resume()
        do {
            try await scenario.eventually(timeout: .seconds(240), "the large transaction applied once") {
                try await scenario.warehouseScalar("SELECT count(*) FROM analytics.samples") == "150000"
            }
        } catch {
            Issue.record("\(error); log:\n\(running.output)")
            throw error
        }

        // Each server away for 30 s while the other side keeps going.
        try warehouse.pause()
        try await scenario.onSource("UPDATE samples SET value = -value WHERE hive = 7; DELETE FROM samples WHERE id % 1000 = 0;")
        try await Task.sleep(for: .seconds(30))
        try warehouse.resume()
        try source.pause()
        try await Task.sleep(for: .seconds(30))
        try source.resume()
        try await scenario.onSource("INSERT INTO samples SELECT g, 1, 1 FROM generate_series(150001, 151000) g")
        let expected = try await scenario.sourceScalar("SELECT count(*) FROM samples") ?? ""
        try await scenario.eventually(timeout: .seconds(120), "catching up after the outages") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.samples") == expected
        }
        #expect(running.poll() == nil, "forager exited during the outages:\n\(running.output)")
        let validation = try await scenario.forager(["validate", "--wait", "30"])
        #expect(validation.contains("public.samples: equal (\(expected) rows"), "\(validation)")
        try await running.expectCleanStop()
        try await scenario.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "hive", "value"])
    }
}

@Suite("Service faults, ClickHouse long outages", .serialized, .cleansUpScenarios)
struct ClickHouseLongOutageTests {
    /// The source's 30 s away is the Postgres warehouse's test above: what Forager does then
    /// does not depend on the warehouse.
    @Test("ClickHouse killed in the middle of a large batch, then away for 30 s: all heal, validate reports equality")
    func clickHouseCrashesAndLongOutages() async throws {
        let (server, scenario) = try await Scenario.make(
            ownClickHouse: "long-outage", sourceSQL: "CREATE TABLE samples (id bigint PRIMARY KEY, hive int, value float8);",
            tables: ["samples"], batch: "batch:\n  max_rows: 20000\n")
        let database = "`\(scenario.warehouseDatabase)`"
        let running = try await scenario.launchStreaming()
        defer { running.signal(SIGKILL) }

        try await scenario.onSource("INSERT INTO samples SELECT g, g % 500, g * 0.25 FROM generate_series(1, 150000) g")
        try await scenario.eventually(timeout: .seconds(60), "the first pieces in ClickHouse") {
            let count =
                Int(try await server.query("SELECT count() FROM \(database).samples").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            return count > 0
        }
        server.kill()
        try await Task.sleep(for: .seconds(2))
        try await server.resume()
        try await scenario.eventually(timeout: .seconds(240), "the large transaction, once") {
            try await server.query("SELECT count() FROM \(database).samples_current") == "150000\n"
        }

        server.pause()
        try await scenario.onSource("UPDATE samples SET value = -value WHERE hive = 7; DELETE FROM samples WHERE id % 1000 = 0;")
        try await Task.sleep(for: .seconds(30))
        try await server.resume()
        try await scenario.onSource("INSERT INTO samples SELECT g, 1, 1 FROM generate_series(150001, 151000) g")
        let expected = try await scenario.sourceScalar("SELECT count(*) FROM samples") ?? ""
        try await scenario.eventually(timeout: .seconds(120), "catching up after the outages") {
            try await server.query("SELECT count() FROM \(database).samples_current") == expected + "\n"
        }
        #expect(running.poll() == nil, "forager exited during the outages:\n\(running.output)")
        let validation = try await scenario.forager(["validate", "--wait", "30"])
        #expect(validation.contains("public.samples: equal (\(expected) rows"), "\(validation)")
        try await running.expectCleanStop()
    }
}
