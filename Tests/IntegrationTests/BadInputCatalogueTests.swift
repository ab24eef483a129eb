import ForagerDemo
import Foundation
import Glibc
import Testing

/// The source table every case maps, as the good sync copies it.
let cataloguedHives =
    "CREATE TABLE hives (id int PRIMARY KEY, name text, doc jsonb); INSERT INTO hives VALUES (1, 'a', '{\"w\": 1}'), (2, '', NULL);"

/// A change to `hives` written on the source after the good sync and before the failing command,
/// in one transaction: the command must apply it whole or not at all.
let pendingHivesChange = """
    BEGIN;
    INSERT INTO hives VALUES (3, 'pending', '{"w": 3}');
    UPDATE hives SET name = 'changed', doc = '{"w": 10}' WHERE id = 1;
    DELETE FROM hives WHERE id = 2;
    COMMIT;
    """

/// How the harness undoes a case's breakage, the way the command's output says to, before the
/// good sync that must bring the pending change over whole.
struct Repair: Sendable {
    /// Where the good sync then puts `hives`.
    var target = "analytics.hives"
    var steps: @Sendable (Scenario) async throws -> Void

    /// The good configuration and mapping back (the failing command's environment is not used again).
    static let goodConfiguration = Repair { scenario in try restoreGoodConfiguration(scenario) }

    /// The good configuration back, then the `forager` commands the output names.
    static func running(_ commands: [String]...) -> Repair {
        Repair { scenario in
            try restoreGoodConfiguration(scenario)
            for command in commands { try await scenario.forager(command) }
        }
    }

    /// The good configuration back, then `sql` on the warehouse database.
    static func onWarehouse(_ sql: @escaping @Sendable (Scenario) -> String) -> Repair {
        Repair { scenario in
            try restoreGoodConfiguration(scenario)
            try await scenario.warehouse.execute(sql(scenario), database: scenario.warehouseDatabase)
        }
    }
}

/// Puts back forager.yaml as `Scenario.make` wrote it, and the mapping of `hives` alone.
func restoreGoodConfiguration(_ scenario: Scenario) throws {
    let original = try String(contentsOfFile: scenario.directory + "/forager.yaml.original", encoding: .utf8)
    try original.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
    try scenario.writeMapping("tables:\n  - source: hives\n")
}

/// One bad input: what is broken, the command run, its exit status, and what its output must say
/// (the offending thing, and what to do); then what the command left in the warehouse while a
/// source change was pending, and the repair after which a good sync brings the source over whole.
struct BadInput: Sendable, CustomTestStringConvertible {
    /// What the warehouse holds after the command.
    enum Aftermath: Sendable {
        /// Nothing new: the checkpoint and the rows of `analytics.hives` are as before the command,
        /// the pending change not applied even in part; after `repair`, a good sync brings it over.
        case untouched(repair: Repair = .goodConfiguration)
        /// The command stopped the table (and may move the checkpoint past changes the table no
        /// longer takes): its rows are as before; after `repair`, a good sync brings it over.
        case tableStopped(repair: Repair)
        /// A `forager run` that `prepare` started streams beside the command: the pending change
        /// is in the warehouse whole or not at all; after `repair`, a good sync brings it over.
        case wholeOrNothing(repair: Repair = .goodConfiguration)
        /// The command is a sync that succeeds: `analytics.hives` equals the source.
        case synced
    }

    var name: String
    var sourceSQL = cataloguedHives
    /// The mapping file for the failing command (the good sync maps `hives` only).
    var mapping = "tables:\n  - source: hives\n"
    /// Rewrites forager.yaml for the failing command.
    var config: @Sendable (Scenario, String) -> String = { $1 }
    var environment: @Sendable (Scenario) throws -> [String: String] = { _ in [:] }
    /// Breaks something before the command; returns a process to stop afterwards, if it starts one.
    var prepare: @Sendable (Scenario) async throws -> ChildProcess? = { _ in nil }
    var command = ["sync"]
    var status: Int32 = 1
    var expect: [String]
    /// What the output must not show (a password).
    var reject: [String] = []
    var goodSyncFirst = true
    var aftermath = Aftermath.untouched()
    /// The columns of `analytics.hives` whose rows must be as before (`prepare` may drop one).
    var columns = ["id", "name", "doc"]
    /// More checks after the command, before the repair.
    var verify: @Sendable (Scenario) async throws -> Void = { _ in }

    var testDescription: String { name }
}

/// A cluster with `wal_level = replica`, started once for the catalogue.
actor ReplicaLevelCluster {
    static let shared = ReplicaLevelCluster()
    private var cluster: LocalCluster?
    func get() throws -> LocalCluster {
        if let cluster { return cluster }
        let started = try LocalCluster.startForTests(name: "catalogue-replica", settings: ["wal_level": "replica"])
        cluster = started
        return started
    }
}

/// A role that must give a password (scram), on the shared source cluster.
enum PasswordRole {
    static func ensure(_ cluster: LocalCluster) async throws {
        try await cluster.execute(
            """
            DO $$ BEGIN CREATE ROLE catalogue_pw LOGIN REPLICATION PASSWORD 'the-password'; EXCEPTION WHEN duplicate_object THEN NULL; END $$
            """, database: "postgres")
        let hba = cluster.directory + "/data/pg_hba.conf"
        let current = try String(contentsOfFile: hba, encoding: .utf8)
        guard !current.contains("catalogue_pw") else { return }
        try ("host all catalogue_pw 127.0.0.1/32 scram-sha-256\n" + current).write(toFile: hba, atomically: false, encoding: .utf8)
        try await cluster.execute("SELECT pg_reload_conf()", database: "postgres")
    }
}

@Suite("Bad-input catalogue", .serialized, .cleansUpScenarios)
struct BadInputCatalogueTests {
    @Test("the catalogue has at least 40 cases")
    func size() { #expect(badInputs.count >= 40) }

    @Test(
        "each bad input gets its exit code, an error naming the thing and the fix, and leaves no change half-applied", arguments: badInputs)
    func badInput(_ input: BadInput) async throws {
        let scenario = try await Scenario.make(sourceSQL: input.sourceSQL, tables: ["hives"])
        let allColumns = ["id", "name", "doc"]
        var synced: WarehouseState?
        if input.goodSyncFirst {
            try await scenario.forager(["sync"])
            synced = try await WarehouseState.read(scenario, columns: allColumns)
            try await scenario.onSource(pendingHivesChange)
            let source = try await scenario.sourceScalar(Scenario.digestSQL(table: "hives", columns: allColumns, key: ["id"]))
            #expect(source != synced?.digest, "\(input.name): the pending change changes nothing the check could see")
        }
        try scenario.writeMapping(input.mapping)
        let config = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        try input.config(scenario, config).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        let running = try await input.prepare(scenario)
        let before = try await WarehouseState.read(scenario, columns: input.columns)
        let output = try await scenario.forager(
            input.command, expectStatus: input.status, timeout: .seconds(120), environment: try input.environment(scenario))
        if let running {
            running.signal(SIGKILL)
            _ = try await running.wait(timeout: .seconds(30))
        }
        for expected in input.expect {
            #expect(output.contains(expected), "\(input.name): expected \(expected.debugDescription) in:\n\(output)")
        }
        for rejected in input.reject {
            #expect(!output.contains(rejected), "\(input.name): the output shows \(rejected.debugDescription):\n\(output)")
        }
        let after = try await WarehouseState.read(scenario, columns: input.columns)
        let repair: Repair
        switch input.aftermath {
        case .untouched(let then):
            #expect(
                after.checkpoint == before.checkpoint,
                "\(input.name): the checkpoint moved from \(before.checkpoint ?? "none") to \(after.checkpoint ?? "none")")
            #expect(
                after.digest == before.digest,
                "\(input.name): the rows of analytics.hives changed: \(before.digest) before, \(after.digest) after")
            repair = then
        case .tableStopped(let then):
            #expect(
                after.digest == before.digest,
                "\(input.name): the rows of the stopped table changed: \(before.digest) before, \(after.digest) after")
            repair = then
        case .wholeOrNothing(let then):
            let whole = try await scenario.sourceScalar(Scenario.digestSQL(table: "hives", columns: input.columns, key: ["id"]))
            #expect(
                after.digest == synced?.digest || after.digest == whole,
                "\(input.name): the pending change is half-applied: \(after.digest)")
            repair = then
        case .synced:
            try await scenario.expectSameContent(source: "hives", target: "analytics.hives", columns: allColumns)
            try await input.verify(scenario)
            return
        }
        try await input.verify(scenario)
        try await repair.steps(scenario)
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: "hives", target: repair.target, columns: allColumns)
    }
}

/// The warehouse checkpoint and a digest of the rows of `analytics.hives`; a table that is not
/// there reads as empty.
struct WarehouseState {
    var checkpoint: String?
    var digest: String

    static func read(_ scenario: Scenario, columns: [String]) async throws -> WarehouseState {
        func exists(_ table: String) async throws -> Bool {
            try await scenario.warehouseScalar("SELECT to_regclass('\(table)') IS NOT NULL") == "t"
        }
        let checkpoint = try await exists("analytics._forager_state") ? try await scenario.checkpoint() : nil
        let digest =
            try await exists("analytics.hives")
            ? try await scenario.warehouseScalar(Scenario.digestSQL(table: "analytics.hives", columns: columns, key: ["id"])) ?? "" : "0:"
        return WarehouseState(checkpoint: checkpoint, digest: digest)
    }
}

/// One bad input with a ClickHouse warehouse: what is broken, and what the failing `forager sync`
/// must say; a change to `hives` is pending on the source (with `badChange`, in one transaction),
/// and must be in ClickHouse whole after the repair and not at all before.
struct ClickHouseBadInput: Sendable, CustomTestStringConvertible {
    var name: String
    /// Rewrites forager.yaml for the failing command.
    var config: @Sendable (Scenario, String) -> String = { $1 }
    /// Breaks something before the command.
    var prepare: @Sendable (Scenario, ClickHouseServer) async throws -> Void = { _, _ in }
    /// SQL in the pending transaction that writes a value ClickHouse cannot hold.
    var badChange = ""
    var expect: [String]
    /// The mapping the output says to write, when the fix is a mapping change (the harness then
    /// also runs the `forager resync --table public.hives` it names); nil when the good
    /// configuration is the fix.
    var fixedMapping: String?
    /// A query of the repaired warehouse (`$db` for its database) and what it must return.
    var arrived: (sql: String, value: String)?
    /// More checks after the command, before the repair.
    var verify: @Sendable (Scenario, ClickHouseServer) async throws -> Void = { _, _ in }

    var testDescription: String { name }
}

/// A database of another application on the ClickHouse server, with a table named like a mapped one.
let otherApplicationDatabase = "catalogue_other_app"

let clickHouseBadInputs: [ClickHouseBadInput] = [
    ClickHouseBadInput(
        name: "ClickHouse port with nothing listening",
        config: { _, config in
            config.replacingOccurrences(
                of: #"url: "http://127\.0\.0\.1:[0-9]+""#, with: #"url: "http://127.0.0.1:\#((try? LocalCluster.freePort()) ?? 9)""#,
                options: .regularExpression)
        },
        expect: ["cannot reach the ClickHouse server at http://127.0.0.1:", "Check that it runs and that warehouse.url is right"]),
    ClickHouseBadInput(
        name: "ClickHouse database of another application, with a table of the mapped name",
        config: { scenario, config in
            config.replacingOccurrences(of: "database: \(scenario.warehouseDatabase)", with: "database: \(otherApplicationDatabase)")
        },
        prepare: { _, server in
            try await server.query("CREATE DATABASE IF NOT EXISTS \(otherApplicationDatabase)")
            try await server.query("DROP TABLE IF EXISTS \(otherApplicationDatabase).hives")
            try await server.query("CREATE TABLE \(otherApplicationDatabase).hives (id Int32, name String) ENGINE = MergeTree ORDER BY id")
            try await server.query("INSERT INTO \(otherApplicationDatabase).hives VALUES (7, 'theirs')")
        },
        expect: [
            "ClickHouse table \(otherApplicationDatabase).hives exists but has no _forager_version column, so it was not made by Forager",
            "Map the source table to another target name, or drop the table",
        ],
        verify: { _, server in
            let rows = try await server.query("SELECT id, name FROM \(otherApplicationDatabase).hives FORMAT TabSeparated")
            #expect(rows == "7\ttheirs\n")
            let columns = try await server.query(
                "SELECT name FROM system.columns WHERE database = '\(otherApplicationDatabase)' AND table = 'hives' ORDER BY name FORMAT TabSeparated"
            )
            #expect(columns == "id\nname\n", "Forager changed the other application's table")
        }),
    ClickHouseBadInput(
        name: "ClickHouse ca_file that does not exist",
        config: { _, config in
            config.replacingOccurrences(of: "  type: clickhouse\n", with: "  type: clickhouse\n  ca_file: /nonexistent/forager-ca.pem\n")
                .replacingOccurrences(of: #"url: "http://"#, with: #"url: "https://"#)
        },
        expect: [
            "warehouse.ca_file /nonexistent/forager-ca.pem cannot be read", "Give the path of a PEM file with the certificate authority",
        ]),
    ClickHouseBadInput(
        name: "NaN in a numeric column that ClickHouse keeps as Decimal",
        badChange: "UPDATE hives SET weight = 'NaN' WHERE id = 3;",
        expect: [
            "column \"weight\" of public.hives has the value 'NaN', NaN, which ClickHouse's Decimal cannot hold",
            "add types: {weight: text} to the table's mapping, then resync the table (forager resync --table public.hives)",
        ],
        fixedMapping: "tables:\n  - source: hives\n    types: {weight: text}\n",
        arrived: ("SELECT weight FROM $db.hives_current WHERE id = 3", "NaN")),
    ClickHouseBadInput(
        name: "date before ClickHouse's Date range",
        badChange: "INSERT INTO hives VALUES (4, 'moon', 4, '1969-07-20', '{}');",
        expect: [
            "column \"day\" of public.hives has the value '1969-07-20', outside the range of ClickHouse's Date (1970-01-01 to 2105-12-31)",
            "add types: {day: text} to the table's mapping, then resync the table (forager resync --table public.hives)",
        ],
        fixedMapping: "tables:\n  - source: hives\n    types: {day: text}\n",
        arrived: ("SELECT day FROM $db.hives_current WHERE id = 4", "1969-07-20")),
    ClickHouseBadInput(
        name: "append_only mapping of a table whose ClickHouse table was made for its key",
        prepare: { scenario, _ in try scenario.writeMapping("tables:\n  - source: hives\n    append_only: true\n") },
        expect: [
            "hives has no _forager_row column, which append_only tables need: it was made for a table with a key",
            "Copy the table again: forager resync --table public.hives", "Or map the table without append_only",
        ],
        fixedMapping: "tables:\n  - source: hives\n"),
    ClickHouseBadInput(
        name: "two-dimensional array",
        badChange: "INSERT INTO hives VALUES (5, 'grid', 5, '2024-05-01', '{{1,2},{3,4}}');",
        expect: [
            "column \"frames\" of public.hives has the value '{{1,2},{3,4}}', not a one-dimensional array",
            "add types: {frames: text} to the table's mapping, then resync the table (forager resync --table public.hives)",
        ],
        fixedMapping: "tables:\n  - source: hives\n    types: {frames: text}\n",
        arrived: ("SELECT frames FROM $db.hives_current WHERE id = 5", "{{1,2},{3,4}}")),
]

/// What ClickHouse holds for the scenario: its checkpoint, and the rows of `hives_current`.
struct ClickHouseState: Equatable {
    var checkpoint: String
    var rows: String

    static func read(_ server: ClickHouseServer, _ scenario: Scenario) async throws -> ClickHouseState {
        let database = "`\(scenario.warehouseDatabase)`"
        return ClickHouseState(
            checkpoint: try await server.query(
                "SELECT argMax(lsn_text, lsn) FROM \(database)._forager_state WHERE slot = '\(scenario.slot)' FORMAT TabSeparated"),
            rows: try await server.query(
                "SELECT id, name, weight, day, frames FROM \(database).hives_current ORDER BY id FORMAT TabSeparated"))
    }

    /// Each row's key and name, as `rows` would show them were ClickHouse equal to the source.
    static func sourceKeysAndNames(_ scenario: Scenario) async throws -> String {
        try await scenario.sourceScalar("SELECT coalesce(string_agg(id || E'\\t' || name, E'\\n' ORDER BY id), '') FROM hives") ?? ""
    }

    var keysAndNames: String {
        rows.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).prefix(2).joined(separator: "\t") }
            .joined(separator: "\n")
    }
}

@Suite("Bad-input catalogue, ClickHouse", .serialized, .cleansUpScenarios)
struct ClickHouseBadInputCatalogueTests {
    @Test(
        "each bad input to a ClickHouse warehouse gets exit 1, an error naming the thing and the fix, and leaves no change half-applied",
        arguments: clickHouseBadInputs)
    func badInput(_ input: ClickHouseBadInput) async throws {
        let server = try await ClickHouseServer.shared()
        let scenario = try await Scenario.make(
            sourceSQL: """
                CREATE TABLE hives (id int PRIMARY KEY, name text, weight numeric(8,3), day date, frames int[] NOT NULL DEFAULT '{}');
                INSERT INTO hives VALUES (1, 'a', 1.5, '2024-01-01', '{1,2}'), (2, 'b', 2.25, '2024-01-02', '{3}');
                """,
            tables: ["hives"], clickHouse: server)
        try await scenario.forager(["sync"])
        let synced = try await ClickHouseState.read(server, scenario)
        try await scenario.onSource(
            """
            BEGIN;
            INSERT INTO hives VALUES (3, 'pending', 3.125, '2024-03-01', '{4,NULL}');
            UPDATE hives SET name = 'changed', frames = '{}' WHERE id = 1;
            DELETE FROM hives WHERE id = 2;
            \(input.badChange)
            COMMIT;
            """)
        #expect(
            try await ClickHouseState.sourceKeysAndNames(scenario) != synced.keysAndNames,
            "\(input.name): the pending change changes nothing the check could see")
        let config = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        try input.config(scenario, config).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        try await input.prepare(scenario, server)
        let output = try await scenario.forager(["sync"], expectStatus: 1, timeout: .seconds(120))
        for expected in input.expect {
            #expect(output.contains(expected), "\(input.name): expected \(expected.debugDescription) in:\n\(output)")
        }
        let after = try await ClickHouseState.read(server, scenario)
        #expect(
            after.checkpoint == synced.checkpoint, "\(input.name): the checkpoint moved from \(synced.checkpoint) to \(after.checkpoint)")
        #expect(
            after.rows == synced.rows, "\(input.name): the rows of hives_current changed:\n\(synced.rows)\nbefore, after:\n\(after.rows)")
        try await input.verify(scenario, server)

        try restoreGoodConfiguration(scenario)
        if let fixedMapping = input.fixedMapping {
            try scenario.writeMapping(fixedMapping)
            try await scenario.forager(["resync", "--table", "public.hives"])
        }
        try await scenario.forager(["sync"])
        let repaired = try await ClickHouseState.read(server, scenario)
        #expect(
            repaired.keysAndNames == (try await ClickHouseState.sourceKeysAndNames(scenario)),
            "\(input.name): after the repair:\n\(repaired.rows)")
        if let arrived = input.arrived {
            let value = try await server.query(
                arrived.sql.replacingOccurrences(of: "$db", with: "`\(scenario.warehouseDatabase)`") + " FORMAT TabSeparated")
            #expect(value == arrived.value + "\n", "\(input.name): \(arrived.sql)")
        }
        let validation = try await scenario.forager(["validate", "--wait", "5"])
        #expect(validation.contains("public.hives: equal"), "\(input.name): \(validation)")
    }
}
