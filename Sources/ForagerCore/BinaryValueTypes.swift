/// For a stream whose column values arrive in binary and are stored as received: per table and
/// column, the source type (by OID) whose binary values the warehouse column takes as they are.
/// A relation message may announce another type for a column (the type changed while Forager was
/// stopped, and changes from before that still arrive in the old one, or a schema change gave the
/// column a type the warehouse did not follow): such values cannot be stored as received, and the
/// stream starts again with values in text.
public struct BinaryValueTypes: Sendable {
    private var types: [TableName: [String: UInt32]]

    /// The types of `tables` as the source described them at start, which the warehouse's columns
    /// were checked to have (``BinaryValueSink/binaryValuesObstacle(for:)``).
    public init(tables: [MappedTable]) {
        types = Dictionary(
            tables.map { table in
                (
                    table.source,
                    Dictionary(table.columns.compactMap { column in column.sourceType.map { (column.name, $0.oid) } }) { first, _ in first }
                )
            }
        ) { first, _ in first }
    }

    /// After a schema change reaches the warehouse: its added and retyped columns take the values
    /// as they arrive when the type they were given (the source catalogue's, the change's
    /// ``SchemaChange/changedColumnDefinitions``) is the one the stream announces.
    public mutating func follow(_ change: SchemaChange) {
        let changed = Set(change.added + change.retyped)
        let definitions = change.changedColumnDefinitions
        for column in change.table.columns where changed.contains(column.name) {
            guard let arriving = column.sourceType?.oid else { continue }
            let given = definitions.first { $0.name == column.name }?.sourceType?.oid
            types[change.table.source, default: [:]][column.name] = given == arriving ? arriving : nil
        }
    }

    /// Throws ``ForagerError/Code/binaryValues`` when a column of `table` (as the stream's relation
    /// message describes it) arrives with a type its warehouse column does not take as it is.
    public func check(_ table: MappedTable) throws(ForagerError) {
        let known = types[table.source] ?? [:]
        guard let column = table.columns.first(where: { column in column.sourceType.map { known[column.name] != $0.oid } ?? true }) else {
            return
        }
        throw ForagerError(
            .binaryValues,
            "column \(SQL.quoteIdentifier(column.name)) of \(table.source) arrives in binary with a type that its column in \(table.target) does not take as it is (the type changed on the source)",
            hint: "Nothing is lost: Forager starts the stream again from its checkpoint with values in text.")
    }
}
