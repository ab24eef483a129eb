import PGOutput

/// Follows the tables a replication stream describes in Relation messages: binds each relation id
/// to its mapped table as the stream now shapes it, notices columns added, removed or retyped, and
/// decides which changes of shape cannot be followed, stopping that table. A value type with no
/// IO; the ``ChangeBatcher`` owns one and places what it returns in the transaction.
public struct RelationTracker: Sendable {
    /// What a Relation message means for the transaction it arrives in.
    public enum Outcome: Sendable {
        /// The table's columns changed in a way the warehouse follows.
        case schemaChange(SchemaChange)
        /// The table can no longer be followed; its changes are ignored from here on.
        case stop(MappedTable, ForagerError)
    }

    private let tablesBySource: [TableName: MappedTable]
    /// The mapped tables whose OID is known, by it: a Relation message under another name is the
    /// same table renamed.
    private let tablesByRelationID: [UInt32: MappedTable]
    private var relations: [UInt32: RelationBinding] = [:]
    /// The columns each table's stream last described, to notice schema changes.
    private var publishedColumns: [TableName: [SourceColumn]] = [:]
    /// Tables that were stopped: their changes are ignored.
    public private(set) var stoppedTables: Set<TableName>
    /// Relation ids of published tables that are not mapped (or stopped); their changes are ignored.
    public private(set) var unmappedRelations: [UInt32: TableName] = [:]

    /// - Parameters:
    ///   - tables: the mapped tables, as described from the source's catalogue at start.
    ///   - stopped: source tables whose changes are ignored until they are resynced.
    public init(tables: [MappedTable], stopped: Set<TableName> = []) {
        self.stoppedTables = stopped
        self.tablesBySource = Dictionary(tables.map { ($0.source, $0) }, uniquingKeysWith: { first, _ in first })
        self.tablesByRelationID = Dictionary(
            tables.compactMap { table in table.relationID.map { ($0, table) } }, uniquingKeysWith: { first, _ in first })
    }

    /// The binding of a relation, or nil when its changes are ignored (not mapped, or stopped).
    func binding(for id: UInt32) throws(ForagerError) -> RelationBinding? {
        if let binding = relations[id] { return binding }
        if unmappedRelations[id] != nil { return nil }
        throw ForagerError(.protocolViolation, "a change refers to relation id \(id), which the stream never described")
    }

    /// Binds `relation` to its mapped table as the stream now shapes it; returns what the change
    /// of shape means for the transaction it arrives in, in order (nothing for an unmapped table).
    /// `inCopy`: whether that transaction is already in the named table's copy, where nothing is
    /// followed (the copy has the shape the table had when copied).
    mutating func bind(_ relation: Relation, inCopy: (TableName) -> Bool) throws(ForagerError) -> [Outcome] {
        let name = TableName(schema: relation.namespace, name: relation.name)
        if let bound = relations[relation.id]?.table ?? tablesByRelationID[relation.id], bound.source != name,
            !stoppedTables.contains(bound.source)
        {
            // The same table under another name: renamed, or moved to another schema.
            return [
                stop(
                    bound, relationID: relation.id,
                    ForagerError(
                        .schema,
                        "mapped table \(bound.source) was renamed on the source, to \(name): the mapping no longer names it, so Forager stopped this table rather than drop its changes",
                        hint:
                            "Map the table by its new name (source: \(name), target: \(bound.target.name), to keep filling the same warehouse table), then resync it: forager resync --table \(name)."
                    ))
            ]
        }
        guard var table = tablesBySource[name], !stoppedTables.contains(name) else {
            unmappedRelations[relation.id] = name
            relations[relation.id] = nil
            return []
        }
        if inCopy(name) {
            // The transaction is in the table's copy, which has the shape the table had when copied:
            // nothing to follow, and its changes are skipped.
            table = table.reshaped(to: relation)
            let keyIndexes = table.keyColumns.compactMap { key in relation.columns.firstIndex { $0.name == key } }
            relations[relation.id] = RelationBinding(relation: relation, table: table, keyIndexes: keyIndexes)
            return []
        }
        // The first Relation message of a table in this stream may be older than the catalogue
        // the table was described from: changes made while Forager was stopped still follow.
        let olderThanCatalogue = publishedColumns[name] == nil
        let previous = publishedColumns[name] ?? table.columns
        table.columns = previous
        table = table.reshaped(to: relation)
        let names = table.columns.map(\.name)
        let previousNames = previous.map(\.name)
        let added = names.filter { !previousNames.contains($0) }
        let removed = previousNames.filter { !names.contains($0) }
        let retyped = relation.columns.compactMap { column -> String? in
            guard let old = previous.first(where: { $0.name == column.name })?.sourceType,
                old != (column.typeOID, column.typeModifier)
            else { return nil }
            return column.name
        }
        publishedColumns[name] = table.columns
        var outcomes: [Outcome] = []
        if !added.isEmpty || !removed.isEmpty || !retyped.isEmpty {
            // Columns that older changes name and the catalogue lacks were dropped since, and ones
            // the catalogue has that they lack were added since: the changes keep their own shape.
            // A rename is told apart where the table has fewer dropped columns than that.
            let ownShape = olderThanCatalogue && added.count <= table.droppedColumnCount
            if let error = Self.unfollowable(table, added: added, removed: removed, ownShape: ownShape) {
                return [stop(table, relationID: relation.id, error)]
            }
            outcomes.append(.schemaChange(SchemaChange(table: table, added: added, removed: removed, retyped: retyped)))
        }
        if let error = Self.identityChanged(table, relation) {
            return outcomes + [stop(table, relationID: relation.id, error)]
        }
        let keyIndexes = try table.keyColumns.map { key throws(ForagerError) in
            guard let index = names.firstIndex(of: key) else {
                throw ForagerError(.schema, "key column \(SQL.quoteIdentifier(key)) of \(name) is not in the replication stream")
            }
            return index
        }
        relations[relation.id] = RelationBinding(
            relation: relation, table: table, keyIndexes: keyIndexes,
            widenedReals: Self.widenedReals(relation, catalogue: tablesBySource[name]?.columns ?? []))
        return outcomes
    }

    /// The columns of `relation` that arrive as `real` or `real[]` where the catalogue the warehouse
    /// was shaped from (at start) has `double precision`: changes older than the widening.
    private static func widenedReals(_ relation: Relation, catalogue: [SourceColumn]) -> [(index: Int, isArray: Bool)] {
        relation.columns.enumerated().compactMap { index, column in
            guard let now = catalogue.first(where: { $0.name == column.name }), now.overriddenType == nil, let type = now.sourceType?.oid
            else { return nil }
            switch (column.typeOID, type) {
            case (700, 701): return (index, false)
            case (1021, 1022): return (index, true)
            default: return nil
            }
        }
    }

    /// Why a change of columns cannot be followed, or nil when it can. `ownShape`: the columns are
    /// those of changes older than the catalogue the table was described from, compared with it.
    private static func unfollowable(_ table: MappedTable, added: [String], removed: [String], ownShape: Bool) -> ForagerError? {
        let name = table.source
        if !added.isEmpty && !removed.isEmpty && !ownShape {
            return ForagerError(
                .schema,
                "columns of \(name) were renamed, or dropped and added, on the source (no longer published: \(removed.map(SQL.quoteIdentifier).joined(separator: ", ")); new: \(added.map(SQL.quoteIdentifier).joined(separator: ", "))); Forager cannot tell which, so it stopped this table rather than guess",
                hint: "Resync the table: forager resync --table \(name) (it copies the table again while the others keep streaming).")
        }
        if let key = table.keyColumns.first(where: removed.contains) {
            return ForagerError(
                .schema,
                "key column \(SQL.quoteIdentifier(key)) of \(name) is no longer published (dropped or renamed on the source), so its changes cannot be matched; the table was stopped",
                hint: "Resync the table: forager resync --table \(name).")
        }
        return nil
    }

    /// Why a table must stop when the source identifies its rows in updates and deletes by other
    /// columns than the ones Forager matches warehouse rows by (a primary key or replica identity
    /// changed): deletes would miss their rows, or rows the source now tells apart would merge.
    /// Nil while the identity still serves: the same key, every column (`REPLICA IDENTITY FULL`),
    /// or none (`NOTHING`, under which the source refuses updates and deletes of published tables).
    private static func identityChanged(_ table: MappedTable, _ relation: Relation) -> ForagerError? {
        guard relation.replicaIdentity != .nothing, relation.replicaIdentity != .full, table.identity != .appendOnly else { return nil }
        let flagged = relation.columns.filter(\.isKey).map(\.name)
        guard table.identity == .fullRow || Set(flagged) != Set(table.keyColumns) else { return nil }
        func list(_ names: [String]) -> String { "(" + names.map(SQL.quoteIdentifier).joined(separator: ", ") + ")" }
        let matched = table.identity == .fullRow ? "the whole row (REPLICA IDENTITY FULL)" : list(table.keyColumns)
        return ForagerError(
            .schema,
            "the replica identity of \(table.source) changed on the source: its updates and deletes now name rows by \(list(flagged)), where Forager matches warehouse rows by \(matched); Forager stopped this table rather than miss deletes or merge rows",
            hint: "Resync the table to copy it with its new key: forager resync --table \(table.source).")
    }

    /// Stops a table: its changes are ignored from here on.
    private mutating func stop(_ table: MappedTable, relationID: UInt32, _ error: ForagerError) -> Outcome {
        stoppedTables.insert(table.source)
        unmappedRelations[relationID] = table.source
        relations[relationID] = nil
        return .stop(table, error)
    }
}
