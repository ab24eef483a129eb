import ForagerDemo
import Foundation
import Glibc
import PGOutput
import Testing

/// The operator's commands through the forager binary with `warehouse.type: redshift`, against the
/// Redshift emulation (Support/Redshift) and moto's S3: check, run as a service with status and
/// metrics, resync, reset, and SIGKILL under writes. Every test compares the source's rows with
/// the warehouse's exactly, and no command's output may show an AWS key.
@Suite("Redshift operations through forager", .serialized, .cleansUpScenarios)
struct RedshiftOperationsTests {
    static let hives = "CREATE TABLE hives (id int PRIMARY KEY, label text, weight numeric(6,2));"
    static let hiveColumns = "id, label, weight"

    @Test("forager check passes on a good Redshift config and creates nothing")
    func checkPasses() async throws {
        let redshift = try await RedshiftScenario.make(sourceSQL: Self.hives, tables: ["hives"])
        let good = try await redshift.forager(["check"])
        #expect(good.contains("ok: source, warehouse and 1 mapped table(s) are ready"), "\(good)")
        #expect(try await redshift.redshift.rows("SELECT count(*) FROM pg_namespace WHERE nspname = '\(redshift.schema)'") == [["0"]])
        #expect(try await redshift.redshift.s3Objects(prefix: redshift.slotFolder).isEmpty)
    }

    @Test("forager check names a redshift distkey the table lacks once, at its mapping file's line, with what to write instead")
    func checkNamesUnknownDistkey() async throws {
        let redshift = try await RedshiftScenario.make(
            sourceSQL: Self.hives, mapping: "tables:\n  - source: hives\n    redshift: {distkey: hive_id}\n")
        let output = try await redshift.forager(["check"], expectStatus: 1)
        let problem =
            "mappings/app.yaml:2: public.hives: redshift.distkey names \"hive_id\", which is not a warehouse column of the table (columns: id, label, weight); use the warehouse name, after rename_columns"
        #expect(output.contains(problem), "\(output)")
        #expect(output.contains("1 problem(s):"), "the problem is listed more than once:\n\(output)")
    }

    @Test(
        "forager check names a table made with another layout than its mapping now asks, with the ALTER TABLE that changes it; sync warns and streams on"
    )
    func checkNamesLayoutDrift() async throws {
        let redshift = try await RedshiftScenario.make(
            sourceSQL: Self.hives + "INSERT INTO hives SELECT g, 'hive ' || g, g FROM generate_series(1, 20) g;", tables: ["hives"])
        try await redshift.forager(["sync"])
        try redshift.scenario.writeMapping("tables:\n  - source: hives\n    redshift: {distkey: label, sortkey: [weight]}\n")
        let table = "\"\(redshift.schema)\".\"hives\""
        let difference =
            "was made with another layout than its mapping's redshift options: its DISTKEY is none, the mapping's redshift.distkey \"label\"; its SORTKEY is COMPOUND (\"id\"), the mapping's redshift.sortkey (\"weight\")"
        let check = try await redshift.forager(["check"], expectStatus: 1)
        #expect(check.contains("1 problem(s):") && check.contains(difference), "\(check)")
        #expect(
            check.contains(
                "ALTER TABLE \(table) ALTER DISTSTYLE KEY DISTKEY \"label\"; ALTER TABLE \(table) ALTER COMPOUND SORTKEY (\"weight\");"),
            "\(check)")
        try await redshift.scenario.onSource("INSERT INTO hives SELECT g, 'hive ' || g, g FROM generate_series(21, 30) g")
        let sync = try await redshift.forager(["sync"])
        #expect(sync.contains(difference), "sync should warn about the layout:\n\(sync)")
        try await redshift.expectSameRows("hives", columns: Self.hiveColumns)
    }

    @Test("forager check fails on a staging bucket that does not exist, as forager sync does, naming the bucket and what to do")
    func checkNamesMissingBucket() async throws {
        let redshift = try await RedshiftScenario.make(sourceSQL: Self.hives, tables: ["hives"])
        let moto = redshift.redshift.s3
        try redshift.writeWarehouse(
            s3: "{bucket: forager-no-such-bucket, region: \(moto.region), endpoint: \"\(moto.endpoint)\", prefix: \"\(redshift.prefix)\"}")
        let sync = try await redshift.forager(["sync"], expectStatus: 1)
        #expect(
            sync.contains("s3://forager-no-such-bucket") && sync.contains("NoSuchBucket") && sync.contains("warehouse.s3.bucket"), "\(sync)"
        )
        let check = try await redshift.forager(["check"], expectStatus: 1)
        #expect(
            check.contains("1 problem(s):") && check.contains("s3://forager-no-such-bucket") && check.contains("NoSuchBucket")
                && check.contains("warehouse.s3.bucket"), "\(check)")
    }

    @Test(
        "forager run as a service applies inserts, updates and deletes exactly; status and /metrics show checkpoint, lag and counts, no key"
    )
    func runAsService() async throws {
        let redshift = try await RedshiftScenario.make(
            sourceSQL: Self.hives + "INSERT INTO hives SELECT g, 'hive ' || g, g * 0.5 FROM generate_series(1, 100) g;",
            tables: ["hives"])
        let running = try await redshift.launchRun()
        try await redshift.eventuallySameRows("hives", columns: Self.hiveColumns)
        try await redshift.scenario.onSourceEach([
            "INSERT INTO hives SELECT g, 'new ' || g, g FROM generate_series(101, 150) g",
            "UPDATE hives SET label = 'renamed', weight = weight + 1 WHERE id <= 20",
            "DELETE FROM hives WHERE id BETWEEN 40 AND 49",
        ])
        let written = LSN(string: try await redshift.scenario.sourceScalar("SELECT pg_current_wal_lsn()::text") ?? "") ?? LSN(.max)
        try await redshift.eventuallySameRows("hives", columns: Self.hiveColumns)
        try await redshift.scenario.eventually("the checkpoint past the changes") { (try await redshift.checkpoint() ?? .zero) >= written }
        try await redshift.scenario.eventually("the counters") {
            try await redshift.metrics()[#"forager_rows_applied_total{table="public.hives",operation="delete"}"#] == 10
        }
        let metrics = try await redshift.metrics()
        #expect(metrics[#"forager_rows_applied_total{table="public.hives",operation="insert"}"#] == 50)
        #expect(metrics[#"forager_rows_applied_total{table="public.hives",operation="update"}"#] == 20)
        #expect(metrics[#"forager_snapshot_rows{table="public.hives"}"#] == 100)
        #expect(metrics["forager_streaming"] == 1 && (metrics["forager_checkpoint_lsn"] ?? 0) >= Double(written.value))
        #expect(metrics["forager_replication_lag_seconds"] != nil && metrics[#"forager_errors_total{kind="warehouse"}"#] ?? 0 == 0)

        try await expectStatus(of: redshift, rows: 140, after: written)
        if let (_, body) = await httpGet(port: redshift.scenario.metricsPort, "/status") {
            redshift.expectNoKey(in: body, of: "/status")
        }
        try await running.expectCleanStop()
        redshift.expectNoKey(in: running.output, of: "forager run's log")
        #expect(try await redshift.redshift.s3Objects(prefix: redshift.slotFolder).isEmpty)
    }

    /// `forager status` and `status --json` beside the running process: the slot active, the
    /// checkpoint at or past `written`, the lag, the table with its `rows`.
    private func expectStatus(of redshift: RedshiftScenario, rows: Int, after written: LSN) async throws {
        let slot = redshift.scenario.slot
        try await redshift.scenario.eventually("a lag measured from heartbeats") {
            let json = try await redshift.forager(["status", "--json"])
            return (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["lag_seconds"] is Double
        }
        let json = try await redshift.forager(["status", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
        let checkpoint = LSN(string: object["checkpoint_lsn"] as? String ?? "") ?? .zero
        #expect(checkpoint >= written, "\(json)")
        #expect((object["lag_bytes"] as? Int ?? -1) >= 0 && (object["lag_seconds"] as? Double ?? -1) >= 0, "\(json)")
        #expect((object["slot"] as? [String: Any])?["active"] as? Bool == true, "\(json)")
        #expect((object["process"] as? [String: Any])?["phase"] as? String == "streaming", "\(json)")
        let tables = object["tables"] as? [[String: Any]] ?? []
        #expect(tables.count == 1 && tables.first?["rows"] as? Int == rows && tables.first?["state"] as? String == "streaming", "\(json)")
        #expect(tables.first?["target"] as? String == "\(redshift.schema).hives", "\(json)")

        let text = try await redshift.forager(["status"])
        let lines = text.split(separator: "\n").map(String.init)
        let shown = lines.first { $0.hasPrefix("warehouse checkpoint: ") }.flatMap { LSN(string: String($0.dropFirst(22))) } ?? .zero
        #expect(shown >= written, "\(text)")
        #expect(text.contains("slot \(slot): active") && lines.contains { $0.hasPrefix("lag: ") && $0.hasSuffix(" s") }, "\(text)")
        #expect(text.contains("public.hives -> \(redshift.schema).hives: streaming, \(rows) rows"), "\(text)")
        #expect(!text.contains("needs attention"), "\(text)")
    }

    @Test("forager resync --table while forager run streams: the table is copied again, ending with exactly the source's rows")
    func resyncWhileRunning() async throws {
        let redshift = try await RedshiftScenario.make(
            sourceSQL: Self.hives + """
                INSERT INTO hives SELECT g, 'hive ' || g, g FROM generate_series(1, 300) g;
                CREATE TABLE yards (id int PRIMARY KEY, name text);
                INSERT INTO yards VALUES (1, 'north');
                """,
            tables: ["hives", "yards"])
        let running = try await redshift.launchRun()
        try await redshift.eventuallySameRows("hives", columns: Self.hiveColumns)
        // Rows only a new copy puts right: gone, changed and added behind Forager's back.
        try await redshift.onWarehouse("DELETE FROM \"\(redshift.schema)\".hives WHERE id <= 10")
        try await redshift.onWarehouse("UPDATE \"\(redshift.schema)\".hives SET label = 'tampered' WHERE id = 50")
        try await redshift.insertStrayHive()
        #expect(try await redshift.bothRows("hives", columns: Self.hiveColumns).warehouse.count == 291)

        let requested = try await redshift.forager(["resync", "--table", "public.hives"])
        #expect(requested.contains("resync requested for public.hives"), "\(requested)")
        try await redshift.scenario.onSourceEach([
            "UPDATE hives SET weight = weight * 2 WHERE id % 3 = 0", "INSERT INTO yards VALUES (2, 'south')",
            "DELETE FROM hives WHERE id > 290",
        ])
        try await redshift.eventuallySameRows("hives", columns: Self.hiveColumns)
        try await redshift.eventuallySameRows("yards", columns: "id, name")
        try await redshift.scenario.eventually("both tables streaming") {
            try await redshift.tableStates() == ["hives=streaming", "yards=streaming"]
        }
        try await redshift.scenario.onSource("INSERT INTO hives VALUES (500, 'after the copy', 5)")
        try await redshift.eventuallySameRows("hives", columns: Self.hiveColumns)
        try await running.expectCleanStop()
        #expect(running.output.contains("replacing the warehouse table for a new copy"), "\(running.output)")
        redshift.expectNoKey(in: running.output, of: "forager run's log")
        try await redshift.expectSameRows("hives", columns: Self.hiveColumns)
        #expect(try await redshift.redshift.s3Objects(prefix: redshift.slotFolder).isEmpty)
    }

    @Test("forager reset forgets the Redshift checkpoint and drops the slot; the next run copies afresh from a new snapshot, rows exact")
    func reset() async throws {
        let redshift = try await RedshiftScenario.make(
            sourceSQL: Self.hives + "INSERT INTO hives SELECT g, 'hive ' || g, g FROM generate_series(1, 200) g;", tables: ["hives"])
        let scenario = redshift.scenario
        try await redshift.forager(["sync"])
        try await redshift.expectSameRows("hives", columns: Self.hiveColumns)
        let before = try #require(try await redshift.checkpoint())
        let location = "\"\(redshift.schema)\".\"_forager_state\""

        let dryRun = try await redshift.forager(["reset"], expectStatus: 1)
        #expect(dryRun.contains("would drop replication slot \"\(scenario.slot)\""), "\(dryRun)")
        #expect(dryRun.contains("forget the warehouse checkpoint \(before) in \(location)"), "\(dryRun)")
        #expect(dryRun.contains("mark public.hives for a new copy") && dryRun.contains("--yes"), "\(dryRun)")
        #expect(try await redshift.checkpoint() == before)

        let done = try await redshift.forager(["reset", "--yes"])
        #expect(done.contains("dropped replication slot") && done.contains("forgot the warehouse checkpoint \(before)"), "\(done)")
        #expect(try await redshift.checkpoint() == nil)
        #expect(try await redshift.tableStates() == ["hives=copying"])
        #expect(try await scenario.sourceScalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "0")
        let status = try await redshift.forager(["status"], expectStatus: 1)
        #expect(status.contains("warehouse checkpoint: none") && status.contains("slot \(scenario.slot): does not exist"), "\(status)")

        // Made while no slot exists, so only a new snapshot carries them; the stray row goes with the old copy.
        try await scenario.onSource("UPDATE hives SET label = 'changed' WHERE id <= 10; DELETE FROM hives WHERE id > 190;")
        try await redshift.insertStrayHive()
        let running = try await redshift.launchRun()
        try await redshift.eventuallySameRows("hives", columns: Self.hiveColumns)
        #expect(try await redshift.tableStates() == ["hives=streaming"])
        try await scenario.onSource("INSERT INTO hives VALUES (300, 'streamed', 3)")
        try await redshift.eventuallySameRows("hives", columns: Self.hiveColumns)
        try await running.expectCleanStop()
        #expect(try await redshift.checkpoint().map { $0 > before } == true)
        try await redshift.expectSameRows("hives", columns: Self.hiveColumns)
    }

    @Test(
        "SIGKILL of forager run under small transactions and a large one, five times: the next run ends with exactly the source's rows, no staged object left"
    )
    func killedUnderWrites() async throws {
        let seed = CrashTortureTests.seed
        var random = SplitMix(state: seed)
        let redshift = try await RedshiftScenario.make(
            sourceSQL: """
                CREATE TABLE samples (id bigint PRIMARY KEY, hive int, value numeric(12,2), note text);
                INSERT INTO samples SELECT g, g % 50, g * 1.5, 'n' || g FROM generate_series(1, 5000) g;
                """,
            tables: ["samples"], batch: "batch:\n  max_rows: 2000\n")
        let workload = Task { try await Self.smallAndLargeTransactions(redshift.scenario, seed: seed) }
        for _ in 0..<5 {
            let process = try await redshift.launchRun(ready: false)
            try await Task.sleep(for: .milliseconds(Int.random(in: 800...2500, using: &random)))
            process.signal(SIGKILL)
            let status = try await process.wait(timeout: .seconds(30))
            #expect(status == 128 + SIGKILL, "seed \(seed): forager ended with \(status) before the kill:\n\(process.output)")
            redshift.expectNoKey(in: process.output, of: "a killed forager run's log")
        }
        workload.cancel()
        let large = try await workload.value
        #expect(large, "seed \(seed): the large transaction did not run while forager was being killed")

        let leftByKills = try await redshift.redshift.s3Objects(prefix: redshift.slotFolder)
        let running = try await redshift.launchRun()
        try await redshift.eventuallySameRows("samples", columns: "id, hive, value, note", timeout: .seconds(90))
        try await running.expectCleanStop()
        if !leftByKills.isEmpty {
            #expect(running.output.contains("removed staged objects an earlier run left"), "\(running.output)")
        }
        redshift.expectNoKey(in: running.output, of: "forager run's log")
        try await redshift.expectSameRows("samples", columns: "id, hive, value, note")
        #expect(try await redshift.redshift.s3Objects(prefix: redshift.slotFolder).isEmpty, "seed \(seed)")
    }

    /// Small transactions (inserts, updates, deletes, one of each in one) until cancelled, and
    /// after 100 of them one large transaction (more rows than a batch); returns whether the large
    /// one ran.
    static func smallAndLargeTransactions(_ scenario: Scenario, seed: UInt64) async throws -> Bool {
        var random = SplitMix(state: seed ^ 0x5EED)
        let connection = try await scenario.source.connect(scenario.sourceDatabase)
        defer { connection.close() }
        var next = 100_000
        var large = false
        for round in 1... {
            let hive = Int.random(in: 0..<50, using: &random)
            switch round {
            case 100:
                try await connection.execute(
                    """
                    BEGIN;
                    INSERT INTO samples SELECT \(next) + g, g % 50, g, 'large' FROM generate_series(0, 11999) g;
                    UPDATE samples SET value = value + 1 WHERE id <= 3000;
                    DELETE FROM samples WHERE id BETWEEN 3001 AND 3500;
                    COMMIT;
                    """)
                next += 12000
                large = true
            case _ where round % 4 == 0:
                try await connection.execute(
                    "BEGIN; INSERT INTO samples VALUES (\(next), \(hive), 1, 'tx'); UPDATE samples SET note = 'touched \(round)' WHERE hive = \(hive) AND id < 5000; DELETE FROM samples WHERE id = (SELECT min(id) FROM samples WHERE hive = \(hive)); COMMIT"
                )
                next += 1
            case _ where round % 4 == 1:
                try await connection.execute("UPDATE samples SET value = value + 0.25 WHERE id % 50 = \(hive)")
            default:
                try await connection.execute("INSERT INTO samples SELECT \(next) + g, \(hive), g, 'small' FROM generate_series(0, 4) g")
                next += 5
            }
            do {
                try await Task.sleep(for: .milliseconds(10))
            } catch is CancellationError {
                break
            }
        }
        return large
    }
}

extension RedshiftScenario {
    /// Adds a row to the warehouse's hives that the source never had.
    fileprivate func insertStrayHive() async throws {
        try await onWarehouse("INSERT INTO \"\(schema)\".hives (id, label, weight, _forager_lsn) VALUES (9999, 'stray', 0, 1)")
    }
}
