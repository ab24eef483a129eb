import ForagerDemo
import Foundation
import PGOutput
import RedshiftTestSupport
import Testing

@testable import ForagerCore
@testable import RedshiftWarehouse

/// `forager validate`'s comparator against the emulation: source rows (COPY text, as validate
/// reads them) loaded into the twin through S3, read back beside the warehouse rows, and compared
/// as the pipeline's twin validator compares them: by key, content without the version.
@Suite("Redshift comparator against the emulation", .serialized)
struct RedshiftComparatorTests {
    /// A table with a column of each kind of the type mapping.
    static func typed(_ schema: String) -> MappedTable {
        let types = [
            ("id", "integer"), ("note", "text"), ("amount", "numeric(12,4)"), ("doc", "jsonb"), ("raw", "json"), ("blob", "bytea"),
            ("at", "timestamp with time zone"), ("local", "timestamp(3) without time zone"), ("day", "date"), ("tags", "text[]"),
            ("ref", "uuid"), ("span", "interval"), ("flag", "boolean"), ("ratio", "double precision"), ("big", "numeric"),
        ]
        return MappedTable(
            source: TableName(schema: "public", name: "typed"), target: TableName(schema: schema, name: "typed"),
            columns: types.map { SourceColumn(name: $0.0, sqlType: $0.1, notNull: $0.0 == "id") }, keyColumns: ["id"])
    }

    /// Rows of ``typed(_:)`` as PostgreSQL prints their values (nil for NULL).
    static let typedRows: [[String?]] = [
        [
            "1", "plain", "12.5000", "{\"k\": \"v\"}", "{\"a\":1,  \"b\":[true,null]}", "\\x00ff", "2024-05-01 10:00:00.123456+00",
            "2024-05-01 10:00:00.123", "2024-05-01", "{a,\"b c\",NULL}", "0e0f9a52-8a4e-4b8e-9c1e-2f1d7c1b2a3c", "1 day 02:03:04.5", "t",
            "0.1", "123456789012345678901234567890.123456789",
        ],
        [
            "2", "\"quoted\", a\tb\\c\r\nnext line, ünïcödé 🐝", "-0.0001", "{\"s\": \"x\\ty \\\"q\\\"\"}", "[]", "\\x",
            "2024-05-01 12:00:00+02",
            "1999-12-31 23:59:59.999", "1999-12-31", "{}", nil, "-00:00:01", "f", "-1.5e-300", "0",
        ],
        ["3", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil],
        ["4", "", "0.0000", "null", "\"s\"", nil, "2024-05-01 10:00:00+00", nil, nil, "{{1,2},{3,4}}", nil, nil, nil, "NaN", "-1.5"],
    ]

    /// A warehouse in `schema` with `tables` prepared, and a comparator on a session of its own.
    private func prepared(_ schema: String, _ tables: [MappedTable]) async throws -> (
        EmulatedRedshift, RedshiftWarehouse, RedshiftWarehouse
    ) {
        let (redshift, warehouse) = try await EmulatedRedshift.prepared(schema, tables)
        return (redshift, warehouse, try await redshift.warehouse(schema: schema))
    }

    /// Loads `rows` into the warehouse table as a snapshot does.
    private func snapshot(_ warehouse: RedshiftWarehouse, _ table: MappedTable, _ rows: [[String?]], lsn: String) async throws {
        try await warehouse.beginSnapshot()
        try await warehouse.startLoad(table, binary: false)
        try await warehouse.load(Self.copyText(rows, position: lsn))
        #expect(try await warehouse.endLoad() == rows.count)
        try await warehouse.commit(checkpoint: Fixtures.lsn(1000))
    }

    /// Loads `rows` into the twin in pieces of 37 bytes, so that rows and escapes are cut.
    private func loadTwin(_ comparator: RedshiftWarehouse, _ table: MappedTable, _ rows: [[String?]]) async throws {
        let bytes = Self.copyText(rows, position: "0/5")
        let pieces = stride(from: 0, to: bytes.count, by: 37).map { Array(bytes[$0..<min($0 + 37, bytes.count)]) }
        try await comparator.loadComparisonChunk(table, pieces)
    }

    /// COPY text of `rows`, each followed by the position, as validate reads the source.
    static func copyText(_ rows: [[String?]], position: String) -> [UInt8] {
        func escaped(_ value: String?) -> String {
            guard let value else { return "\\N" }
            return value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t")
                .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
        }
        return Array(rows.map { ($0 + [position]).map(escaped).joined(separator: "\t") + "\n" }.joined().utf8)
    }

    /// How the rows of each side differ, by key (the first `width` fields), as the pipeline's twin
    /// validator tells them apart: content compared without the last field (the version).
    static func differences(_ lines: (source: [String], warehouse: [String]), width: Int = 1) -> [String: String] {
        func index(_ lines: [String]) -> [String: String] {
            var rows: [String: String] = [:]
            for line in lines {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                rows[fields.prefix(width).joined(separator: ", ")] = fields.dropLast().joined(separator: "\t")
            }
            return rows
        }
        let source = index(lines.source), warehouse = index(lines.warehouse)
        var found: [String: String] = [:]
        for key in Set(source.keys).union(warehouse.keys) where source[key] != warehouse[key] {
            found[key] = source[key] == nil ? "extra" : warehouse[key] == nil ? "missing" : "different"
        }
        return found
    }

    @Test("equal rows print equally on both sides, for every kind of the type mapping, whether a snapshot or the stream wrote them")
    func everyType() async throws {
        let table = Self.typed("rs_cmp_types")
        let (redshift, warehouse, comparator) = try await prepared("rs_cmp_types", [table])
        var first = Self.typedRows
        first[1][1] = "before the stream"
        try await snapshot(warehouse, table, first, lsn: "0/10")
        var update = TableChanges(table: table, keyIndexes: [0])
        try update.update(
            old: nil, new: TupleData(columns: Self.typedRows[1].map { $0.map(Fixtures.text) ?? .null }), lsn: Fixtures.lsn(20))
        var set = ChangeSet()
        set.steps = [.rows([update])]
        try await warehouse.apply(set)
        try await warehouse.commit(checkpoint: Fixtures.lsn(1001))

        #expect(comparator.skipReason(table) == nil)
        #expect(comparator.ordersKeysAlike(["integer"], sourceTextBytewise: false))
        try await comparator.beginComparison(table)
        try await loadTwin(comparator, table, Self.typedRows)
        let lines = try await comparator.comparisonRows(table, in: .range(first: true, last: true))
        #expect(lines.source.count == 4 && lines.warehouse.count == 4)
        #expect(Self.differences(lines).isEmpty, "\(lines)")
        #expect(lines.source.allSatisfy { $0.split(separator: "\t", omittingEmptySubsequences: false).count == 17 }, "\(lines.source)")
        #expect(lines.warehouse[1].hasPrefix("2\t\"quoted\", a\\tb\\\\c\\r\\nnext line, ünïcödé 🐝\t-0.0001\t"), "\(lines.warehouse[1])")
        #expect(lines.warehouse[1].hasSuffix("\t1\t20") && lines.source[1].hasSuffix("\t1\t0"))
        #expect(lines.warehouse[0].contains("\t00ff\t") && lines.warehouse[2].hasPrefix("3\t\\N\t\\N\t"), "\(lines.warehouse)")

        // A value changed by hand in any column is found, with its key.
        for (column, value) in [
            ("blob", "from_hex('00fe')"), ("doc", "json_parse('{\"k\": \"w\"}')"), ("at", "NULL"), ("note", "'plain '"),
        ] {
            _ = try await redshift.rows("UPDATE \"rs_cmp_types\".\"typed\" SET \"\(column)\" = \(value) WHERE \"id\" = 1")
            let changed = try await comparator.comparisonRows(table, in: .range(first: true, last: true))
            #expect(Self.differences(changed) == ["1": "different"], "\(column): \(changed)")
            _ = try await redshift.rows("DELETE FROM \"rs_cmp_types\".\"typed\" WHERE \"id\" = 1")
            try await snapshot(warehouse, table, [Self.typedRows[0]], lsn: "0/10")
        }
        try await comparator.endComparison(table)
        #expect(try await redshift.s3Objects(prefix: "cdc/rs_cmp_types/").isEmpty)
    }

    @Test("by key range: a changed value, a missing row, an extra row and a key held twice are found with their keys")
    func byRange() async throws {
        let table = Fixtures.orders(schema: "rs_cmp_range")
        let (redshift, warehouse, comparator) = try await prepared("rs_cmp_range", [table])
        let rows: [[String?]] = (1...6).map { id in
            ["\(id)", "note \(id)", "\(id).5000", "{\"n\": \(id)}", "\\x0\(id)", "2024-01-0\(id) 00:00:00+00", "{x}"]
        }
        try await snapshot(warehouse, table, rows, lsn: "0/10")
        try await comparator.beginComparison(table)
        try await loadTwin(comparator, table, Array(rows[0..<3]))
        #expect(Self.differences(try await comparator.comparisonRows(table, in: .range(first: true, last: false))).isEmpty)
        try await comparator.advanceComparison(table)
        try await loadTwin(comparator, table, Array(rows[3...]))
        #expect(Self.differences(try await comparator.comparisonRows(table, in: .range(first: false, last: true))).isEmpty)

        let orders = "\"rs_cmp_range\".\"orders\""
        let columns = "\"id\", \"note\", \"amount\", \"doc\", \"blob\", \"at\", \"tags\", \"_forager_lsn\""
        for statement in [
            "UPDATE \(orders) SET \"amount\" = 2.5001 WHERE \"id\" = 2",
            "DELETE FROM \(orders) WHERE \"id\" = 4",
            "INSERT INTO \(orders) (\(columns)) SELECT \(columns) FROM \(orders) WHERE \"id\" = 5",
            "INSERT INTO \(orders) (\"id\", \"note\", \"_forager_lsn\") VALUES (0, 'before the first', 1), (9, 'after the last', 1)",
        ] {
            _ = try await redshift.rows(statement)
        }
        try await comparator.endComparison(table)
        try await comparator.beginComparison(table)
        try await loadTwin(comparator, table, Array(rows[0..<3]))
        let firstChunk = try await comparator.comparisonRows(table, in: .range(first: true, last: false))
        #expect(Self.differences(firstChunk) == ["0": "extra", "2": "different"], "\(firstChunk)")
        try await comparator.advanceComparison(table)
        try await loadTwin(comparator, table, Array(rows[3...]))
        let lastChunk = try await comparator.comparisonRows(table, in: .range(first: false, last: true))
        #expect(Self.differences(lastChunk) == ["4": "missing", "5": "different", "9": "extra"], "\(lastChunk)")
        try await comparator.endComparison(table)
    }

    @Test("a composite text key is compared by set; warehouse keys no chunk had are listed page by page, in PostgreSQL's text form")
    func bySetWithCompositeKey() async throws {
        let table = MappedTable(
            source: TableName(schema: "public", name: "readings"), target: TableName(schema: "rs_cmp_set", name: "readings"),
            columns: [
                SourceColumn(name: "hive", sqlType: "text", notNull: true),
                SourceColumn(name: "at", sqlType: "timestamp with time zone", notNull: true),
                SourceColumn(name: "value", sqlType: "numeric(8,2)", notNull: false),
            ], keyColumns: ["hive", "at"])
        let (redshift, warehouse, comparator) = try await prepared("rs_cmp_set", [table])
        let rows: [[String?]] = (1...6).map { ["hive \($0 % 3)", "2024-01-01 0\($0):00:00+00", "\($0).25"] }
        try await snapshot(warehouse, table, rows, lsn: "0/10")
        let readings = "\"rs_cmp_set\".\"readings\""
        for statement in [
            "DELETE FROM \(readings) WHERE \"hive\" = 'hive 1' AND \"at\" = '2024-01-01 04:00:00+00'",
            "UPDATE \(readings) SET \"value\" = NULL WHERE \"hive\" = 'hive 2' AND \"at\" = '2024-01-01 02:00:00+00'",
            "INSERT INTO \(readings) (\"hive\", \"at\", \"value\", \"_forager_lsn\") VALUES ('hive\t9', '2024-01-01 00:00:00+00', 1, 16)",
            "INSERT INTO \(readings) (\"hive\", \"at\", \"value\", \"_forager_lsn\") VALUES ('hive 9', '2024-01-02 00:00:00+00', 1, 99)",
        ] {
            _ = try await redshift.rows(statement)
        }
        #expect(!comparator.ordersKeysAlike(["text", "timestamp with time zone"], sourceTextBytewise: true))
        try await comparator.beginComparison(table)
        var found: [String: String] = [:]
        for chunk in [Array(rows[0..<3]), Array(rows[3...])] {
            try await loadTwin(comparator, table, chunk)
            found.merge(Self.differences(try await comparator.comparisonRows(table, in: .twinKeys), width: 2)) { $1 }
            try await comparator.recordSeenKeys(table)
        }
        #expect(
            found == ["hive 2, 2024-01-01 02:00:00+00": "different", "hive 1, 2024-01-01 04:00:00+00": "missing"], "\(found)")

        // As the validator walks them: each page's unseen keys compared with the source's rows of
        // those keys (none here).
        var after: [String]?
        var pages = 0, unseen: [[String]] = [], extra: [String: String] = [:]
        while let page = try await comparator.unseenKeys(table, after: after, size: 2, writtenThrough: LSN(20)) {
            pages += 1
            after = page.last
            guard !page.keys.isEmpty else { continue }
            unseen += page.keys
            try await comparator.loadComparisonChunk(table, [])
            let lines = try await comparator.comparisonRows(table, in: .unseenKeys)
            #expect(lines.source.isEmpty && lines.warehouse.count == page.keys.count, "\(lines)")
            extra.merge(Self.differences(lines, width: 2)) { $1 }
        }
        // Six warehouse rows were written through 0/14 (the one written at 0/63 waits for the next validate).
        #expect(pages == 3 && unseen == [["hive\t9", "2024-01-01 00:00:00+00"]], "\(pages) pages: \(unseen)")
        #expect(extra == ["hive\\t9, 2024-01-01 00:00:00+00": "extra"], "\(extra)")
        try await comparator.endComparison(table)
        try await expectRedshiftGrammar(redshift)
    }

    @Test("a source value Redshift cannot hold stops the comparison with the table, the column and the row's key")
    func unholdableValue() async throws {
        let table = Fixtures.orders(schema: "rs_cmp_nan")
        let (_, _, comparator) = try await prepared("rs_cmp_nan", [table])
        try await comparator.beginComparison(table)
        let error = await #expect(throws: ForagerError.self) {
            try await loadTwin(comparator, table, [["9", "n", "NaN", nil, nil, nil, nil]])
        }
        let message = error?.message ?? ""
        #expect(message.contains("column \"amount\" of public.orders") && message.contains("(\"id\")=(9)"), "\(message)")
        try await comparator.endComparison(table)
    }

    @Test("tables without a key and append-only tables are not compared, and say why")
    func skipped() async throws {
        let comparator = try await EmulatedRedshift.shared().warehouse(schema: "rs_cmp_skip")
        var keyless = Fixtures.orders()
        keyless.identity = .fullRow
        keyless.keyColumns = []
        #expect(comparator.skipReason(keyless)?.contains("has none") == true)
        keyless.identity = .appendOnly
        #expect(comparator.skipReason(keyless)?.contains("append_only") == true)
    }

    /// Every statement of the comparison tests that the emulation accepted parses with sqlfluff's
    /// redshift grammar.
    private func expectRedshiftGrammar(_ redshift: EmulatedRedshift) async throws {
        let log = try String(contentsOfFile: redshift.statementsLog, encoding: .utf8)
        let ours = log.split(separator: "\n").filter { line in
            ["rs_cmp_", "_forager_validate_", "_forager_stage_0"].contains { line.contains($0) }
        }
        #expect(ours.contains { $0.contains("_forager_validate_seen") } && ours.contains { $0.contains("COPY \\\"_forager_stage_0\\\"") })
        let folder = FileManager.default.temporaryDirectory.path
        let filtered = folder + "/forager-comparator-statements-\(getpid()).jsonl", output = filtered + ".out"
        defer {
            try? FileManager.default.removeItem(atPath: filtered)
            try? FileManager.default.removeItem(atPath: output)
        }
        try ours.joined(separator: "\n").write(toFile: filtered, atomically: true, encoding: .utf8)
        let check = try ChildProcess(
            EmulatedRedshift.repositoryRoot + "/.build-venv/aws/bin/python",
            [EmulatedRedshift.repositoryRoot + "/Tests/IntegrationTests/Support/Redshift/check_redshift_sql.py", filtered],
            outputPath: output)
        #expect(try await check.wait(timeout: .seconds(300)) == 0, "\(check.output)")
    }
}
