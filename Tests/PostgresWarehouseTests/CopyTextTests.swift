import ForagerCore
import PGOutput
import PostgresWarehouse
import Testing

@Suite struct CopyTextTests {
    @Test func escapesTheCopyTextSpecials() throws {
        var output: [UInt8] = []
        try CopyText.appendRow(
            [.text(ArraySlice("a\tb\nc\\d\re".utf8)), .null, .text([])], extra: ["0/16B3748"], to: &output)
        #expect(String(decoding: output, as: UTF8.self) == "a\\tb\\nc\\\\d\\re\t\\N\t\t0/16B3748\n")
    }

    @Test func plainValuesPassThroughUntouched() throws {
        var output: [UInt8] = []
        try CopyText.appendRow([.text(ArraySlice("héllo wörld".utf8))], extra: [], to: &output)
        #expect(String(decoding: output, as: UTF8.self) == "héllo wörld\n")
    }

    @Test(arguments: [UInt64(0), 0x16_B374_D848, 0x1_0000_0000, 0xF, UInt64.max])
    func theRowWithItsPositionIsWhatTheGeneralEncoderWrites(_ lsn: UInt64) throws {
        let columns: [TupleColumn] = [.text(ArraySlice("a\tb".utf8)), .null, .text([])]
        for deleted in [nil, true, false] as [Bool?] {
            var fast: [UInt8] = [], general: [UInt8] = []
            try CopyText.appendRow(columns, lsn: LSN(lsn), deleted: deleted, to: &fast)
            let extra = [LSN(lsn).description] + (deleted.map { [$0 ? "t" : "f"] } ?? [])
            try CopyText.appendRow(columns[...], extra: extra, to: &general)
            #expect(fast == general, "\(String(decoding: fast, as: UTF8.self))")
        }
        var empty: [UInt8] = []
        try CopyText.appendRow([], lsn: LSN(lsn), deleted: nil, to: &empty)
        #expect(String(decoding: empty, as: UTF8.self) == LSN(lsn).description + "\n")
    }

    @Test func anUnresolvedToastMarkerIsRefused() {
        var output: [UInt8] = []
        #expect(throws: ForagerError.self) { try CopyText.appendRow([.unchangedToast], extra: [], to: &output) }
    }
}

@Suite struct TableNameTests {
    @Test(arguments: [
        ("public.samples", "public", "samples"),
        ("samples", "public", "samples"),
        ("Public.Samples", "public", "samples"),
        ("public.\"Weird Table\"", "public", "Weird Table"),
        ("\"a.b\".\"c\"\"d\"", "a.b", "c\"d"),
        ("  app.events", "app", "events"),
    ])
    func parses(text: String, schema: String, name: String) throws {
        let parsed = try TableName(parsing: text)
        #expect(parsed == TableName(schema: schema, name: name))
    }

    @Test(arguments: ["", "a.", ".b", "a.b.c", "\"open", "two words", "\"x\"y"])
    func rejects(text: String) {
        #expect(throws: TableNameError.self) { try TableName(parsing: text) }
    }

    @Test func quotesForSQLAndForPeople() {
        let name = TableName(schema: "public", name: "Weird \"Table\"")
        #expect(name.sql == "\"public\".\"Weird \"\"Table\"\"\"")
        #expect(name.description == "public.\"Weird \"\"Table\"\"\"")
        #expect(TableName(schema: "public", name: "samples").description == "public.samples")
    }
}
