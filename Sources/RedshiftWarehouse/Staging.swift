public import ForagerCore

/// What a staged row asks of its warehouse row (the stage's `_forager_action`).
public enum StagedAction: String, Sendable {
    /// Remove the row of its key (if any), then insert this one.
    case upsert = "u"
    /// Insert: the row cannot be in the warehouse yet.
    case insert = "i"
    /// Remove the row of its key.
    case delete = "d"
    /// Keep the row of its key, marked deleted (`deletes: soft`).
    case flagDeleted = "f"
}

/// A session temporary staging table that one table's rows of a batch are loaded into by COPY,
/// and the statements that apply it to the warehouse table: unchanged TOAST values filled from the
/// warehouse rows, soft deletes flagged, `DELETE ... USING` the stage, `INSERT ... SELECT`.
///
/// A staged row is the table's columns in order, then `_forager_lsn`, `_forager_deleted`,
/// `_forager_action` (``StagedAction``), `_forager_unchanged` (the positions of the columns the
/// source left out as unchanged TOAST, as `,3,7,`; NULL when none), `_forager_empty` (the
/// positions of empty VARBYTE values, which Redshift's COPY loads as NULL) and, for a table with a key,
/// `_forager_from_<i>`: the key the row had before an update moved it, whose warehouse row holds
/// those values (NULL when it did not move).
public struct Staging: Sendable {
    public let table: MappedTable
    /// The stage's quoted name.
    public let name: String
    /// The alias of the stage in statements that join it to the warehouse table.
    static let alias = SQL.quoteIdentifier("_forager_s")

    public init(table: MappedTable, number: Int) {
        self.table = table
        self.name = SQL.quoteIdentifier("_forager_stage_\(number)")
    }

    var keyed: Bool { table.identity == .key && !table.warehouseKey.isEmpty }
    private var keyColumns: [SourceColumn] {
        table.warehouseKey.compactMap { key in table.columns.first { table.warehouseName(of: $0.name) == key } }
    }
    private var valueNames: [String] { table.columns.map { SQL.quoteIdentifier(table.warehouseName(of: $0.name)) } }
    private var fromNames: [String] { keyed ? table.warehouseKey.indices.map { SQL.quoteIdentifier("_forager_from_\($0)") } : [] }
    private static let lsn = SQL.quoteIdentifier(MetadataColumn.lsn)
    private static let deleted = SQL.quoteIdentifier(MetadataColumn.deleted)
    private static let syncedAt = SQL.quoteIdentifier(MetadataColumn.syncedAt)
    private static let action = SQL.quoteIdentifier("_forager_action")
    private static let unchanged = SQL.quoteIdentifier("_forager_unchanged")
    private static let empty = SQL.quoteIdentifier("_forager_empty")

    /// The value kinds of the staged row's columns, in CSV order, the metadata fields excepted:
    /// text of the columns outside the key is cut to fit when the mapping says `oversized_text:
    /// truncate`.
    public var kinds: [RedshiftValueKind] {
        let truncating = table.layout.redshift?.oversizedText == .truncate
        let key = Set(table.warehouseKey)
        return table.columns.map { column in
            let kind = RedshiftSQL.type(of: column).kind
            guard truncating, case .text(let maxBytes) = kind, !key.contains(table.warehouseName(of: column.name)) else { return kind }
            return .truncatedText(maxBytes: maxBytes)
        }
    }
    /// The key columns' kinds, for `_forager_from_<i>`.
    public var keyKinds: [RedshiftValueKind] { keyed ? keyColumns.map { RedshiftSQL.type(of: $0).kind } : [] }

    /// The stage's columns in CSV order (quoted), for COPY.
    public var columns: [String] { valueNames + [Self.lsn, Self.deleted, Self.action, Self.unchanged, Self.empty] + fromNames }

    /// CREATE TEMP TABLE: the table's columns with their warehouse types, nullable, and the
    /// metadata columns above.
    public func create() -> String {
        var lines = table.columns.map { "    \(SQL.quoteIdentifier(table.warehouseName(of: $0.name))) \(RedshiftSQL.type(of: $0).sql)" }
        lines += [
            "    \(Self.lsn) BIGINT", "    \(Self.deleted) BOOLEAN", "    \(Self.action) CHAR(1)", "    \(Self.unchanged) VARCHAR(65535)",
            "    \(Self.empty) VARCHAR(65535)",
        ]
        lines += zip(fromNames, keyColumns).map { "    \($0) \(RedshiftSQL.type(of: $1).sql)" }
        return "CREATE TEMP TABLE \(name) (\n\(lines.joined(separator: ",\n"))\n)"
    }

    /// The warehouse row a staged row takes its unchanged values from: the one of the key it had
    /// before it moved, else of its key.
    private func lookupMatch(target: String, stage: String) -> String {
        zip(table.warehouseKey, fromNames).map { key, from in
            "\(target).\(SQL.quoteIdentifier(key)) = COALESCE(\(stage).\(from), \(stage).\(SQL.quoteIdentifier(key)))"
        }.joined(separator: " AND ")
    }

    /// How many staged rows with unchanged values have no warehouse row to take them from.
    public func rowsMissingForUnchanged() -> String {
        """
        SELECT COUNT(*) FROM \(name) AS \(Self.alias)
        WHERE \(Self.alias).\(Self.unchanged) IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM \(table.target.sql) AS "_forager_t" WHERE \(lookupMatch(target: "\"_forager_t\"", stage: Self.alias)))
        """
    }

    /// Fills the columns at `positions` of staged rows that left them out (unchanged TOAST) from
    /// the warehouse rows.
    public func fillUnchanged(positions: [Int]) -> String {
        let sets = positions.map { position in
            let column = SQL.quoteIdentifier(table.warehouseName(of: table.columns[position].name))
            return
                "\(column) = CASE WHEN \(name).\(Self.unchanged) LIKE '%,\(position),%' THEN \"_forager_t\".\(column) ELSE \(name).\(column) END"
        }
        return """
            UPDATE \(name) SET \(sets.joined(separator: ",\n    "))
            FROM \(table.target.sql) AS "_forager_t"
            WHERE \(name).\(Self.unchanged) IS NOT NULL AND \(lookupMatch(target: "\"_forager_t\"", stage: name))
            """
    }

    /// Sets the VARBYTE columns at `positions` of staged rows that hold an empty value there (the
    /// COPY loaded NULL) to the empty value.
    public func fillEmpty(positions: [Int]) -> String {
        let sets = positions.map { position in
            let column = SQL.quoteIdentifier(table.warehouseName(of: table.columns[position].name))
            return "\(column) = CASE WHEN \(Self.empty) LIKE '%,\(position),%' THEN FROM_HEX('') ELSE \(column) END"
        }
        return "UPDATE \(name) SET \(sets.joined(separator: ",\n    "))\nWHERE \(Self.empty) IS NOT NULL"
    }

    /// The condition that a warehouse row (named by the table's bare name) is a staged row's key.
    private var keyMatch: String {
        table.warehouseKey.map { key in
            "\(SQL.quoteIdentifier(table.target.name)).\(SQL.quoteIdentifier(key)) = \(Self.alias).\(SQL.quoteIdentifier(key))"
        }.joined(separator: " AND ")
    }

    /// Marks the warehouse rows of staged soft deletes as deleted, with the delete's LSN.
    public func flagDeleted() -> String {
        """
        UPDATE \(table.target.sql) SET \(Self.deleted) = true, \(Self.lsn) = \(Self.alias).\(Self.lsn), \(Self.syncedAt) = SYSDATE
        FROM \(name) AS \(Self.alias)
        WHERE \(keyMatch) AND \(Self.alias).\(Self.action) = 'f'
        """
    }

    /// Removes the warehouse rows that staged upserts and deletes replace.
    public func deleteUsing() -> String {
        """
        DELETE FROM \(table.target.sql) USING \(name) AS \(Self.alias)
        WHERE \(keyMatch) AND \(Self.alias).\(Self.action) IN ('u', 'd')
        """
    }

    /// Inserts the staged rows' final versions, stamped with SYSDATE: the transaction's start, to
    /// the microsecond (GETDATE() keeps whole seconds, too coarse to read lag from).
    /// `olderRowsValues` gives, by warehouse column name, the literal that rows of an older part
    /// of the stream read for a column the stage lacks (the warehouse columns have no defaults).
    public func insertSelect(olderRowsValues: [String: String] = [:]) -> String {
        let staged = Set(table.columns.map { table.warehouseName(of: $0.name) })
        let filled = olderRowsValues.filter { !staged.contains($0.key) }.sorted { $0.key < $1.key }
        let targets = valueNames + filled.map { SQL.quoteIdentifier($0.key) } + [Self.lsn, Self.deleted, Self.syncedAt]
        let values = valueNames + filled.map(\.value) + [Self.lsn, Self.deleted, "SYSDATE"]
        return """
            INSERT INTO \(table.target.sql) (\(targets.joined(separator: ", ")))
            SELECT \(values.joined(separator: ", ")) FROM \(name) WHERE \(Self.action) IN ('u', 'i')
            """
    }

    /// Drops the stage at the end of the batch.
    public func drop() -> String { "DROP TABLE \(name)" }
}
