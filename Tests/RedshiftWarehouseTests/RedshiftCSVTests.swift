import PGOutput
import Testing

@testable import ForagerCore
@testable import RedshiftWarehouse

@Suite("Values in Redshift CSV")
struct RedshiftCSVTests {
    private func encoded(_ value: String?, _ kind: RedshiftValueKind) throws -> String {
        var output: [UInt8] = []
        try RedshiftCSV.append(value.map { ArraySlice($0.utf8) }, kind: kind, column: 0, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    @Test("every value is quoted, quotes doubled; NULL is the unquoted marker")
    func quoting() throws {
        #expect(try encoded("a \"b\", c\nd", .text(maxBytes: 100)) == "\"a \"\"b\"\", c\nd\"")
        #expect(try encoded(nil, .text(maxBytes: 100)) == "<forager:null>")
        #expect(try encoded("", .text(maxBytes: 100)) == "\"\"")
        #expect(try encoded("\\N", .text(maxBytes: 100)) == "\"\\N\"")
        #expect(throws: RedshiftCSV.ValueProblem.self) { try encoded("<forager:null>", .text(maxBytes: 100)) }
    }

    @Test("bytea's hex form becomes bare hex; json stays JSON text; pg_lsn becomes its number")
    func conversions() throws {
        #expect(try encoded("\\x00ff10", .varbyte(maxBytes: 10)) == "\"00ff10\"")
        #expect(try encoded("\\x", .varbyte(maxBytes: 10)) == "\"\"")
        #expect(try encoded("{\"a\": [1, 2.50]}", .json) == "\"{\"\"a\"\": [1, 2.50]}\"")
        #expect(try encoded("16/B374D848", .lsn) == "\"\(UInt64(0x16) << 32 | 0xB374D848)\"")
        #expect(try encoded("2024-05-01 10:00:00.123456+00", .dateTime) == "\"2024-05-01 10:00:00.123456+00\"")
        #expect(try encoded("NaN", .float) == "\"NaN\"")
    }

    @Test("with oversized_text: truncate, text is cut to its VARCHAR's bytes at a character's boundary")
    func truncatedText() throws {
        #expect(try encoded("abcdef", .truncatedText(maxBytes: 4)) == "\"abcd\"")
        #expect(try encoded("abc", .truncatedText(maxBytes: 4)) == "\"abc\"")
        // é is two bytes, 🐝 four: the cut never splits one.
        #expect(try encoded("aéé", .truncatedText(maxBytes: 4)) == "\"aé\"")
        #expect(try encoded("🐝🐝", .truncatedText(maxBytes: 7)) == "\"🐝\"")
        #expect(try encoded("🐝", .truncatedText(maxBytes: 3)) == "\"\"")
        #expect(try encoded(nil, .truncatedText(maxBytes: 3)) == "<forager:null>")
        let cut = RedshiftCSV.truncated(ArraySlice(String(repeating: "é", count: 40000).utf8), toBytes: 65535)
        #expect(cut.count == 65534 && String(validating: Array(cut), as: UTF8.self) != nil)
        var count = RedshiftCSV.TruncationCount(kinds: [.truncatedText(maxBytes: 3), .truncatedText(maxBytes: 3), .text(maxBytes: 3)])
        let lengths = [4, 2, 6]
        count.count { lengths[$0] }
        count.count { lengths[$0] }
        #expect(count.byPosition == [0: 2], "only the truncating column's long values")
    }

    @Test("values Redshift cannot hold are refused, never cut")
    func refusals() throws {
        #expect(throws: RedshiftCSV.ValueProblem.self) { try encoded(String(repeating: "x", count: 11), .text(maxBytes: 10)) }
        #expect(try encoded("ü" + String(repeating: "x", count: 8), .text(maxBytes: 10)) == "\"ü" + String(repeating: "x", count: 8) + "\"")
        #expect(throws: RedshiftCSV.ValueProblem.self) { try encoded("ü" + String(repeating: "x", count: 9), .text(maxBytes: 10)) }
        #expect(throws: RedshiftCSV.ValueProblem.self) { try encoded("NaN", .decimal) }
        #expect(throws: RedshiftCSV.ValueProblem.self) { try encoded("-Infinity", .decimal) }
        #expect(throws: RedshiftCSV.ValueProblem.self) { try encoded("infinity", .dateTime) }
        #expect(throws: RedshiftCSV.ValueProblem.self) { try encoded("\\x0001", .varbyte(maxBytes: 1)) }
        #expect(throws: RedshiftCSV.ValueProblem.self) { try encoded("abc", .varbyte(maxBytes: 10)) }
    }

    @Test("a staged row that is too long names the table, the column and the row's key")
    func unstorableNamesTheRow() throws {
        let table = Fixtures.orders()
        let changes = try Fixtures.changes(table) { changes in
            try changes.insert(Fixtures.row(7, note: String(repeating: "x", count: 65536)), lsn: Fixtures.lsn(5))
        }
        guard case .rows(let tables) = changes.steps[0] else { Issue.record("no rows"); return }
        let error = #expect(throws: ForagerError.self) { try StagedRows.stage(tables[0]) }
        #expect(error?.message.contains("column \"note\" of public.orders, row (\"id\")=(7)") == true, "\(String(describing: error))")
        #expect(error?.message.contains("65536 bytes") == true)
    }

    @Test("COPY text from a snapshot becomes CSV across chunk boundaries")
    func copyText() throws {
        let kinds: [RedshiftValueKind] = [.plain, .text(maxBytes: 100), .varbyte(maxBytes: 10), .json]
        var converter = CopyTextToCSV(kinds: kinds, keyIndexes: [0], fromCount: 1)
        let input = Array("1\tline\\nbreak\\ttab \\\\ \"q\"\t\\\\x00ff\t{\"a\": 1}\t0/16B3748\n2\t\\N\t\\\\x\t\\N\t1/0\n".utf8)
        var output: [UInt8] = []
        for chunk in stride(from: 0, to: input.count, by: 7).map({ Array(input[$0..<min($0 + 7, input.count)]) }) {
            try converter.convert(chunk, to: &output)
        }
        try converter.finish()
        #expect(converter.rows == 2)
        let csv = String(decoding: output, as: UTF8.self)
        let null = "<forager:null>"
        #expect(
            csv
                == "\"1\",\"line\nbreak\ttab \\ \"\"q\"\"\",\"00ff\",\"{\"\"a\"\": 1}\",\"23803720\",\"false\",\"i\",\(null),\(null),\(null)\n"
                + "\"2\",\(null),\"\",\(null),\"4294967296\",\"false\",\"i\",\(null),\",2,\",\(null)\n")
        #expect(converter.emptyPositions == [2])
    }

    @Test("a snapshot value Redshift cannot hold names the row's key")
    func copyTextRefusal() throws {
        var converter = CopyTextToCSV(kinds: [.plain, .decimal], keyIndexes: [0], fromCount: 1)
        var output: [UInt8] = []
        let error = #expect(throws: CopyTextToCSV.RowProblem.self) { try converter.convert(Array("42\tNaN\t0/1\n".utf8), to: &output) }
        #expect(error?.key.first??.elementsEqual("42".utf8) == true)
        #expect(error?.problem.column == 1)
        #expect(output.isEmpty)
    }
}
