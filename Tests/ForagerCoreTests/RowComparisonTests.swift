import PGOutput
import Testing

@testable import ForagerCore

@Suite struct RowComparisonTests {
    private let position = LSN(100)
    private let chunk = TableValidation.Difference(after: ["10"], through: ["20"], sourceRows: 3, warehouseRows: 3)

    @Test func equalRowsEndTheComparisonInOneRound() {
        var comparison = RowComparison()
        let done = comparison.round(
            source: [["11"]: "a", ["12"]: "b"], warehouse: [["11"]: ("a", 90), ["12"]: ("b", 100)], position: position)
        #expect(done)
        let (difference, undecided) = comparison.finish(chunk)
        #expect(difference == nil && undecided == nil)
    }

    @Test func missingExtraAndDifferentRowsAreNamedInKeyOrder() {
        var comparison = RowComparison()
        let source: [[String]: String] = [["11"]: "a", ["12"]: "b", ["14"]: "d"]
        let warehouse: [[String]: RowComparison.Written] = [["11"]: ("a", 50), ["12"]: ("x", 50), ["13"]: ("c", 50), ["14"]: (nil, 50)]
        let first = comparison.round(source: source, warehouse: warehouse, position: position)
        #expect(!first)
        let second = comparison.round(source: source, warehouse: warehouse, position: position)
        #expect(!second)
        let (difference, undecided) = comparison.finish(chunk)
        #expect(undecided == nil)
        #expect(difference?.differingRows == 3)
        #expect(difference?.samples.map(\.key) == ["12", "13", "14"])
        #expect(difference?.samples.map(\.how) == ["different", "extra in the warehouse", "missing in the warehouse"])
        #expect(difference?.after == ["10"] && difference?.through == ["20"])
    }

    @Test func aDeletedWarehouseRowEqualsARowTheSourceLacks() {
        var comparison = RowComparison()
        let done = comparison.round(source: [["1"]: "a"], warehouse: [["1"]: ("a", 10), ["2"]: (nil, 10)], position: position)
        #expect(done)
    }

    @Test func aRowWrittenAfterTheSourcePositionWaitsForTheNextRound() {
        var comparison = RowComparison()
        // The warehouse already has a newer version than the source's snapshot: not a difference.
        let first = comparison.round(source: [["1"]: "old"], warehouse: [["1"]: ("new", 101)], position: position)
        #expect(!first)
        let second = comparison.round(source: [["1"]: "new"], warehouse: [["1"]: ("new", 101)], position: LSN(120))
        #expect(second)
        let (difference, undecided) = comparison.finish(chunk)
        #expect(difference == nil && undecided == nil)
    }

    @Test func aRowWrittenAfterEveryRoundsPositionIsUndecidedNotDifferent() {
        var comparison = RowComparison()
        for round in 0..<5 {
            let at = LSN(UInt64(100 + 10 * round))
            let done = comparison.round(
                source: [["1"]: "v\(round)", ["2"]: "same"], warehouse: [["1"]: ("v\(round + 1)", at.value + 5), ["2"]: ("same", 1)],
                position: at)
            #expect(!done)
        }
        let (difference, undecided) = comparison.finish(chunk)
        #expect(difference == nil)
        #expect(undecided?.rows == 1)
        #expect(undecided?.samples == ["1"])
        #expect(undecided?.after == ["10"] && undecided?.through == ["20"] && undecided?.unmatched == false)
    }

    @Test func afterTheFirstRoundOnlyTheSuspectsAreLookedAt() {
        var comparison = RowComparison()
        let first = comparison.round(
            source: [["1"]: "a", ["2"]: "b"], warehouse: [["1"]: ("x", 10), ["2"]: ("b", 10)], position: position)
        #expect(!first)
        // Row 2 now differs, but it was equal in the first round; row 1 has caught up.
        let second = comparison.round(
            source: [["1"]: "a", ["2"]: "b"], warehouse: [["1"]: ("a", 10), ["2"]: ("y", 10)], position: position)
        #expect(second)
    }

    @Test func differingAndUndecidedRowsAreBothReported() {
        var comparison = RowComparison()
        let source: [[String]: String] = [["a", "1"]: "x", ["a", "2"]: "y"]
        let warehouse: [[String]: RowComparison.Written] = [["a", "1"]: ("changed", 10), ["a", "2"]: ("y", 500)]
        let done = comparison.round(source: source, warehouse: warehouse, position: position)
        #expect(!done)
        let (difference, undecided) = comparison.finish(TableValidation.Difference(unmatched: true))
        #expect(difference?.samples.map(\.key) == ["(a, 1)"])
        #expect(undecided?.samples == ["(a, 2)"])
        #expect(undecided?.unmatched == true)
    }

    @Test func samplesAreCappedInKeyOrder() {
        var comparison = RowComparison()
        let keys = (1...8).map { ["k\($0)"] }
        let source = Dictionary(uniqueKeysWithValues: keys.map { ($0, "s") })
        let warehouse = Dictionary(uniqueKeysWithValues: keys.map { ($0, RowComparison.Written("w", 500)) })
        let done = comparison.round(source: source, warehouse: warehouse, position: position)
        #expect(!done)
        let (_, undecided) = comparison.finish(chunk)
        #expect(undecided?.rows == 8)
        #expect(undecided?.samples == ["k1", "k2", "k3", "k4", "k5"])
    }
}

@Suite struct TableValidationTests {
    private let table = TableName(schema: "public", name: "samples")

    private func undecided(_ rows: Int = 1) -> TableValidation.Undecided {
        TableValidation.Undecided(after: ["100"], through: ["200"], unmatched: false, rows: rows, samples: ["150"])
    }

    @Test func anEqualTableCountsItsRowsAndChunks() {
        var result = TableValidation(table: table)
        result.add(ComparedChunk(rows: 100))
        result.add(ComparedChunk(rows: 0))
        #expect(result.line == "public.samples: equal (100 rows in 1 chunk)")
        #expect(ValidationVerdict([result]) == .equal)
    }

    @Test func rowsThatKeptChangingMakeTheTableUndecidedWithTheRangeAndWhatToDo() {
        var result = TableValidation(table: table)
        result.add(ComparedChunk(rows: 100))
        result.add(ComparedChunk(rows: 100, undecided: undecided(3)))
        #expect(result.unverified == 3)
        #expect(
            result.line == """
                public.samples: UNDECIDED: 3 rows kept changing in every round of comparing, so could not be compared (200 rows in 2 chunks; the rest equal):
                  keys (100, 200]: 3 rows: 150, ...
                  Validate public.samples again when writes to it are quieter: forager validate --table public.samples
                """)
        var skipped = TableValidation(table: TableName(schema: "public", name: "events"))
        skipped.skipped = "append_only keeps every insert"
        #expect(ValidationVerdict([result, skipped]) == .undecided)
        #expect(ValidationVerdict.undecided.rawValue == 4)
    }

    @Test func aDifferenceOutweighsUndecidedRows() {
        var result = TableValidation(table: table)
        var difference = TableValidation.Difference(after: nil, through: ["100"], sourceRows: 100, warehouseRows: 99)
        difference.differingRows = 1
        difference.samples = [("7", "missing in the warehouse")]
        result.add(ComparedChunk(rows: 100, difference: difference))
        result.add(ComparedChunk(rows: 100, undecided: undecided()))
        #expect(
            result.line == """
                public.samples: DIFFERS in 1 of 2 chunks:
                  keys (start, 100]: source 100 rows, warehouse 99; 1 row differs: 7 missing in the warehouse
                  and 1 row kept changing in every round of comparing, so could not be compared:
                  keys (100, 200]: 1 row: 150
                  Validate public.samples again when writes to it are quieter: forager validate --table public.samples
                """)
        #expect(ValidationVerdict([TableValidation(table: table), result]) == .differs)
        #expect(ValidationVerdict.differs.rawValue == 3 && ValidationVerdict.equal.rawValue == 0)
    }

    @Test func warehouseKeysOutsideEveryChunkAreNamedSo() {
        var result = TableValidation(table: table)
        result.add(ComparedChunk(rows: 0, difference: TableValidation.Difference(sourceRows: 0, warehouseRows: 2, unmatched: true)))
        #expect(
            result.line
                == "public.samples: DIFFERS in 1 of 1 chunk:\n  warehouse keys outside every source chunk: source 0 rows, warehouse 2")
    }
}
