public import ForagerCore
import PGOutput

/// One table's rows of a batch as staged CSV (see ``Staging``), cut into parts of about `partSize`
/// bytes: one S3 object each.
public struct StagedRows: Sendable {
    /// The CSV parts, uncompressed.
    public var parts: [[UInt8]] = []
    /// The rows staged, which COPY must report loaded.
    public var rows = 0
    /// The positions of the columns some staged row left out (unchanged TOAST).
    public var unchangedPositions: Set<Int> = []
    /// The positions of the VARBYTE columns where some staged row holds an empty value.
    public var emptyPositions: Set<Int> = []
    /// The actions the staged rows ask for.
    public var actions: Set<StagedAction> = []
    /// By column position, how many values were cut to fit their VARCHAR (`oversized_text: truncate`).
    public var truncated: [Int: Int] = [:]

    /// Stages the collapsed changes of one table. Throws, naming the table, the column and the
    /// row's key, when a value cannot be held by Redshift, and for a table without a key whose
    /// rows the batch removes (Redshift has no row identity to remove one copy by).
    public static func stage(_ changes: TableChanges, partSize: Int = 32 << 20) throws(ForagerError) -> StagedRows {
        let staging = Staging(table: changes.table, number: 0)
        var writer = Writer(kinds: staging.kinds, keyKinds: staging.keyKinds, partSize: partSize)
        guard staging.keyed else {
            for delta in changes.deltas {
                guard delta.count >= 0 else { throw removalWithoutKey(changes.table) }
                for _ in 0..<delta.count {
                    try writer.append(
                        delta.row.columns, lsn: delta.lsn, deleted: false, action: .insert, table: changes.table, keyIndexes: [])
                }
            }
            return writer.finish()
        }
        let soft = changes.table.deletes == .soft
        for state in changes.orderedStates {
            let keyIndexes = changes.keyIndexes
            if let row = state.row {
                let from = row.columns.contains(.unchangedToast) ? state.movedFrom : nil
                try writer.append(
                    row.columns, lsn: state.lsn, deleted: false, action: state.mayExist ? .upsert : .insert, from: from,
                    table: changes.table, keyIndexes: keyIndexes)
            } else if soft, let row = state.deletedRow, !row.columns.contains(.unchangedToast) {
                try writer.append(row.columns, lsn: state.lsn, deleted: true, action: .upsert, table: changes.table, keyIndexes: keyIndexes)
            } else if state.mayExist {
                var columns = [TupleColumn](repeating: .null, count: changes.table.columns.count)
                for (index, value) in zip(keyIndexes, state.key) where index < columns.count { columns[index] = value }
                try writer.append(
                    columns, lsn: state.lsn, deleted: soft, action: soft ? .flagDeleted : .delete, table: changes.table,
                    keyIndexes: keyIndexes)
            }
        }
        return writer.finish()
    }

    static func removalWithoutKey(_ table: MappedTable) -> ForagerError {
        ForagerError(
            .schema,
            "a batch removes rows of \(table.source), which has no key; Redshift has no row identity to remove one of several identical rows by, so Forager stopped this table",
            hint:
                "Give the source table a primary key (or map it append_only: true if its rows are never updated or deleted), then resync it: forager resync --table \(table.source)."
        )
    }

    /// Writes staged rows into parts.
    struct Writer {
        let kinds: [RedshiftValueKind]
        let keyKinds: [RedshiftValueKind]
        let partSize: Int
        var truncations: RedshiftCSV.TruncationCount
        var staged = StagedRows()
        var current: [UInt8] = []

        mutating func append(
            _ columns: [TupleColumn], lsn: LSN, deleted: Bool, action: StagedAction, from: [TupleColumn]? = nil, table: MappedTable,
            keyIndexes: [Int]
        ) throws(ForagerError) {
            guard columns.count == kinds.count else {
                throw ForagerError(
                    .protocolViolation, "a change to \(table.source) has \(columns.count) columns, its mapping \(kinds.count)")
            }
            let unchanged = columns.indices.filter { columns[$0] == .unchangedToast }
            staged.unchangedPositions.formUnion(unchanged)
            let empty = RedshiftCSV.emptyVarbytes(columns, kinds: kinds)
            staged.emptyPositions.formUnion(empty)
            truncations.count { position in
                guard case .text(let value) = columns[position] else { return nil }
                return value.count
            }
            var extra: [ArraySlice<UInt8>?] = [
                ArraySlice(String(lsn.value).utf8), ArraySlice((deleted ? "true" : "false").utf8), ArraySlice(action.rawValue.utf8),
                RedshiftCSV.positionList(unchanged), RedshiftCSV.positionList(empty),
            ]
            do throws(RedshiftCSV.ValueProblem) {
                for (index, kind) in keyKinds.enumerated() {
                    guard let from, index < from.count, case .text(let value) = from[index] else {
                        extra.append(nil)
                        continue
                    }
                    extra.append(try RedshiftCSV.converted(value, kind: kind, column: columns.count + 4 + index))
                }
                try RedshiftCSV.appendRow(columns, kinds: kinds, extra: extra, to: &current)
            } catch {
                throw RedshiftWarehouse.unstorable(
                    error, table: table,
                    key: keyIndexes.map { index -> ArraySlice<UInt8>? in
                        guard index < columns.count, case .text(let value) = columns[index] else { return nil }
                        return value
                    })
            }
            staged.rows += 1
            staged.actions.insert(action)
            if current.count >= partSize {
                staged.parts.append(current)
                current = []
            }
        }

        init(kinds: [RedshiftValueKind], keyKinds: [RedshiftValueKind], partSize: Int) {
            self.kinds = kinds
            self.keyKinds = keyKinds
            self.partSize = partSize
            truncations = RedshiftCSV.TruncationCount(kinds: kinds)
        }

        mutating func finish() -> StagedRows {
            if !current.isEmpty { staged.parts.append(current) }
            staged.truncated = truncations.byPosition
            return staged
        }
    }
}
