public import ForagerCore

/// The SQL that `forager validate` runs on the source and on a Postgres warehouse to compare a
/// table chunk by chunk: row count and an order-independent checksum of the rows, over key ranges
/// that both sides select identically.
///
/// A row's hash is the first 60 bits of the md5 of its text form (the mapped columns, in source
/// order, as `ROW(...)::text`) in UTF-8, whatever the database's encoding: a LATIN1 source and a
/// UTF-8 warehouse hold the same text in different bytes. A chunk's checksum is the sum of its rows' hashes as `numeric`,
/// so it never overflows and any changed, missing or extra row changes it (bar a 2⁻⁶⁰ chance).
/// Both sides print values with the same settings (`SQL.canonicalTextSettings`, time zone UTC),
/// so equal rows print equally. Key ranges are half-open, `(after, through]`, in the key's order.
public struct ChunkChecksum: Sendable {
    public let table: MappedTable
    /// Collation forced on text key columns, on both sides, when the two databases sort text
    /// differently; nil to use each column's own.
    public let keyCollation: String?

    public init(table: MappedTable, keyCollation: String? = nil) {
        self.table = table
        self.keyCollation = keyCollation
    }

    /// The source columns the warehouse stores, compared (extracted columns are derived, and are
    /// not compared).
    public var comparedColumns: [SourceColumn] { table.storedColumns }

    private var keyColumns: [SourceColumn] {
        table.keyColumns.compactMap { name in table.columns.first { $0.name == name } }
    }

    /// Text-like types that a collation orders.
    static let collatableTypes: Set<String> = ["text", "character varying", "varchar", "character", "bpchar", "name", "citext"]

    /// ` COLLATE "x"` for a text-like column when a collation is forced, else nothing.
    private func collation(_ column: SourceColumn) -> String {
        let base = column.sqlType.split(separator: "(").first.map(String.init) ?? column.sqlType
        guard let keyCollation, Self.collatableTypes.contains(base) else { return "" }
        return " COLLATE \(SQL.quoteIdentifier(keyCollation))"
    }

    private func keyExpression(_ column: SourceColumn, warehouse: Bool) -> String {
        SQL.quoteIdentifier(warehouse ? table.warehouseName(of: column.name) : column.name) + collation(column)
    }

    private func keyTuple(warehouse: Bool) -> String {
        "(" + keyColumns.map { keyExpression($0, warehouse: warehouse) }.joined(separator: ", ") + ")"
    }

    /// A key bound: each value (from `value(index)`) cast to its column's type.
    private func boundTuple(_ value: (Int) -> String) -> String {
        "("
            + keyColumns.enumerated().map { index, column in "\(value(index))::\(column.sqlType)\(collation(column))" }.joined(
                separator: ", ") + ")"
    }

    /// The key as parameters `$first, $first+1, ...`.
    private func parameterTuple(from first: Int) -> String { boundTuple { "$\(first + $0)" } }

    /// The key columns as text, aliased so that an ORDER BY sorts by the columns, not by their
    /// text (an output column's name wins over a table column's in ORDER BY).
    private func keyText(warehouse: Bool) -> String {
        keyColumns.enumerated().map { index, column in
            SQL.quoteIdentifier(warehouse ? table.warehouseName(of: column.name) : column.name) + "::text AS _forager_key\(index)"
        }.joined(separator: ", ")
    }

    /// The range condition for a chunk with the given bounds present; parameters are the `after`
    /// key's values, then the `through` key's.
    private func rangeCondition(after: Bool, through: Bool, warehouse: Bool) -> String {
        var conditions: [String] = []
        if after { conditions.append("\(keyTuple(warehouse: warehouse)) > \(parameterTuple(from: 1))") }
        if through { conditions.append("\(keyTuple(warehouse: warehouse)) <= \(parameterTuple(from: after ? keyColumns.count + 1 : 1))") }
        return conditions.isEmpty ? "true" : conditions.joined(separator: " AND ")
    }

    /// Source: the last key of the chunk of `size` rows after `after` (parameters: its values),
    /// each key column as text; no row when fewer than `size` rows remain.
    public func boundaryQuery(after: Bool, size: Int) -> String {
        let order = keyColumns.map { keyExpression($0, warehouse: false) }.joined(separator: ", ")
        return
            "SELECT \(keyText(warehouse: false)) FROM \(table.source.sql) WHERE \(rangeCondition(after: after, through: false, warehouse: false)) ORDER BY \(order) OFFSET \(size - 1) LIMIT 1"
    }

    /// The row text a hash is taken of, as UTF-8 bytes: the compared columns, cast to the
    /// warehouse type where the mapping overrides it.
    private func rowText(warehouse: Bool) -> String {
        let columns = comparedColumns.map { column -> String in
            let name = SQL.quoteIdentifier(warehouse ? table.warehouseName(of: column.name) : column.name)
            return !warehouse && column.overriddenType != nil ? "\(name)::\(column.sqlType)" : name
        }
        return "convert_to(ROW(" + columns.joined(separator: ", ") + ")::text, 'UTF8')"
    }

    /// Count and checksum of the rows in `(after, through]` (bounds as parameters, `after` first);
    /// on the warehouse, soft-deleted rows do not count. Returns one row: count, checksum.
    public func aggregateQuery(after: Bool, through: Bool, warehouse: Bool) -> String {
        var condition = keyColumns.isEmpty ? "true" : rangeCondition(after: after, through: through, warehouse: warehouse)
        if warehouse, table.deletes == .soft { condition += " AND NOT \(SQL.quoteIdentifier(MetadataColumn.deleted))" }
        let name = warehouse ? table.target.sql : table.source.sql
        return """
            SELECT count(*)::text, coalesce(sum(('x' || substr(md5(\(rowText(warehouse: warehouse))), 1, 15))::bit(60)::bigint::numeric), 0)::text \
            FROM \(name) WHERE \(condition)
            """
    }

    /// The rows of `(after, through]` one by one: each key column as text, then the md5 of the row
    /// text; on the warehouse also the LSN of the change that last wrote the row (text) and, for
    /// soft deletes, whether it is deleted. Drills into a chunk whose checksums differ.
    public func rowsQuery(after: Bool, through: Bool, warehouse: Bool) -> String {
        var extra = ""
        if warehouse {
            extra = ", \(SQL.quoteIdentifier(MetadataColumn.lsn))::text"
            extra += table.deletes == .soft ? ", \(SQL.quoteIdentifier(MetadataColumn.deleted))" : ", false"
        }
        let name = warehouse ? table.target.sql : table.source.sql
        return
            "SELECT \(keyText(warehouse: warehouse)), md5(\(rowText(warehouse: warehouse)))\(extra) FROM \(name) WHERE \(rangeCondition(after: after, through: through, warehouse: warehouse))"
    }

    /// Which rows ``copyQuery(_:position:)`` copies.
    public enum CopiedRows: Sendable {
        /// The rows in `(after, through]`; nil bounds are open.
        case range(after: [String]?, through: [String]?)
        /// The rows with these keys (each key as text, one value per key column).
        case keys([[String]])
    }

    /// `COPY ... TO STDOUT` of some rows in key order, as a snapshot copies them: every column,
    /// then `position` (COPY takes no parameters, so keys are quoted literals cast to their types).
    public func copyQuery(_ rows: CopiedRows, position: String) -> String {
        func tuple(_ values: [String]) -> String { boundTuple { SQL.quoteLiteral(values[$0]) } }
        var conditions: [String] = []
        switch rows {
        case .range(let after, let through):
            if let after { conditions.append("\(keyTuple(warehouse: false)) > \(tuple(after))") }
            if let through { conditions.append("\(keyTuple(warehouse: false)) <= \(tuple(through))") }
        case .keys(let keys):
            conditions.append("\(keyTuple(warehouse: false)) IN (\(keys.isEmpty ? "NULL" : keys.map(tuple).joined(separator: ", ")))")
        }
        let columns = table.columns.map { SQL.quoteIdentifier($0.name) }.joined(separator: ", ")
        let order = keyColumns.map { keyExpression($0, warehouse: false) }.joined(separator: ", ")
        return
            "COPY (SELECT \(columns), \(SQL.quoteLiteral(position))::pg_lsn FROM \(table.source.sql) WHERE \(conditions.isEmpty ? "true" : conditions.joined(separator: " AND ")) ORDER BY \(order)) TO STDOUT"
    }

    /// True when chunks are by key; tables without one are compared whole.
    public var isChunked: Bool { !keyColumns.isEmpty && table.identity == .key }
}
