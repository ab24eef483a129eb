import ForagerCore
import Testing

@testable import ClickHouseWarehouse

@Suite("ClickHouse copy: each append-only row's place")
struct ClickHouseCopyPlaceTests {
    private var table: MappedTable {
        var table = MappedTable(
            source: TableName(schema: "public", name: "readings"), target: TableName(schema: "analytics", name: "readings"),
            columns: [SourceColumn(name: "hive", sqlType: "integer", notNull: true)], keyColumns: [])
        table.identity = .appendOnly
        return table
    }

    private func load(limit: Int) -> Load {
        var load = Load(table: table, columns: [ClickHouseColumn(name: "hive", sqlType: "integer", nullable: false)])
        load.placeLimit = limit
        return load
    }

    @Test func rowsAreNumberedByTheirPlaceInTheCopy() throws {
        var load = load(limit: .max)
        try load.append(lines: Array("7\t0/1\n7\t0/1\n8\t0/1\n".utf8)[...])
        #expect(String(decoding: load.block, as: UTF8.self) == "7\t0\t0\t0\n7\t0\t0\t1\n8\t0\t0\t2\n")
        #expect(load.rows == 3)
    }

    @Test func aCopyPastItsColumnsRangeStopsBeforeTheRowThatWouldRepeatAPlace() throws {
        var load = load(limit: 1)
        #expect(throws: ForagerError.self) { try load.append(lines: Array("7\t0/1\n7\t0/1\n7\t0/1\n".utf8)[...]) }
        #expect(load.rows == 2)
        let error = #expect(throws: ForagerError.self) { try load.append(lines: Array("7\t0/1\n".utf8)[...]) }
        #expect(error?.message.contains("UInt32") == true)
        #expect(error?.hint?.contains("forager resync --table public.readings") == true)
    }

    @Test func placeLimitFollowsTheColumnsType() {
        #expect(ClickHouseWarehouse.placeLimit(type: "UInt32") == 4_294_967_295)
        #expect(ClickHouseWarehouse.placeLimit(type: "UInt64") == Int.max)
    }
}
