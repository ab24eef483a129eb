import PGOutput

/// A source column as the catalog describes it.
public struct SourceColumn: Sendable, Equatable {
    public static func == (lhs: SourceColumn, rhs: SourceColumn) -> Bool {
        lhs.name == rhs.name && lhs.sqlType == rhs.sqlType && lhs.notNull == rhs.notNull && lhs.missingValue == rhs.missingValue
            && lhs.binaryCompatible == rhs.binaryCompatible && lhs.overriddenType == rhs.overriddenType
            && lhs.sourceType?.oid == rhs.sourceType?.oid && lhs.sourceType?.modifier == rhs.sourceType?.modifier
    }

    /// The rows older than this column may hold values that only the source's rows tell (see
    /// `hasDefault`): a warehouse that adds the column to rows it holds copies the table again.
    public var olderRowsNeedTheSource: Bool { missingValue == nil && (hasDefault || notNull) }

    public var name: String
    /// The type as `format_type` prints it, for example `numeric(10,2)` or `timestamp with time zone`.
    public var sqlType: String
    public var notNull: Bool
    /// For a column added with a constant default, the value that rows older than the column read
    /// (`pg_attribute.attmissingval` as array text, for example `{5}`); nil otherwise.
    public var missingValue: String?
    /// True when the source type is the warehouse type (built in, or a domain over a built-in
    /// type), so values may travel in PostgreSQL's binary COPY format.
    public var binaryCompatible: Bool
    /// The source's type when the mapping overrides the warehouse type (`types`); nil otherwise.
    public var overriddenType: String?
    /// The column has a default (`pg_attribute.atthasdef`). With no `missingValue`, the rows that
    /// are older than the column may hold values the catalogue no longer tells: a volatile default
    /// filled them, or a table rewrite moved the missing value into them.
    public var hasDefault = false
    /// The source type's OID and modifier, as Relation messages carry them, to notice type changes;
    /// nil when not known.
    public var sourceType: (oid: UInt32, modifier: Int32)?

    public init(
        name: String, sqlType: String, notNull: Bool, missingValue: String? = nil, binaryCompatible: Bool = false,
        sourceType: (oid: UInt32, modifier: Int32)? = nil
    ) {
        self.sourceType = sourceType
        self.name = name
        self.sqlType = sqlType
        self.notNull = notNull
        self.missingValue = missingValue
        self.binaryCompatible = binaryCompatible
    }
}

/// What a source DELETE does to the warehouse row.
public enum DeleteMode: String, Sendable, Equatable {
    /// The row is removed (the default).
    case hard
    /// The row stays, with `_forager_deleted = true` and the LSN of the delete.
    case soft
}

/// How the changes of a table find their warehouse rows.
public enum RowIdentity: Sendable, Equatable {
    /// By the key columns (the primary key, or the replica identity index): one warehouse row per key.
    case key
    /// By the whole row (a table without a key, with `REPLICA IDENTITY FULL`): the warehouse table
    /// holds the same multiset of rows as the source, identical copies included.
    case fullRow
    /// Every insert is a new warehouse row; updates, deletes and truncations are not replicated
    /// (`append_only: true`).
    case appendOnly
}

/// One source table and where it lands in the warehouse.
public struct MappedTable: Sendable, Equatable {
    public var source: TableName
    public var target: TableName
    public var deletes: DeleteMode = .hard
    /// Source columns kept out of the publication (`exclude_columns`); `columns` lists the rest.
    public var excludedColumns: [String] = []
    /// Warehouse names of source columns that are renamed (`rename_columns`).
    public var renames: [String: String] = [:]
    /// Warehouse columns computed from JSON fields (`extract`).
    public var extracts: [JSONExtract] = []
    /// Whether the warehouse stores the json columns that `extracts` read from (`keep_json`).
    public var keepJSON = true
    /// Columnar warehouses' storage options (`clickhouse:`, `redshift:`).
    public var layout = PhysicalLayout()
    /// The source table's OID, which Relation messages name it by under any later name; nil when
    /// not known.
    public var relationID: UInt32?
    /// How many columns the source table has had dropped over its life (PostgreSQL keeps a dropped
    /// column in its catalogue): a column that older changes in the stream name and the table no
    /// longer has may have been dropped only if there are at least as many.
    public var droppedColumnCount = 0

    /// The warehouse column that holds the source column `name`.
    public func warehouseName(of name: String) -> String { renames[name] ?? name }

    /// The source columns the warehouse table stores: all of `columns`, except the json columns
    /// that extracts read from when `keepJSON` is false.
    public var storedColumns: [SourceColumn] {
        keepJSON ? columns : columns.filter { column in !extracts.contains { $0.from == column.name } }
    }

    /// Leaves out the columns that the table's publication entry, a column list made for
    /// `exclude_columns`, does not publish: PostgreSQL does not add a column added to the source
    /// table later to the list, so it never arrives. A key column, and one the mapping names
    /// (`rename_columns`, `extract`), stays: the mapping asks for it. Returns the names left out;
    /// a table without `exclude_columns` (no column list) keeps every column.
    public mutating func leaveOutUnpublished(published: Set<String>) -> [String] {
        guard !excludedColumns.isEmpty else { return [] }
        let named = Set(keyColumns + renames.keys + extracts.map(\.from))
        let left = columns.map(\.name).filter { !published.contains($0) && !named.contains($0) }
        columns.removeAll { left.contains($0.name) }
        return left
    }

    /// The key's warehouse column names.
    public var warehouseKey: [String] { keyColumns.map(warehouseName(of:)) }
    /// How changes find their rows; `keyColumns` is empty unless it is `.key`.
    public var identity: RowIdentity = .key
    /// The source table has `REPLICA IDENTITY FULL`; then its publication entry cannot have a
    /// column list (PostgreSQL would refuse UPDATE and DELETE on the table).
    public var replicaIdentityFull = false
    /// The published columns in the source's order (generated columns are not sent by pgoutput in
    /// PostgreSQL 15 and are not listed).
    public var columns: [SourceColumn]
    /// The columns that identify a row, in key order: the primary key, or the columns of the
    /// replica identity index when the table has one. Empty for `.fullRow` and `.appendOnly`.
    public var keyColumns: [String]

    public init(source: TableName, target: TableName, columns: [SourceColumn], keyColumns: [String]) {
        self.source = source
        self.target = target
        self.columns = columns
        self.keyColumns = keyColumns
    }
}

extension MappedTable {
    /// This table with the columns of a Relation message: known columns keep their definitions;
    /// new ones have an empty `sqlType`, for the sink to look up.
    func reshaped(to relation: Relation) -> MappedTable {
        var copy = self
        copy.columns = relation.columns.map { column in
            var known = columns.first { $0.name == column.name } ?? SourceColumn(name: column.name, sqlType: "", notNull: false)
            if let type = known.sourceType, type != (column.typeOID, column.typeModifier) {
                // The type changed: the sink looks the new one up.
                known.sqlType = ""
                known.binaryCompatible = false
            }
            known.sourceType = (column.typeOID, column.typeModifier)
            return known
        }
        return copy
    }
}

/// Names of the metadata columns Forager adds to every warehouse table.
public enum MetadataColumn {
    /// The LSN of the change that last wrote the row (`pg_lsn`).
    public static let lsn = "_forager_lsn"
    /// True when the source deleted the row and the table keeps deleted rows (`deletes: soft`).
    public static let deleted = "_forager_deleted"
    /// When Forager wrote the row (`timestamptz`, the warehouse clock at the moment of writing).
    public static let syncedAt = "_forager_synced_at"
}
