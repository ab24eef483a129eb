public import ForagerCore

/// The SQL the Redshift warehouse sends, as pure functions of the mapping: every identifier quoted,
/// nothing Redshift lacks (no upsert, no TRUNCATE inside a transaction, one column per ADD COLUMN).
/// The golden files under `Tests/RedshiftWarehouseTests/Golden` hold its output for one table.
public enum RedshiftSQL {
    /// The metadata columns every warehouse table ends with, with their Redshift definitions.
    static let metadataDefinitions = [
        "\(SQL.quoteIdentifier(MetadataColumn.lsn)) BIGINT NOT NULL",
        "\(SQL.quoteIdentifier(MetadataColumn.syncedAt)) TIMESTAMPTZ NOT NULL DEFAULT GETDATE()",
        "\(SQL.quoteIdentifier(MetadataColumn.deleted)) BOOLEAN NOT NULL DEFAULT false",
    ]

    /// The Redshift type of a source column.
    public static func type(of column: SourceColumn) -> RedshiftColumnType {
        RedshiftTypes.mapping(of: column.sqlType.isEmpty ? "text" : column.sqlType)
    }

    /// CREATE TABLE for a mapped table: its columns (NOT NULL only in the key), the metadata
    /// columns, the key (informational in Redshift) and the layout of `redshift:` (its DISTSTYLE,
    /// KEY with a DISTKEY, else AUTO; SORTKEY, else the key as sort key).
    public static func createTable(_ table: MappedTable) -> String {
        // Only key columns are NOT NULL: Redshift cannot drop a NOT NULL later, when the source
        // drops the column or lets it be NULL.
        var lines = table.storedColumns.map { column in
            let name = table.warehouseName(of: column.name)
            return "    \(quoted(name)) \(type(of: column).sql)\(table.warehouseKey.contains(name) ? " NOT NULL" : "")"
        }
        lines += metadataDefinitions.map { "    " + $0 }
        if !table.warehouseKey.isEmpty { lines.append("    PRIMARY KEY (\(list(table.warehouseKey)))") }
        let layout = table.layout.redshift ?? PhysicalLayout.Redshift()
        var attributes = ["DISTSTYLE \(layout.effectiveDistStyle.rawValue.uppercased())"]
        if let distKey = layout.distKey { attributes.append("DISTKEY (\(quoted(distKey)))") }
        let sortKey = table.layout.redshift?.sortKey.nilIfEmpty ?? table.warehouseKey.nilIfEmpty
        if let sortKey { attributes.append("COMPOUND SORTKEY (\(list(sortKey)))") }
        return "CREATE TABLE \(table.target.sql) (\n\(lines.joined(separator: ",\n"))\n)\n\(attributes.joined(separator: "\n"))"
    }

    /// The checkpoint table: one row per slot, replaced by delete and insert.
    public static func createStateTable(_ name: String) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(name) (
            "slot" VARCHAR(256) NOT NULL,
            "lsn" BIGINT NOT NULL,
            "updated_at" TIMESTAMPTZ NOT NULL DEFAULT GETDATE(),
            PRIMARY KEY ("slot")
        )
        """
    }

    /// The table registry: each mapped table's state, replaced by delete and insert.
    public static func createRegistry(_ name: String) -> String {
        """
        CREATE TABLE IF NOT EXISTS \(name) (
            "slot" VARCHAR(256) NOT NULL,
            "source_schema" VARCHAR(512) NOT NULL,
            "source_table" VARCHAR(512) NOT NULL,
            "state" VARCHAR(16) NOT NULL,
            "synced_lsn" BIGINT,
            "reason" VARCHAR(65535),
            "updated_at" TIMESTAMPTZ NOT NULL DEFAULT GETDATE(),
            PRIMARY KEY ("slot", "source_schema", "source_table")
        )
        """
    }

    /// The checkpoint of `slot`, replaced: the caller passes the greater of the stored and the new
    /// position, so it only moves forward.
    public static func storeCheckpoint(_ stateTable: String, slot: String, lsn: UInt64) -> [String] {
        [
            "DELETE FROM \(stateTable) WHERE \"slot\" = \(SQL.quoteLiteral(slot))",
            "INSERT INTO \(stateTable) (\"slot\", \"lsn\", \"updated_at\") VALUES (\(SQL.quoteLiteral(slot)), \(lsn), GETDATE())",
        ]
    }

    /// LOCK of the tables a batch writes, in one fixed order (by name), so that two writers wait
    /// for each other instead of failing with a serializable isolation violation (error 1023).
    public static func lock(_ tables: [String]) -> String {
        "LOCK " + Set(tables).sorted().joined(separator: ", ")
    }

    /// ADD COLUMN, one column per statement as Redshift requires, with no default: Redshift
    /// cannot drop a default, and rows written without the column after the source drops it must
    /// read NULL there.
    public static func addColumn(_ table: MappedTable, _ column: SourceColumn) -> String {
        "ALTER TABLE \(table.target.sql) ADD COLUMN \(quoted(table.warehouseName(of: column.name))) \(type(of: column).sql)"
    }

    /// Gives the rows already in `table` a value in each column just added, one UPDATE for all
    /// (each rewrites every row): what the source's rows older than the column read for it
    /// (``missingValueLiteral(_:)``).
    public static func fillAdded(_ table: MappedTable, _ values: [(column: SourceColumn, literal: String)]) -> String {
        let sets = values.map { "\(quoted(table.warehouseName(of: $0.column.name))) = \($0.literal)" }
        return "UPDATE \(table.target.sql) SET \(sets.joined(separator: ", "))"
    }

    /// The literal of what rows older than a column read for it (its `missingValue`, one-element
    /// array text such as `{5}` or `{"a b"}`): `NULL`, a quoted literal, or nil when Redshift could
    /// not take it as a default (SUPER, VARBYTE, a value it cannot hold, a backslash, which
    /// Redshift's literals may read as an escape).
    public static func missingValueLiteral(_ column: SourceColumn) -> String? {
        guard let text = column.missingValue, text.hasPrefix("{"), text.hasSuffix("}") else { return nil }
        var element = String(text.dropFirst().dropLast())
        if element == "NULL" { return "NULL" }
        if element.hasPrefix("\""), element.hasSuffix("\""), element.count >= 2 {
            var unquoted = ""
            var escaped = false
            for character in element.dropFirst().dropLast() {
                if !escaped, character == "\\" {
                    escaped = true
                    continue
                }
                unquoted.append(character)
                escaped = false
            }
            element = unquoted
        }
        let kind = type(of: column).kind
        switch kind {
        case .json, .varbyte: return nil
        case .plain, .float, .decimal, .dateTime, .text, .truncatedText, .lsn: break
        }
        guard let value = try? RedshiftCSV.converted(ArraySlice(element.utf8), kind: kind, column: 0), !value.contains(0x5C) else {
            return nil
        }
        return SQL.quoteLiteral(String(decoding: value, as: UTF8.self))
    }

    /// Widens a VARCHAR column (Redshift's only ALTER COLUMN TYPE; never inside a transaction).
    public static func widen(_ table: MappedTable, column: String, to type: RedshiftColumnType) -> String {
        "ALTER TABLE \(table.target.sql) ALTER COLUMN \(quoted(column)) TYPE \(type.sql)"
    }

    /// A TRUNCATE inside a batch: Redshift's TRUNCATE would commit the open transaction.
    public static func truncate(_ table: MappedTable) -> String {
        "DELETE FROM \(table.target.sql)"
    }

    static func quoted(_ name: String) -> String { SQL.quoteIdentifier(name) }

    static func list(_ names: [String]) -> String { names.map(SQL.quoteIdentifier).joined(separator: ", ") }
}

extension Array {
    /// Nil when empty.
    var nilIfEmpty: Self? { isEmpty ? nil : self }
}
