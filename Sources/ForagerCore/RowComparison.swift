public import PGOutput

/// The rounds of comparing a chunk row by row, for `forager validate`. Each round compares the
/// rows as the source had them at position P with the warehouse's rows, except those the
/// warehouse last wrote after P (newer than the source's snapshot: deferred to the next round);
/// after the first round only the rows that differed or were deferred are looked at.
public struct RowComparison: Sendable {
    /// A warehouse row's content (nil when it is deleted) and the position that last wrote it.
    public typealias Written = (content: String?, written: UInt64)
    private var suspects: Set<[String]>?
    private var differing: [[String]: String] = [:]
    private var deferred: Set<[String]> = []

    /// Keys of a chunk that differ or wait after the last round that the report shows.
    public static let samples = 5

    public init() {}

    /// One round: `source` maps each key (its columns as text) to the row's content at
    /// `position`, `warehouse` to what the warehouse holds. True when nothing differs or waits.
    public mutating func round(source: [[String]: String], warehouse: [[String]: Written], position: LSN) -> Bool {
        differing = [:]
        deferred = []
        for key in suspects ?? Set(source.keys).union(warehouse.keys) {
            let row = warehouse[key]
            if let row, row.written > position.value {
                deferred.insert(key)
                continue
            }
            let expected = source[key], actual = row?.content
            guard expected != actual else { continue }
            differing[key] = expected == nil ? "extra in the warehouse" : actual == nil ? "missing in the warehouse" : "different"
        }
        suspects = Set(differing.keys).union(deferred)
        return differing.isEmpty && deferred.isEmpty
    }

    /// After the last round: the difference (`start` with the rows that differed; nil when none
    /// did), and the rows still deferred, which kept changing (nil when none).
    public func finish(_ start: TableValidation.Difference) -> (TableValidation.Difference?, TableValidation.Undecided?) {
        var undecided: TableValidation.Undecided?
        if !deferred.isEmpty {
            undecided = TableValidation.Undecided(
                after: start.after, through: start.through, unmatched: start.unmatched, rows: deferred.count,
                samples: deferred.sorted { $0.lexicographicallyPrecedes($1) }.prefix(Self.samples).map { TableValidation.key($0) ?? "" })
        }
        guard !differing.isEmpty else { return (nil, undecided) }
        var difference = start
        difference.differingRows = differing.count
        difference.samples = differing.sorted { $0.key.lexicographicallyPrecedes($1.key) }.prefix(Self.samples).map {
            (TableValidation.key($0.key) ?? "", $0.value)
        }
        return (difference, undecided)
    }
}
