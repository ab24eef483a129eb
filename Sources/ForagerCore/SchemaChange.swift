public import PGOutput

/// A change of a source table's published columns, seen in the stream.
public struct SchemaChange: Sendable {
    /// The table with its new shape; new columns have an empty `sqlType` for the sink to look up.
    public var table: MappedTable
    /// Source columns that are new: the warehouse gains them.
    public var added: [String]
    /// Source columns no longer published: the warehouse keeps them, NULL from now on.
    public var removed: [String]
    /// Source columns whose type changed: the warehouse widens them, or stops the table.
    public var retyped: [String]
    /// The stream position of the relation message that showed the change: changes before it
    /// have the old shape, changes after it the new one. Nil for a change found at start.
    public var lsn: LSN?
    /// The source catalogue's definitions, by name, of the columns the change names that the
    /// source has when the change is applied, read by the pipeline before the change reaches a
    /// warehouse (``ChangeSet/resolveSchemaChanges(from:)``): the types of new and retyped
    /// columns, their values for older rows, and whether a removed column is back. Empty when
    /// not read (a change found at start, whose table was just described).
    public var sourceColumns: [String: SourceColumn] = [:]

    /// The source columns the change names: added, retyped and removed.
    public var namedColumns: [String] { added + retyped + removed }

    /// `table`'s definitions of the added and retyped columns, each replaced by the source
    /// catalogue's where it was read.
    public var changedColumnDefinitions: [SourceColumn] {
        let changed = added + retyped
        return table.columns.filter { changed.contains($0.name) }.map { sourceColumns[$0.name] ?? $0 }
    }

    public init(table: MappedTable, added: [String] = [], removed: [String] = [], retyped: [String] = [], lsn: LSN? = nil) {
        self.table = table
        self.added = added
        self.removed = removed
        self.retyped = retyped
        self.lsn = lsn
    }
}

extension SchemaChange {
    /// Why a table stops when a column the stream adds is already in the warehouse with a type
    /// that cannot hold the new column's values: the source dropped the column and added another
    /// of the same name, and the warehouse column still holds the dropped one's values.
    public static func addedAgain(_ table: MappedTable, column: String, sourceType: String, warehouseType: String) -> ForagerError {
        let name = SQL.quoteIdentifier(column)
        return ForagerError(
            .schema,
            "column \(name) of \(table.source) was dropped and added again on the source, now as \(sourceType), while the warehouse column \(SQL.quoteIdentifier(table.warehouseName(of: column))) of \(table.target) (\(warehouseType)) holds the dropped column's values; Forager stopped this table rather than mix the two",
            hint:
                "Resync the table to copy it with the new column: forager resync --table \(table.source). The copy holds what the source has, so save the old values first if you still need them."
        )
    }

    /// Why a table is copied again after columns were added to the rows the warehouse holds: the
    /// source's catalogue does not tell what those older rows hold there (a table rewrite after
    /// `ADD COLUMN ... DEFAULT`, or a volatile default), and the stream never carries it.
    public static func olderRowsNeedTheSource(_ table: MappedTable, columns: [String]) -> String {
        "the rows of \(table.source) older than its columns \(columns.map(SQL.quoteIdentifier).joined(separator: ", ")) hold values for them that only the source's rows tell (the table was rewritten after ADD COLUMN ... DEFAULT, or the default is volatile)"
    }

    /// The hint for such a table whose warehouse rows are history the source no longer has
    /// (`deletes: soft`, `append_only`), which a copy would drop: it is not copied again.
    public static func olderRowsKeptAsHistory(_ table: MappedTable) -> String {
        "The warehouse keeps rows the source no longer has (\(table.identity == .appendOnly ? "append_only" : "deletes: soft")), which a copy would drop, so Forager does not copy \(table.source) again by itself: the older rows read NULL there. Fill them from the source by hand, or resync the table (forager resync --table \(table.source)) if those rows may go."
    }
}

extension MappedTable {
    /// A new copy of the table loses nothing: its warehouse rows are only what the source has
    /// (not `deletes: soft` or `append_only`, which keep rows the source no longer has).
    public var copyLosesNothing: Bool { deletes == .hard && identity != .appendOnly }
}
