import ForagerCore

/// Turns PostgreSQL's COPY text (tab-separated, `\N` for NULL, backslash escapes), as a snapshot
/// reads it from the source, into Redshift CSV, chunk by chunk: a row may be cut between chunks.
///
/// Each row is the table's columns and then `_forager_lsn` (pg_lsn text, written as BIGINT); it
/// becomes a row of the table's ``Staging``, to insert.
struct CopyTextToCSV {
    /// The kinds of the source columns, in order.
    let kinds: [RedshiftValueKind]
    /// Positions of the key columns, to name a row in an error.
    let keyIndexes: [Int]
    /// How many `_forager_from_<i>` columns the stage has (NULL here).
    let fromCount: Int
    /// The positions of the VARBYTE columns where some row holds an empty value.
    private(set) var emptyPositions: Set<Int> = []
    /// The start of a row whose end has not arrived yet.
    private var pending: [UInt8] = []
    /// Rows converted so far.
    private(set) var rows = 0
    /// The values cut to fit their VARCHAR (`oversized_text: truncate`).
    private var truncations: RedshiftCSV.TruncationCount
    /// By column position, how many values were cut to fit their VARCHAR.
    var truncated: [Int: Int] { truncations.byPosition }

    init(kinds: [RedshiftValueKind], keyIndexes: [Int], fromCount: Int) {
        self.kinds = kinds
        self.keyIndexes = keyIndexes
        self.fromCount = fromCount
        truncations = RedshiftCSV.TruncationCount(kinds: kinds)
    }

    /// A row that cannot be written: the key's values and the problem.
    struct RowProblem: Error {
        var key: [ArraySlice<UInt8>?]
        var problem: RedshiftCSV.ValueProblem
    }

    /// Converts the whole rows that `chunk` completes, appending their CSV to `output`.
    mutating func convert(_ chunk: [UInt8], to output: inout [UInt8]) throws(RowProblem) {
        pending.append(contentsOf: chunk)
        guard let last = pending.lastIndex(of: 0x0A) else { return }
        var start = 0
        while start <= last {
            let end = pending[start...].firstIndex(of: 0x0A)!
            try convertLine(pending[start..<end], to: &output)
            start = end + 1
        }
        pending.removeSubrange(..<start)
    }

    /// Throws when COPY data ended inside a row.
    func finish() throws(RowProblem) {
        guard pending.isEmpty || pending.elementsEqual("\\.\n".utf8) else {
            throw RowProblem(key: [], problem: RedshiftCSV.ValueProblem(column: -1, reason: "the COPY data ended inside a row"))
        }
    }

    private mutating func convertLine(_ line: ArraySlice<UInt8>, to output: inout [UInt8]) throws(RowProblem) {
        if line.elementsEqual("\\.".utf8) { return }
        let fields = line.split(separator: 0x09, omittingEmptySubsequences: false).map(Self.unescape)
        guard fields.count == kinds.count + 1 else {
            throw RowProblem(
                key: [],
                problem: RedshiftCSV.ValueProblem(column: -1, reason: "a COPY row has \(fields.count) fields, not \(kinds.count + 1)"))
        }
        let start = output.count
        do throws(RedshiftCSV.ValueProblem) {
            for index in kinds.indices {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                try RedshiftCSV.append(fields[index], kind: kinds[index], column: index, to: &output)
            }
            output.append(UInt8(ascii: ","))
            try RedshiftCSV.append(fields[kinds.count], kind: .lsn, column: kinds.count, to: &output)
            let empty = kinds.indices.filter { index in
                guard case .varbyte = kinds[index] else { return false }
                return fields[index]?.count == 2
            }
            emptyPositions.formUnion(empty)
            let extra: [ArraySlice<UInt8>?] = [
                ArraySlice("false".utf8), ArraySlice(StagedAction.insert.rawValue.utf8), nil, RedshiftCSV.positionList(empty),
            ]
            try RedshiftCSV.appendExtra(extra + Array(repeating: nil, count: fromCount), first: false, start: start, to: &output)
        } catch {
            output.removeSubrange(start...)
            throw RowProblem(key: keyIndexes.map { fields[$0] }, problem: error)
        }
        truncations.count { fields[$0]?.count }
        rows += 1
    }

    /// The bytes an escaped field stands for; nil for `\N`.
    static func unescape(_ field: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        if field.count == 2, field.first == 0x5C, field.last == UInt8(ascii: "N") { return nil }
        guard field.contains(0x5C) else { return field }
        var value: [UInt8] = []
        value.reserveCapacity(field.count)
        CopyTextEscapes.unescape(field, into: &value)
        return value[...]
    }
}
