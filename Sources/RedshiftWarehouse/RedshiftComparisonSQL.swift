public import ForagerCore
import PGOutput

/// The SQL of `forager validate` against Redshift, as pure functions of the mapping (see
/// RedshiftWarehouse+Comparator.swift): the twin of a table (a session temporary table shaped as
/// its ``Staging``, so the source rows load through the same CSV, S3 and COPY path as a
/// snapshot), the session temporary tables that hold keys, and the queries that read the twin and
/// the warehouse table back over the same keys. Keys are never written as literals: bounds are
/// read from the twin or from `_forager_validate_after`, compared column by column (Redshift has
/// no row comparisons).
public struct RedshiftComparisonSQL: Sendable {
    public let table: MappedTable
    /// The twin: the stage of the table on the comparator's own session.
    public let twin: Staging

    public init(table: MappedTable) {
        self.table = table
        self.twin = Staging(table: table, number: 0)
    }

    /// The key that the next rows come after: the previous chunk's last key (keys compared by
    /// range), the previous page's last key (the walk over unseen warehouse keys).
    static let after = SQL.quoteIdentifier("_forager_validate_after")
    /// The keys of every chunk compared so far (keys compared by set).
    static let seen = SQL.quoteIdentifier("_forager_validate_seen")
    /// One page of warehouse keys.
    static let page = SQL.quoteIdentifier("_forager_validate_page")
    /// The keys of the page that no chunk had.
    static let unseen = SQL.quoteIdentifier("_forager_validate_unseen")
    static let keyTables = [after, seen, page, unseen]

    private static let warehouseAlias = SQL.quoteIdentifier("_forager_w")
    private static let otherAlias = SQL.quoteIdentifier("_forager_k")
    private static let lsn = SQL.quoteIdentifier(MetadataColumn.lsn)
    private static let deleted = SQL.quoteIdentifier(MetadataColumn.deleted)

    /// The key columns' warehouse names, quoted.
    private var keys: [String] { table.warehouseKey.map(SQL.quoteIdentifier) }

    private var keyColumns: [SourceColumn] {
        table.warehouseKey.compactMap { key in table.columns.first { table.warehouseName(of: $0.name) == key } }
    }

    /// The key columns, then the others, as the warehouse names them (quoted).
    private var comparedColumns: [String] {
        let others = table.storedColumns.map { table.warehouseName(of: $0.name) }.filter { !table.warehouseKey.contains($0) }
        return (table.warehouseKey + others).map(SQL.quoteIdentifier)
    }

    private func list(_ names: [String], _ alias: String? = nil, descending: Bool = false) -> String {
        names.map { (alias.map { $0 + "." } ?? "") + $0 + (descending ? " DESC" : "") }.joined(separator: ", ")
    }

    /// DROP, then CREATE, of the twin and the key tables.
    public func begin() -> [String] {
        let definitions = zip(keys, keyColumns).map { "\($0) \(RedshiftSQL.type(of: $1).sql)" }.joined(separator: ", ")
        return end() + [twin.create()] + Self.keyTables.map { "CREATE TEMP TABLE \($0) (\(definitions))" }
    }

    /// DROP of the twin and the key tables.
    public func end() -> [String] {
        ([twin.name] + Self.keyTables).map { "DROP TABLE IF EXISTS \($0)" }
    }

    /// Empties the twin before a chunk loads (DELETE: the comparator runs outside a transaction,
    /// where TRUNCATE would do too, but DELETE is right in any).
    public func emptyTwin() -> String { "DELETE FROM \(twin.name)" }

    /// The twin's rows in key order: the compared columns, how many rows hold the key, then 0 as
    /// the version.
    public func twinRows() -> String {
        let alias = Self.otherAlias
        return """
            SELECT \(list(comparedColumns, alias)), COUNT(*) OVER (PARTITION BY \(list(keys, alias))), 0
            FROM \(twin.name) AS \(alias)
            ORDER BY \(list(keys, alias))
            """
    }

    /// The warehouse rows in `scope` that analysts see (not flagged deleted), in key order: the
    /// compared columns, how many rows hold the key (Redshift does not enforce a primary key, so a
    /// key held twice differs from the source), then `_forager_lsn` as the version.
    public func warehouseRows(in scope: TwinComparisonScope) -> String {
        let alias = Self.warehouseAlias
        var joins: [String] = []
        var conditions = ["NOT \(alias).\(Self.deleted)"]
        switch scope {
        case .range(let first, let last):
            if !first {
                joins.append("CROSS JOIN \(Self.after) AS \(Self.otherAlias)")
                conditions.append(keyOrder(alias, after: true, Self.otherAlias))
            }
            if !last {
                let through = SQL.quoteIdentifier("_forager_l")
                joins.append(
                    "CROSS JOIN (SELECT \(list(keys)) FROM \(twin.name) ORDER BY \(list(keys, descending: true)) LIMIT 1) AS \(through)")
                conditions.append(keyOrder(alias, after: false, through))
            }
        case .twinKeys:
            joins.append("JOIN \(twin.name) AS \(Self.otherAlias) ON \(keyMatch(alias, Self.otherAlias))")
        case .unseenKeys:
            joins.append("JOIN \(Self.unseen) AS \(Self.otherAlias) ON \(keyMatch(alias, Self.otherAlias))")
        }
        return """
            SELECT \(list(comparedColumns, alias)), COUNT(*) OVER (PARTITION BY \(list(keys, alias))), \(alias).\(Self.lsn)
            FROM \(table.target.sql) AS \(alias)\(joins.map { "\n" + $0 }.joined())
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY \(list(keys, alias))
            """
    }

    /// The condition that the key of the rows `left` is after the key of `right` (`after`), or
    /// at or before it: column by column, as a row comparison would.
    func keyOrder(_ left: String, after: Bool, _ right: String) -> String {
        let pairs = keys.map { ("\(left).\($0)", "\(right).\($0)") }
        guard let last = pairs.last else { return "true" }
        var condition = "\(last.0) \(after ? ">" : "<=") \(last.1)"
        for (column, bound) in pairs.dropLast().reversed() {
            condition = "(\(column) \(after ? ">" : "<") \(bound) OR (\(column) = \(bound) AND \(condition)))"
        }
        return condition
    }

    private func keyMatch(_ left: String, _ right: String) -> String {
        keys.map { "\(left).\($0) = \(right).\($0)" }.joined(separator: " AND ")
    }

    /// Makes the twin's last key the one the next chunk comes after.
    public func advance() -> [String] {
        [
            "DELETE FROM \(Self.after)",
            "INSERT INTO \(Self.after) SELECT \(list(keys)) FROM \(twin.name) ORDER BY \(list(keys, descending: true)) LIMIT 1",
        ]
    }

    /// Adds the twin's keys to the keys seen.
    public func recordSeen() -> String {
        "INSERT INTO \(Self.seen) SELECT \(list(keys)) FROM \(twin.name)"
    }

    /// Fills the page with up to `size` distinct warehouse keys, in key order, of rows analysts
    /// see that were last written at or before the position `$1` (a BIGINT), after the key in
    /// `_forager_validate_after` (unless `fromStart`).
    public func fillPage(fromStart: Bool, size: Int) -> [String] {
        let alias = Self.warehouseAlias
        var from = "\(table.target.sql) AS \(alias)"
        var conditions = ["NOT \(alias).\(Self.deleted)", "\(alias).\(Self.lsn) <= $1"]
        if !fromStart {
            from += " CROSS JOIN \(Self.after) AS \(Self.otherAlias)"
            conditions.append(keyOrder(alias, after: true, Self.otherAlias))
        }
        return [
            "DELETE FROM \(Self.page)",
            """
            INSERT INTO \(Self.page) SELECT DISTINCT \(list(keys, alias)) FROM \(from)
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY \(list(keys, alias)) LIMIT \(size)
            """,
        ]
    }

    /// The page's last key, each column as text; no row when the page is empty.
    public func pageLast() -> String {
        "SELECT \(list(keys)) FROM \(Self.page) ORDER BY \(list(keys, descending: true)) LIMIT 1"
    }

    /// Makes the page's last key the one the next page comes after, and keeps the page's keys
    /// that no chunk had.
    public func keepPage() -> [String] {
        let page = SQL.quoteIdentifier("_forager_p")
        return [
            "DELETE FROM \(Self.after)",
            "INSERT INTO \(Self.after) \(pageLast())",
            "DELETE FROM \(Self.unseen)",
            """
            INSERT INTO \(Self.unseen) SELECT \(list(keys, page)) FROM \(Self.page) AS \(page)
            LEFT JOIN \(Self.seen) AS \(Self.otherAlias) ON \(keyMatch(page, Self.otherAlias))
            WHERE \(Self.otherAlias).\(keys[0]) IS NULL
            """,
        ]
    }

    /// The unseen keys in key order.
    public func unseenKeys() -> String {
        "SELECT \(list(keys)) FROM \(Self.unseen) ORDER BY \(list(keys))"
    }

    /// A key as Redshift prints it, in PostgreSQL's text form for the source to read: VARBYTE's
    /// bare hexadecimal with `\x` again, a pg_lsn's BIGINT as `X/Y`.
    public func sourceText(ofKey values: [String?]) -> [String] {
        zip(keyColumns, values).map { column, value in
            let text = value ?? ""
            switch RedshiftSQL.type(of: column).kind {
            case .varbyte: return "\\x" + text
            case .lsn: return UInt64(text).map { LSN($0).description } ?? text
            case .plain, .float, .decimal, .dateTime, .text, .truncatedText, .json: return text
            }
        }
    }

    /// A row read back as one line: its fields tab-separated, with backslash, tab, newline and
    /// carriage return escaped and NULL as `\N`, as in COPY text, so that the line splits back into
    /// the same fields.
    public static func line(_ row: [String?]) -> String {
        var line: [UInt8] = []
        for (index, field) in row.enumerated() {
            if index > 0 { line.append(0x09) }
            if let field {
                CopyTextEscapes.escape(ArraySlice(field.utf8), into: &line)
            } else {
                line += [0x5C, UInt8(ascii: "N")]
            }
        }
        return String(decoding: line, as: UTF8.self)
    }
}
