import ForagerCore
import Testing

@testable import RedshiftWarehouse

@Suite("Redshift table layout against the mapping")
struct RedshiftTableLayoutTests {
    private static let table = TableName(schema: "analytics", name: "samples")

    @Test("pg_table_def rows give the DISTKEY column and the SORTKEY columns in order; a negative position is an interleaved key")
    func fromCatalogue() {
        let compound = RedshiftTableLayout(
            columns: [("id", "f", 0), ("taken_at", "f", 2), ("hive_id", "t", 1)], distStyle: "KEY(hive_id)")
        #expect(compound == RedshiftTableLayout(distKey: "hive_id", sortKey: ["hive_id", "taken_at"], distStyle: "KEY(hive_id)"))
        let interleaved = RedshiftTableLayout(columns: [("a", "false", -2), ("b", "false", -1)], distStyle: nil)
        #expect(interleaved == RedshiftTableLayout(sortKey: ["b", "a"], interleaved: true))
    }

    @Test("a table that matches, or options the mapping leaves out, give no difference")
    func matches() {
        let layout = RedshiftTableLayout(distKey: "hive_id", sortKey: ["taken_at"], distStyle: "KEY(hive_id)")
        #expect(layout.differences(from: .init(sortKey: ["taken_at"], distKey: "hive_id"), table: Self.table).isEmpty)
        #expect(layout.differences(from: .init(), table: Self.table).isEmpty)
        #expect(layout.differences(from: .init(distStyle: .key), table: Self.table).isEmpty)
        let auto = RedshiftTableLayout(sortKey: ["id"], distStyle: "AUTO(EVEN)")
        #expect(auto.differences(from: .init(distStyle: .auto), table: Self.table).isEmpty)
    }

    @Test("another DISTKEY, DISTSTYLE or SORTKEY is named with the ALTER TABLE that changes it")
    func differences() {
        let layout = RedshiftTableLayout(sortKey: ["id"], distStyle: "AUTO(EVEN)")
        let found = layout.differences(from: .init(sortKey: ["taken_at", "hive_id"], distKey: "hive_id"), table: Self.table)
        #expect(
            found.map(\.difference) == [
                "its DISTKEY is none, the mapping's redshift.distkey \"hive_id\"",
                "its SORTKEY is COMPOUND (\"id\"), the mapping's redshift.sortkey (\"taken_at\", \"hive_id\")",
            ])
        #expect(
            found.map(\.change) == [
                "ALTER TABLE \"analytics\".\"samples\" ALTER DISTSTYLE KEY DISTKEY \"hive_id\"",
                "ALTER TABLE \"analytics\".\"samples\" ALTER COMPOUND SORTKEY (\"taken_at\", \"hive_id\")",
            ])
        let style = RedshiftTableLayout(distStyle: "EVEN").differences(from: .init(distStyle: .all), table: Self.table)
        #expect(style.map(\.change) == ["ALTER TABLE \"analytics\".\"samples\" ALTER DISTSTYLE ALL"])
        #expect(style.map(\.difference) == ["its DISTSTYLE is EVEN, the mapping's redshift.diststyle all"])
    }

    @Test("an interleaved sort key differs from the same columns asked for as the mapping's (compound) sort key")
    func interleavedDiffers() {
        let layout = RedshiftTableLayout(sortKey: ["a"], interleaved: true)
        #expect(
            layout.differences(from: .init(sortKey: ["a"]), table: Self.table).map(\.difference) == [
                "its SORTKEY is INTERLEAVED (\"a\"), the mapping's redshift.sortkey (\"a\")"
            ])
    }

    @Test("a style Redshift does not show (an empty table) is not compared, but a missing DISTKEY still is")
    func unknownStyle() {
        let empty = RedshiftTableLayout()
        #expect(empty.differences(from: .init(distStyle: .even), table: Self.table).isEmpty)
        #expect(empty.differences(from: .init(distKey: "id", distStyle: .key), table: Self.table).count == 1)
    }
}
