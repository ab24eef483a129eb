import ForagerCore
import Testing

@Suite struct SnapshotPlanTests {
    private let big = TableName(schema: "public", name: "samples")
    private let small = TableName(schema: "public", name: "hives")
    private let other = TableName(schema: "public", name: "yards")

    @Test func largeTablesComeFirstSplitIntoPageRangesThatCoverEveryPageOnce() {
        let pieces = SnapshotPlan.pieces(tables: [(small, 10), (big, 10_000), (other, 10)], parallelism: 4, splitTables: true)
        #expect(pieces.first?.table == big)
        #expect(pieces.suffix(2).map(\.table) == [small, other])
        let ranges = pieces.filter { $0.table == big }
        #expect(ranges.count == 16)
        #expect(ranges.first?.firstPage == 0 && ranges.last?.endPage == nil)
        for (piece, next) in zip(ranges, ranges.dropFirst()) { #expect(piece.endPage == next.firstPage) }
        #expect(ranges[0].condition == "ctid >= '(0,0)'::tid AND ctid < '(625,0)'::tid")
        #expect(ranges.last?.condition == "ctid >= '(9375,0)'::tid")
        #expect(pieces.first { $0.table == small }?.condition == nil)
    }

    @Test func rangesAreNeverSmallerThanTheMinimum() {
        let pieces = SnapshotPlan.pieces(tables: [(big, 300)], parallelism: 8, splitTables: true)
        #expect(pieces.map(\.firstPage) == [0, 128, 256])
        #expect(pieces.map(\.endPage) == [128, 256, nil])
    }

    @Test func oneConnectionOrAWarehouseThatCannotLoadPartsAtOnceCopiesWholeTables() {
        #expect(SnapshotPlan.pieces(tables: [(big, 10_000)], parallelism: 1, splitTables: true) == [CopyPiece(table: big)])
        #expect(
            SnapshotPlan.pieces(tables: [(big, 10_000), (small, 1)], parallelism: 4, splitTables: false) == [
                CopyPiece(table: big), CopyPiece(table: small),
            ])
    }
}
