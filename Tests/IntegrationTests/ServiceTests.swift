import ForagerDemo
import Foundation
import Glibc
import Testing

/// `forager run` as ops see it: heartbeats, /metrics, health, status, and faults that heal.
@Suite("Service", .serialized, .cleansUpScenarios)
struct ServiceTests {
    private func slotConfirmed(_ scenario: Scenario) async throws -> String {
        try await scenario.sourceScalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'")
            ?? ""
    }

    private func metrics(_ scenario: Scenario) async throws -> PrometheusText {
        guard let (status, body) = await httpGet(port: scenario.metricsPort, "/metrics") else {
            throw HarnessError("/metrics did not answer")
        }
        #expect(status == 200)
        return try PrometheusText(body)
    }

    private func statusJSON(_ scenario: Scenario) async throws -> [String: Any] {
        guard let (_, body) = await httpGet(port: scenario.metricsPort, "/status") else { throw HarnessError("/status did not answer") }
        return try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] ?? [:]
    }

    @Test("heartbeats move an idle slot and measure lag; /metrics parses; health, readiness and status answer")
    func heartbeatsMetricsAndStatus() async throws {
        let scenario = try await Scenario.make(sourceSQL: "CREATE TABLE hives (id int PRIMARY KEY, name text);", tables: ["hives"])
        let running = try await scenario.launchStreaming()
        #expect(await httpGet(port: scenario.metricsPort, "/healthz")?.status == 200)

        // Nothing at all is written on the source: only heartbeats move the slot.
        let before = try await slotConfirmed(scenario)
        try await scenario.eventually(timeout: .seconds(30), "the slot to move past its position without any write") {
            try await scenario.sourceScalar(
                "SELECT confirmed_flush_lsn > '\(before)'::pg_lsn FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "t"
        }
        try await scenario.eventually("a lag measured from heartbeats") { try await statusJSON(scenario)["lag_seconds"] is Double }
        let lag = try await statusJSON(scenario)["lag_seconds"] as? Double ?? -1
        #expect(lag >= 0 && lag < 5, "lag \(lag)")

        try await scenario.onSource(
            "INSERT INTO hives SELECT g, 'hive ' || g FROM generate_series(1, 100) g; UPDATE hives SET name = 'renamed' WHERE id <= 10; DELETE FROM hives WHERE id > 95;"
        )
        try await scenario.eventually("the changes in the warehouse") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives") == "95"
        }
        try await scenario.eventually("the counters") {
            try await metrics(scenario)[#"forager_rows_applied_total{table="public.hives",operation="delete"}"#] == 5
        }
        // The monitor reads the slot once per heartbeat interval.
        try await scenario.eventually("the slot read while streaming") { try await metrics(scenario)["forager_slot_active"] == 1 }
        let exported = try await metrics(scenario)
        #expect(exported[#"forager_rows_applied_total{table="public.hives",operation="insert"}"#] == 100)
        #expect(exported[#"forager_rows_applied_total{table="public.hives",operation="update"}"#] == 10)
        #expect(exported.types["forager_batch_duration_seconds"] == "histogram")
        #expect((exported.first("forager_batch_duration_seconds_count") ?? 0) >= 1)
        #expect((exported["forager_heartbeats_total"] ?? 0) >= 1)
        #expect(exported["forager_streaming"] == 1)
        #expect(exported["forager_slot_active"] == 1)
        #expect((exported["forager_slot_retained_wal_bytes"] ?? -1) >= 0)
        #expect(exported["forager_replication_lag_seconds"] != nil && exported["forager_replication_lag_bytes"] != nil)
        #expect((exported["forager_checkpoint_lsn"] ?? 0) > 0 && (exported["forager_checkpoint_timestamp_seconds"] ?? 0) > 1_700_000_000)
        #expect(exported[#"forager_snapshot_rows{table="public.hives"}"#] == 0)

        let status = try await statusJSON(scenario)
        #expect(status["phase"] as? String == "streaming" && status["ready"] as? Bool == true)
        // The warehouse's tables are read again at most every 30 s.
        try await scenario.eventually(timeout: .seconds(45), "/status with the warehouse's rows") {
            let reading = try await statusJSON(scenario)["warehouse"] as? [String: Any] ?? [:]
            let served = reading["tables"] as? [[String: Any]] ?? []
            return served.count == 1 && served.first?["rows"] as? Int == 95 && served.first?["state"] as? String == "streaming"
                && reading["checkpoint_lsn"] is String && reading["read_at"] is Double
        }
        try await scenario.eventually("the lag in bytes measured against a slot read after the changes") {
            let lagBytes = try await metrics(scenario)["forager_replication_lag_bytes"] ?? -1
            return lagBytes >= 0 && lagBytes < 1_048_576
        }

        let cli = try await scenario.forager(["status", "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(cli.utf8)) as? [String: Any] ?? [:]
        let slot = object["slot"] as? [String: Any] ?? [:]
        #expect(slot["active"] as? Bool == true && slot["exists"] as? Bool == true)
        #expect((slot["retained_wal_bytes"] as? Int ?? -1) >= 0 && slot["wal_status"] is String, "\(slot)")
        let confirmedFlush = slot["confirmed_flush_lsn"] as? String ?? ""
        #expect(try await scenario.sourceScalar("SELECT '\(confirmedFlush)'::pg_lsn <= pg_current_wal_lsn()") == "t", "\(slot)")
        let tables = object["tables"] as? [[String: Any]] ?? []
        #expect(tables.count == 1 && tables.first?["rows"] as? Int == 95 && tables.first?["state"] as? String == "streaming")
        #expect((object["process"] as? [String: Any])?["phase"] as? String == "streaming")
        #expect(object["checkpoint_lsn"] is String && object["lag_bytes"] is Int)
        let text = try await scenario.forager(["status"])
        #expect(
            text.contains("slot \(scenario.slot): active") && text.contains("public.hives -> analytics.hives: streaming, 95 rows"),
            "\(text)")

        try await running.expectCleanStop()
        // Stopped: status says the slot waits, still exit 0 (nothing needs attention yet).
        let stopped = try await scenario.forager(["status"])
        #expect(stopped.contains("inactive") && stopped.contains("no answer"), "\(stopped)")
    }

    @Test("while the warehouse is down, lag rises, nothing is acknowledged, the process waits; once back, it catches up with nothing lost")
    func warehouseOutage() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE samples (id int PRIMARY KEY, v float8);", tables: ["samples"],
            batch: "alerts:\n  lag_s: 3\n  slot_inactive_s: 2\n  retained_wal_mb: 1\n", ownWarehouse: "outage-warehouse")
        let running = try scenario.launch(["run"])
        try await scenario.onSource("INSERT INTO samples SELECT g, g * 0.5 FROM generate_series(1, 1000) g")
        try await scenario.eventually("the first rows") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.samples") == "1000"
        }
        try await scenario.eventually("lag measured") { (try await metrics(scenario)["forager_replication_lag_seconds"] ?? 99) < 3 }

        try scenario.warehouse.pause()
        try await scenario.onSource(
            "INSERT INTO samples SELECT g, g * 0.5 FROM generate_series(1001, 3000) g; UPDATE samples SET v = -1 WHERE id <= 100;")
        let written = try await scenario.sourceScalar("SELECT pg_current_wal_lsn()::text") ?? ""
        try await scenario.eventually(timeout: .seconds(40), "lag above 5 s while the warehouse is down") {
            (try await metrics(scenario)["forager_replication_lag_seconds"] ?? 0) > 5
        }
        let status = try await statusJSON(scenario)
        #expect(status["phase"] as? String == "retrying", "\(status)")
        #expect((status["last_error"] as? [String: Any])?["kind"] as? String == "warehouse", "\(status)")
        #expect(await httpGet(port: scenario.metricsPort, "/readyz")?.status == 503)
        #expect(running.poll() == nil, "forager exited while the warehouse was down:\n\(running.output)")
        // Memory stays bounded while the warehouse is away: nothing is read that cannot be applied.
        try await scenario.onSource("INSERT INTO samples SELECT g, 0 FROM generate_series(3001, 60000) g")
        try await Task.sleep(for: .seconds(3))
        let peak = try running.peakResidentMiB()
        #expect(peak < 200, "peak RSS \(peak) MiB while the warehouse is down")
        #expect((try await metrics(scenario)[#"forager_errors_total{kind="warehouse"}"#] ?? 0) >= 1)
        #expect((try await metrics(scenario)[#"forager_reconnects_total{kind="warehouse"}"#] ?? 0) >= 1)
        try await scenario.eventually("the lag in bytes at least the WAL written while the warehouse is down") {
            (try await metrics(scenario)["forager_replication_lag_bytes"] ?? 0) > 100_000
        }
        // Nothing of the second batch was acknowledged.
        #expect(
            try await scenario.sourceScalar(
                "SELECT confirmed_flush_lsn < '\(written)'::pg_lsn FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "t")

        try scenario.warehouse.resume()
        try await scenario.eventually(timeout: .seconds(90), "catching up") {
            try await scenario.warehouseScalar("SELECT count(*) FILTER (WHERE v = -1) || '/' || count(*) FROM analytics.samples")
                == "100/60000"
        }
        try await scenario.eventually(timeout: .seconds(30), "lag back under 3 s") {
            (try await metrics(scenario)["forager_replication_lag_seconds"] ?? 99) < 3
        }
        #expect(await httpGet(port: scenario.metricsPort, "/readyz")?.status == 200)
        try await scenario.eventually("the lag in bytes back down") {
            (try await metrics(scenario)["forager_replication_lag_bytes"] ?? .infinity) < 100_000
        }
        try await scenario.eventually(timeout: .seconds(10), "the lag alert resolved in the log") {
            running.output.contains("replication lag is back under alerts.lag_s")
        }
        try await running.expectCleanStop()
        try await scenario.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "v"])
        let log = running.output
        #expect(log.contains("warehouse failed; retrying") && log.contains("forager.attempt"), "\(log)")
        #expect(log.contains("replication lag is") && log.contains("forager.alert=lag"), "\(log)")
        // No process read the slot while the warehouse was away, and it kept the WAL written meanwhile.
        #expect(log.contains("forager.alert=slot_inactive") && log.contains("slot \(scenario.slot) is being read again"), "\(log)")
        #expect(log.contains("forager.alert=retained_wal"), "\(log)")
    }

    @Test("/readyz answers 503 while the lag is above metrics.ready_max_lag_s though streaming goes on, and 200 once it is back under")
    func readinessFollowsLag() async throws {
        let scenario = try await Scenario.make(sourceSQL: "CREATE TABLE hives (id int PRIMARY KEY);", tables: ["hives"], readyMaxLag: 2)
        let running = try await scenario.launchStreaming()
        try await scenario.eventually("ready") { await httpGet(port: scenario.metricsPort, "/readyz")?.status == 200 }

        // A warehouse session holds the table: the batch waits for it, the stream stays up, the lag grows.
        let blocker = try await scenario.warehouse.connect(scenario.warehouseDatabase)
        defer { blocker.close() }
        try await blocker.execute("BEGIN")
        try await blocker.execute("LOCK TABLE analytics.hives IN ACCESS EXCLUSIVE MODE")
        try await scenario.onSource("INSERT INTO hives SELECT generate_series(1, 10)")
        try await scenario.eventually(timeout: .seconds(20), "not ready because of the lag") {
            guard let (code, body) = await httpGet(port: scenario.metricsPort, "/readyz") else { return false }
            return code == 503 && body.contains("above metrics.ready_max_lag_s")
        }
        let status = try await statusJSON(scenario)
        #expect(status["phase"] as? String == "streaming")
        #expect(await httpGet(port: scenario.metricsPort, "/healthz")?.status == 200)
        // The warehouse reading of /status does not wait behind the lock.
        try await scenario.eventually(timeout: .seconds(20), "/status to say the table is locked") {
            let reading = try await statusJSON(scenario)["warehouse"] as? [String: Any] ?? [:]
            return (reading["error"] as? String)?.contains("another session has held a lock on it") == true
        }

        try await blocker.execute("COMMIT")
        try await scenario.eventually(timeout: .seconds(20), "ready again") {
            await httpGet(port: scenario.metricsPort, "/readyz")?.status == 200
        }
        #expect(try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives") == "10")
        try await running.expectCleanStop()
    }
}

@Suite("Service faults", .serialized, .cleansUpScenarios)
struct ServiceFaultTests {
    @Test("the source server restarted mid-stream: forager reconnects and the warehouse equals the source")
    func sourceRestart() async throws {
        let source = try LocalCluster.startSourceForTests(name: "restart-source")
        defer { source.stop() }
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE samples (id int PRIMARY KEY, v text);", tables: ["samples"], source: source)
        let running = try scenario.launch(["run"])
        try await scenario.onSource("INSERT INTO samples SELECT g, 'a' FROM generate_series(1, 500) g")
        try await scenario.eventually("the first rows") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.samples") == "500"
        }
        // Writes in flight when the source stops: the writer's connection dies with the server.
        let writer = scenario.writeContinuously(pause: .milliseconds(5)) { round in "INSERT INTO samples VALUES (\(100_000 + round), 'w')" }
        try await scenario.eventually("writes in flight") {
            try await scenario.sourceScalar("SELECT count(*) > 20 FROM samples WHERE v = 'w'") == "t"
        }
        try source.pause()
        _ = await writer.result
        try await Task.sleep(for: .seconds(2))
        try source.resume()
        try await scenario.onSource(
            "INSERT INTO samples SELECT g, 'b' FROM generate_series(501, 1500) g; UPDATE samples SET v = 'c' WHERE id % 7 = 0; DELETE FROM samples WHERE id % 11 = 0;"
        )
        let expected = try await scenario.sourceScalar("SELECT count(*) FROM samples") ?? ""
        try await scenario.eventually(timeout: .seconds(90), "catching up after the restart") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.samples") == expected
        }
        try await scenario.eventually(timeout: .seconds(30), "the updates") {
            try await scenario.warehouseScalar("SELECT count(*) FROM analytics.samples WHERE v = 'c'")
                == scenario.sourceScalar("SELECT count(*) FROM samples WHERE v = 'c'")
        }
        try await running.expectCleanStop()
        try await scenario.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "v"])
        #expect(running.output.contains("source failed; retrying"), "\(running.output)")
    }

    @Test(
        "a slot the source invalidated (wal_status = lost): status says so, run refuses with the way out, and says it again after exiting")
    func slotLost() async throws {
        let source = try LocalCluster.startSourceForTests(name: "lost-slot", settings: ["max_slot_wal_keep_size": "1MB"])
        defer { source.stop() }
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE samples (id int PRIMARY KEY, pad text); INSERT INTO samples VALUES (1, 'a');", tables: ["samples"],
            source: source)
        try await scenario.forager(["sync"])
        // Forager is stopped while the source writes more WAL than the slot may keep.
        var round = 0
        try await scenario.eventually(timeout: .seconds(60), "the slot invalidated") {
            round += 1
            try await scenario.onSource(
                "INSERT INTO samples SELECT g, repeat('x', 500) FROM generate_series(\(round * 10_000), \(round * 10_000 + 9_999)) g")
            try await scenario.onSource("SELECT pg_switch_wal()")
            try await scenario.onSource("CHECKPOINT")
            return try await scenario.sourceScalar("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'")
                == "lost"
        }
        let status = try await scenario.forager(["status"], expectStatus: 1)
        #expect(
            status.contains("wal_status lost")
                && status.contains("was invalidated (wal_status = lost); see docs/operations.md, 'Slot lost'"), "\(status)")
        let started = ContinuousClock.now
        let refused = try await scenario.forager(["run"], expectStatus: 1, timeout: .seconds(60))
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(
            refused.contains("has been invalidated (wal_status = lost)") && refused.contains("forager reset --yes")
                && !refused.contains("retrying"), "\(refused)")
        let after = try await scenario.forager(["status"], expectStatus: 1)
        #expect(after.contains("last error (replication_state, stopped): slot \"\(scenario.slot)\" has been invalidated"), "\(after)")

        // The way out: start over into the same tables.
        try await scenario.forager(["reset", "--yes"])
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "pad"])
        let healthy = try await scenario.forager(["status"])
        #expect(healthy.contains("wal_status reserved"), "\(healthy)")
    }

    /// Sends SIGTERM and expects exit 0 within `grace`.
    private func terminate(_ process: ChildProcess, within grace: Duration) async throws {
        let sent = ContinuousClock.now
        process.signal(SIGTERM)
        let status = try await process.wait(timeout: grace + .seconds(5))
        #expect(status == 0, "exit \(status):\n\(process.output)")
        #expect(ContinuousClock.now - sent < grace, "took \(ContinuousClock.now - sent) to stop")
    }

    @Test("SIGTERM during the snapshot exits 0 within the grace period and leaves no checkpoint; the next sync copies everything")
    func sigtermInSnapshot() async throws {
        let scenario = try await Scenario.make(
            sourceSQL:
                "CREATE TABLE big (id int PRIMARY KEY, pad text); INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 1500000) g;",
            tables: ["big"], batch: "shutdown:\n  grace_s: 20\n")
        let running = try scenario.launch(["run"])
        try await scenario.eventually("the snapshot to be under way") {
            guard let (_, body) = await httpGet(port: scenario.metricsPort, "/status"),
                let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let copy = (object["snapshot"] as? [String: Any])?["public.big"] as? [String: Any]
            else { return false }
            return object["phase"] as? String == "snapshot" && (copy["bytes_copied"] as? Int ?? 0) > 0 && copy["done"] as? Bool == false
        }
        try await terminate(running, within: .seconds(20))
        #expect(try await scenario.checkpoint() == nil)
        // The interrupted load had dropped the key; the next sync makes the table anew, with it.
        #expect(
            try await scenario.warehouseScalar(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid = 'analytics.big'::regclass") == "0")
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "big", target: "analytics.big", columns: ["id", "pad"])
        #expect(
            try await scenario.warehouseScalar(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid = 'analytics.big'::regclass") == "1")
    }

    @Test(
        "SIGTERM while streaming under writes exits 0 within the grace period, with the slot acknowledged exactly at the warehouse checkpoint"
    )
    func sigtermWhileStreaming() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE samples (id serial PRIMARY KEY, v int);", tables: ["samples"], batch: "shutdown:\n  grace_s: 10\n")
        let running = try await scenario.launchStreaming()
        let writer = scenario.writeContinuously(pause: .zero) { _ in "INSERT INTO samples (v) SELECT g FROM generate_series(1, 50) g" }
        try await Task.sleep(for: .seconds(2))
        try await terminate(running, within: .seconds(10))
        writer.cancel()
        _ = await writer.result
        let checkpoint = try await scenario.checkpoint() ?? ""
        let confirmed = try await scenario.sourceScalar(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'")
        #expect(confirmed == checkpoint)
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "samples", target: "analytics.samples", columns: ["id", "v"])
        let ended = try await scenario.forager(["status"])
        #expect(ended.contains("last run: pid \(running.pid)") && ended.contains(", ended "), "\(ended)")

        // A run killed outright records no end, and status says so.
        let killed = try await scenario.launchStreaming()
        killed.signal(SIGKILL)
        _ = try await killed.wait(timeout: .seconds(10))
        let report = try await scenario.forager(["status"], expectStatus: 1)
        #expect(report.contains("last run: pid \(killed.pid)") && report.contains("recorded no end (killed)"), "\(report)")
        #expect(report.contains("recorded no end: it was killed; look at its log"), "\(report)")

        // A run without an endpoint: status knows it runs (its pid is alive), needs no attention.
        let config = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: "listen: \"127.0.0.1:\(scenario.metricsPort)\"", with: "listen: off")
            .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        let quiet = try scenario.launch(["run"])
        try await scenario.eventually("the slot in use") {
            try await scenario.sourceScalar("SELECT active FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'") == "t"
        }
        let alive = try await scenario.forager(["status"])
        #expect(
            alive.contains("last run: pid \(quiet.pid)") && alive.contains("still running (set metrics.listen to see its state)"),
            "\(alive)")
        try await quiet.expectCleanStop()
    }

    @Test("SIGTERM while waiting to retry (warehouse down) exits 0 at once; a permanent error exits 1 without retrying")
    func sigtermWhileRetrying() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE hives (id int PRIMARY KEY); INSERT INTO hives VALUES (1), (2);", tables: ["hives"],
            batch: "shutdown:\n  grace_s: 5\n", ownWarehouse: "retry-warehouse")
        try scenario.warehouse.pause()
        let running = try scenario.launch(["run"])
        try await scenario.eventually("retrying") {
            guard let (_, body) = await httpGet(port: scenario.metricsPort, "/status") else { return false }
            return body.contains("\"phase\" : \"retrying\"")
        }
        try await terminate(running, within: .seconds(5))
        try scenario.warehouse.resume()
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id"])

        // Streaming, then the warehouse goes away with changes in flight: SIGTERM while waiting to
        // retry leaves the slot acknowledged at the warehouse checkpoint, not past it.
        let streaming = try await scenario.launchStreaming()
        try await scenario.onSource("INSERT INTO hives SELECT generate_series(3, 100)")
        try await scenario.eventually("the rows") { try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives") == "100" }
        try scenario.warehouse.pause()
        try await scenario.onSource("INSERT INTO hives SELECT generate_series(101, 300); DELETE FROM hives WHERE id <= 50")
        try await scenario.eventually("retrying after streaming") {
            guard let (_, body) = await httpGet(port: scenario.metricsPort, "/status") else { return false }
            return body.contains("\"phase\" : \"retrying\"")
        }
        try await terminate(streaming, within: .seconds(5))
        try scenario.warehouse.resume()
        let checkpoint = try await scenario.checkpoint() ?? ""
        let confirmed = try await scenario.sourceScalar(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '\(scenario.slot)'")
        #expect(confirmed == checkpoint)
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: ["id"])
        let cleanEnd = try await scenario.forager(["status", "--json"])
        let cleanRun = (try JSONSerialization.jsonObject(with: Data(cleanEnd.utf8)) as? [String: Any])?["last_run"] as? [String: Any]
        #expect(cleanRun?["ended_at"] is Double && cleanRun?["error"] == nil, "\(cleanEnd)")

        // A permanent error (a mapped table that does not exist) stops at once with exit 1.
        try scenario.writeMapping("tables:\n  - source: hives\n  - source: no_such_table\n")
        let started = ContinuousClock.now
        let output = try await scenario.forager(["run"], expectStatus: 1, timeout: .seconds(60))
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(output.contains("no_such_table") && !output.contains("retrying"), "\(output)")
        // The process is gone; forager status still says why it stopped.
        let report = try await scenario.forager(["status"], expectStatus: 1)
        #expect(report.contains("last run: pid") && report.contains("stopped): ") && report.contains("no_such_table"), "\(report)")
        #expect(report.contains("the last forager run stopped with the error shown as its last error"), "\(report)")
    }

    @Test("no secret appears in any output: logs of run, sync and failures, status, /status and /metrics")
    func secretsNeverShown() async throws {
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE hives (id int PRIMARY KEY); INSERT INTO hives VALUES (1);", tables: ["hives"])
        let sourceSecret = "Src-S3cret-Pw-\(UInt32.random(in: 1000...9999))"
        let warehouseSecret = "Wh-S3cret-Pw-\(UInt32.random(in: 1000...9999))"
        // The test clusters trust every connection, so the passwords are accepted and ignored.
        let withSecrets = { (config: String) in
            config
                .replacingOccurrences(
                    of: "postgresql://postgres@127.0.0.1:\(scenario.source.port)/",
                    with: "postgresql://postgres:\(sourceSecret)@127.0.0.1:\(scenario.source.port)/"
                )
                .replacingOccurrences(
                    of: "postgresql://postgres@127.0.0.1:\(scenario.warehouse.port)/",
                    with: "postgresql://postgres:\(warehouseSecret)@127.0.0.1:\(scenario.warehouse.port)/")
        }
        let original = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        try withSecrets(original).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        #expect(try String(contentsOfFile: scenario.configPath, encoding: .utf8).contains(sourceSecret))

        var outputs: [String] = []
        outputs.append(try await scenario.forager(["sync", "--log-level", "trace"]))
        outputs.append(try await scenario.forager(["check", "--log-level", "trace"]))
        let running = try await scenario.launchStreaming(["run", "--log-level", "trace"])
        outputs.append(await httpGet(port: scenario.metricsPort, "/status")?.body ?? "")
        outputs.append(await httpGet(port: scenario.metricsPort, "/metrics")?.body ?? "")
        outputs.append(try await scenario.forager(["status", "--json"]))
        try await running.expectCleanStop()
        outputs.append(running.output)
        // Failures: a database that does not exist, on both sides.
        try withSecrets(original).replacingOccurrences(of: "/\(scenario.sourceDatabase)\"", with: "/no_such_db\"")
            .replacingOccurrences(of: "/\(scenario.warehouseDatabase)\"", with: "/no_such_wh\"")
            .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        outputs.append(try await scenario.forager(["sync"], expectStatus: 1))
        outputs.append(try await scenario.forager(["run"], expectStatus: 1))
        outputs.append(try await scenario.forager(["status"], expectStatus: 1))
        outputs.append(try await scenario.forager(["check"], expectStatus: 1))
        #expect(outputs.last?.contains("no_such_db") == true, "\(outputs.last ?? "")")
        for (index, output) in outputs.enumerated() {
            #expect(!output.contains(sourceSecret) && !output.contains(warehouseSecret), "output \(index) shows a secret:\n\(output)")
        }
    }
}
