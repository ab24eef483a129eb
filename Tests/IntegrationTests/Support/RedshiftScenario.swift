import ForagerDemo
import Foundation
import LibPQ
import PGOutput
import RedshiftTestSupport
import Testing

/// A ``Scenario`` whose warehouse is the Redshift emulation (schema `rs_<slot>`, rows staged in
/// moto's S3 under `cdc/<schema>/`), with the keys forager needs in its environment; no output of
/// a forager command may show one of them.
struct RedshiftScenario {
    let scenario: Scenario
    let redshift: EmulatedRedshift

    var schema: String { "rs_\(scenario.slot)" }
    var prefix: String { "cdc/\(schema)" }
    /// Where this slot's objects are staged.
    var slotFolder: String { "\(prefix)/\(scenario.slot)/" }
    /// The keys, as forager reads them from its environment.
    var keys: [String: String] { redshift.environment }

    /// A scenario (see ``Scenario/make``) with its config's warehouse section pointing at the
    /// emulation; `s3` replaces the staging section's flow mapping.
    static func make(
        sourceSQL: String, tables: [String] = [], mapping: String? = nil, batch: String = "", s3: String? = nil
    ) async throws -> RedshiftScenario {
        let redshift = try await EmulatedRedshift.shared()
        let scenario = try await Scenario.make(sourceSQL: sourceSQL, tables: tables, mapping: mapping, batch: batch)
        let made = RedshiftScenario(scenario: scenario, redshift: redshift)
        try made.writeWarehouse(s3: s3)
        return made
    }

    /// Rewrites the config's warehouse section to the emulation, staging as `s3` says (by default
    /// the emulation's bucket under ``prefix``).
    func writeWarehouse(s3: String? = nil) throws {
        let original = try String(contentsOfFile: scenario.directory + "/forager.yaml.original", encoding: .utf8)
        let postgres = "warehouse:\n  type: postgres\n  url: \"\(scenario.warehouseURL)\"\n  schema: analytics\n"
        guard original.contains(postgres) else {
            throw HarnessError("the scenario's config has no Postgres warehouse section:\n\(original)")
        }
        let moto = redshift.s3
        let staging = s3 ?? "{bucket: \(moto.bucket), region: \(moto.region), endpoint: \"\(moto.endpoint)\", prefix: \"\(prefix)\"}"
        try original.replacingOccurrences(
            of: postgres,
            with: """
                warehouse:
                  type: redshift
                  url: "\(redshift.url)"
                  schema: \(schema)
                  s3: \(staging)

                """
        ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
    }

    /// Records an issue when `text` shows the access key id or the secret.
    func expectNoKey(in text: String, of what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for key in [redshift.s3.credentials.accessKeyID, redshift.s3.credentials.secretAccessKey] where text.contains(key) {
            Issue.record("\(what) showed an AWS key:\n\(text)", sourceLocation: sourceLocation)
        }
    }

    /// Runs `forager <arguments>` to completion with the keys; expects `expectStatus` and no key in
    /// the output.
    @discardableResult
    func forager(
        _ arguments: [String], expectStatus: Int32 = 0, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let output = try await scenario.forager(arguments, expectStatus: expectStatus, environment: keys)
        expectNoKey(in: output, of: "forager \(arguments.joined(separator: " "))", sourceLocation: sourceLocation)
        return output
    }

    /// Runs `forager <arguments>` as ``forager(_:expectStatus:sourceLocation:)`` does and expects its
    /// output to contain each of `fragments`; returns the output.
    @discardableResult
    func expectOutput(
        of arguments: [String], status: Int32 = 0, containing fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let output = try await forager(arguments, expectStatus: status, sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(output.contains(fragment), "\(output)", sourceLocation: sourceLocation)
        }
        return output
    }

    /// Starts `forager run` with the keys; with `ready`, waits until it answers ready.
    func launchRun(ready: Bool = true) async throws -> ChildProcess {
        let process = try scenario.launch(["run"], environment: keys)
        guard ready else { return process }
        try await scenario.eventually("forager run ready") { await httpGet(port: scenario.metricsPort, "/readyz")?.status == 200 }
        return process
    }

    /// The rows of `select` on the source, NULL as "NULL".
    func sourceRows(_ select: String) async throws -> [[String]] {
        let connection = try await scenario.source.connect(scenario.sourceDatabase)
        defer { connection.close() }
        return try await connection.query(select).rows.map { $0.map { $0 ?? "NULL" } }
    }

    /// `SELECT columns FROM table ORDER BY order` on the source and on the warehouse (the table in
    /// ``schema``).
    func bothRows(_ table: String, columns: String, order: String = "id") async throws -> (source: [[String]], warehouse: [[String]]) {
        let source = try await sourceRows("SELECT \(columns) FROM \(table) ORDER BY \(order)")
        let warehouse = try await redshift.rows("SELECT \(columns) FROM \"\(schema)\".\(table) ORDER BY \(order)")
        return (source, warehouse)
    }

    /// Expects the warehouse's `table` to hold exactly the source's rows over `columns`.
    func expectSameRows(_ table: String, columns: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let rows = try await bothRows(table, columns: columns)
        #expect(rows.warehouse.count == rows.source.count, "\(table): row counts differ", sourceLocation: sourceLocation)
        #expect(rows.warehouse == rows.source, "\(table): rows differ", sourceLocation: sourceLocation)
    }

    /// Waits until the warehouse's `table` holds exactly the source's rows over `columns`.
    func eventuallySameRows(_ table: String, columns: String, timeout: Duration = .seconds(60)) async throws {
        try await scenario.eventually(timeout: timeout, "\(table) in Redshift to equal the source") {
            let rows = try await bothRows(table, columns: columns)
            return rows.warehouse == rows.source
        }
    }

    /// Runs a statement through the emulation.
    func onWarehouse(_ sql: String) async throws {
        let connection = try await redshift.connect()
        defer { connection.close() }
        try await connection.execute(sql)
    }

    /// The warehouse's checkpoint for the slot, nil when there is none.
    func checkpoint() async throws -> LSN? {
        let rows = try await redshift.rows("SELECT lsn FROM \"\(schema)\"._forager_state WHERE slot = '\(scenario.slot)'")
        return rows.first?.first.flatMap { UInt64($0) }.map { LSN($0) }
    }

    /// The recorded state of each mapped table, sorted by table name.
    func tableStates() async throws -> [String] {
        try await redshift.rows(
            "SELECT source_table || '=' || state FROM \"\(schema)\"._forager_tables WHERE slot = '\(scenario.slot)' ORDER BY source_table"
        ).map { $0.joined() }
    }

    /// Prometheus text from the running process's `/metrics`, checked for keys.
    func metrics() async throws -> PrometheusText {
        guard let (status, body) = await httpGet(port: scenario.metricsPort, "/metrics"), status == 200 else {
            throw HarnessError("/metrics did not answer")
        }
        expectNoKey(in: body, of: "/metrics")
        return try PrometheusText(body)
    }
}
