public import PGOutput

/// The identity of a row inside a batch: its key's values.
///
/// A one-column key (the common case) is the value itself, a slice of the received message: no
/// copy and no allocation per row. A longer key is its values, each length-prefixed, in one array.
public struct RowKey: Hashable, Sendable {
    private enum Storage: Sendable {
        case one(ArraySlice<UInt8>)
        case encoded([UInt8])
    }

    private let storage: Storage

    public init(_ values: [TupleColumn]) {
        if values.count == 1 {
            switch values[0] {
            case .text(let slice), .binary(let slice):
                storage = .one(slice)
                return
            case .null, .unchangedToast: break
            }
        }
        var capacity = 0
        for value in values {
            switch value {
            case .text(let slice), .binary(let slice): capacity += 4 + slice.count
            case .null, .unchangedToast: capacity += 4
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(capacity)
        for value in values {
            switch value {
            case .text(let slice), .binary(let slice):
                withUnsafeBytes(of: UInt32(truncatingIfNeeded: slice.count).bigEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: slice)
            case .null, .unchangedToast:
                bytes.append(contentsOf: repeatElement(0xFF, count: 4))
            }
        }
        storage = .encoded(bytes)
    }

    /// Hashes the bytes in one pass (the synthesized conformance would feed them one at a time).
    public func hash(into hasher: inout Hasher) {
        switch storage {
        case .one(let slice): slice.withUnsafeBytes { hasher.combine(bytes: $0) }
        case .encoded(let bytes): bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    public static func == (lhs: RowKey, rhs: RowKey) -> Bool {
        switch (lhs.storage, rhs.storage) {
        case (.one(let left), .one(let right)):
            left.count == right.count && left.withUnsafeBytes { left in right.withUnsafeBytes { right in left.elementsEqual(right) } }
        case (.encoded(let left), .encoded(let right)): left == right
        default: false
        }
    }
}

/// The net effect of a batch's changes on one row.
public struct RowState: Sendable {
    /// The key columns' values, in primary-key order.
    public var key: [TupleColumn]
    /// True when the row may already be in the warehouse, so the sink must remove it before it
    /// writes `row`. False only when the batch's first change to the key was an insert: the
    /// transactional checkpoint guarantees that row was never written before.
    public var mayExist: Bool
    /// The row's final values, or nil when the batch deletes it. Columns may still be
    /// `.unchangedToast` when the batch did not see the value; the sink reads those from the warehouse.
    public var row: TupleData?
    /// The LSN of the change that produced this state.
    public var lsn: LSN
    /// When the batch deleted the row after seeing its values, those values, so that a table with
    /// soft deletes can keep the row as deleted without reading it back.
    public var deletedRow: TupleData?
    /// For a row that an update moved from another key and that still has unchanged-TOAST
    /// columns, the key whose warehouse row holds those values.
    public var movedFrom: [TupleColumn]?
}

/// The net change in the number of copies of one whole row, for tables without a key.
public struct RowDelta: Sendable {
    /// The row's values, complete (no unchanged-TOAST markers).
    public var row: TupleData
    /// Copies to add (positive) or to remove (negative); zero when the batch's changes cancel out.
    public var count: Int
    /// The LSN of the last change that touched this row value.
    public var lsn: LSN
    /// For an append-only table's insert, the row's place among the rows inserted at `lsn` (one
    /// WAL record can hold many, as a COPY writes them): with `lsn`, a name of the row that a
    /// replay of the stream gives it again. 0 otherwise.
    public var place: UInt32 = 0
}

/// The collapsed changes of one table within one step of a batch.
public struct TableChanges: Sendable {
    public private(set) var table: MappedTable
    /// Tuple position of each key column.
    public let keyIndexes: [Int]
    /// The net state of each row, in the order its key was first touched (tables with `.key`
    /// identity). An array with an index beside it, rather than a dictionary of states: the sink
    /// reads the states in order without a lookup per row, and the index holds only positions.
    public private(set) var orderedStates: [RowState] = []
    private var positions: [RowKey: Int] = [:]
    /// For tables without a key (`.fullRow` and `.appendOnly` identity): row values in the order
    /// they were first touched, with how many copies to add or remove. An append-only table gets
    /// one entry per insert.
    public private(set) var deltas: [RowDelta] = []
    private var deltaPositions: [RowKey: Int] = [:]
    /// How many source inserts, updates and deletes were folded in (before collapsing).
    public private(set) var received = OperationCounts()

    /// `expectedRows`: how many rows the table will likely hold, so that its index is made that
    /// large at once rather than grown (and every key hashed again) step by step.
    init(table: MappedTable, keyIndexes: [Int], expectedRows: Int = 0) {
        self.table = table
        self.keyIndexes = keyIndexes
        guard expectedRows > 0 else { return }
        if table.identity == .key {
            positions.reserveCapacity(expectedRows)
            orderedStates.reserveCapacity(expectedRows)
        } else {
            deltaPositions.reserveCapacity(expectedRows)
            deltas.reserveCapacity(expectedRows)
        }
    }

    /// The rows this step holds for the table.
    var rowCount: Int { orderedStates.count + deltas.count }

    /// Gives the columns whose type the stream did not tell (an empty `sqlType`: added since the
    /// table was described) their definitions in `definitions`, by name: what a sink learned from
    /// an earlier schema change (``SchemaChange/changedColumnDefinitions``).
    public mutating func define(_ definitions: [String: SourceColumn]) {
        for index in table.columns.indices where table.columns[index].sqlType.isEmpty {
            if let known = definitions[table.columns[index].name] { table.columns[index] = known }
        }
    }

    func keyValues(of tuple: TupleData) throws(ForagerError) -> [TupleColumn] {
        try keyIndexes.map { index throws(ForagerError) in
            guard index < tuple.columns.count else {
                throw ForagerError(
                    .protocolViolation, "a change to \(table.source) has \(tuple.columns.count) columns, fewer than its key needs")
            }
            let value = tuple.columns[index]
            switch value {
            case .text, .binary: return value
            case .null, .unchangedToast:
                throw ForagerError(
                    .schema,
                    "a change to \(table.source) has no value for key column \(SQL.quoteIdentifier(table.keyColumns[keyIndexes.firstIndex(of: index) ?? 0]))",
                    hint: "Forager needs the primary key in every change; check the table's REPLICA IDENTITY.")
            }
        }
    }

    mutating func insert(_ tuple: TupleData, lsn: LSN, place: UInt32 = 0) throws(ForagerError) {
        received.inserts += 1
        switch table.identity {
        case .key: break
        case .fullRow: return try count(tuple, by: 1, lsn: lsn)
        case .appendOnly: return deltas.append(RowDelta(row: tuple, count: 1, lsn: lsn, place: place))
        }
        let key = try keyValues(of: tuple)
        let id = RowKey(key)
        if let position = claim(id) {
            orderedStates[position].row = tuple
            orderedStates[position].deletedRow = nil
            orderedStates[position].lsn = lsn
        } else {
            orderedStates.append(RowState(key: key, mayExist: false, row: tuple, lsn: lsn))
        }
    }

    mutating func update(old: TupleData?, new: TupleData, lsn: LSN) throws(ForagerError) {
        received.updates += 1
        switch table.identity {
        case .key: break
        case .fullRow:
            guard let old else {
                throw ForagerError(
                    .schema, "an UPDATE of \(table.source), which has no key, arrived without the old row",
                    hint:
                        "Set REPLICA IDENTITY FULL on \(table.source) (ALTER TABLE \(table.source.sql) REPLICA IDENTITY FULL), or give it a primary key, then resync the table."
                )
            }
            try count(old, by: -1, lsn: lsn)
            return try count(Self.filling(new, from: old), by: 1, lsn: lsn)
        case .appendOnly: return
        }
        let newKey = try keyValues(of: new)
        let newID = RowKey(newKey)
        var previous: TupleData?
        var movedFrom: [TupleColumn]?
        if let old {
            let oldKey = try keyValues(of: old)
            let oldID = RowKey(oldKey)
            if oldID != newID {
                let earlier = positions[oldID].map { orderedStates[$0] }
                previous = earlier?.row
                movedFrom = earlier.map { $0.movedFrom ?? ($0.mayExist ? oldKey : nil) } ?? oldKey
                delete(key: oldKey, id: oldID, lsn: lsn)
            }
        }
        if let position = claim(newID) {
            orderedStates[position].row = Self.filling(new, from: orderedStates[position].row)
            orderedStates[position].deletedRow = nil
            orderedStates[position].lsn = lsn
        } else {
            let row = Self.filling(new, from: previous)
            orderedStates.append(
                RowState(
                    key: newKey, mayExist: true, row: row, lsn: lsn, movedFrom: row.columns.contains(.unchangedToast) ? movedFrom : nil))
        }
    }

    mutating func delete(old: TupleData, lsn: LSN) throws(ForagerError) {
        received.deletes += 1
        switch table.identity {
        case .key: break
        case .fullRow: return try count(old, by: -1, lsn: lsn)
        case .appendOnly: return
        }
        let key = try keyValues(of: old)
        delete(key: key, id: RowKey(key), lsn: lsn)
    }

    private mutating func delete(key: [TupleColumn], id: RowKey, lsn: LSN) {
        if let position = claim(id) {
            if let row = orderedStates[position].row { orderedStates[position].deletedRow = row }
            orderedStates[position].row = nil
            orderedStates[position].lsn = lsn
        } else {
            orderedStates.append(RowState(key: key, mayExist: true, row: nil, lsn: lsn))
        }
    }

    /// The position of the state of `id`; or, when the batch has none yet, nil, with the next
    /// position recorded for it, so that the caller appends its state next (one hash either way).
    private mutating func claim(_ id: RowKey) -> Int? {
        func take(_ slot: inout Int, next: Int) -> Int? {
            guard slot < 0 else { return slot }
            slot = next
            return nil
        }
        return take(&positions[id, default: -1], next: orderedStates.count)
    }

    /// Adds `change` copies of a whole row (tables without a key).
    private mutating func count(_ row: TupleData, by change: Int, lsn: LSN) throws(ForagerError) {
        guard !row.columns.contains(.unchangedToast) else {
            throw ForagerError(
                .protocolViolation, "a change to \(table.source), which has no key, lacks the value of a large (TOAST) column",
                hint: "Forager needs REPLICA IDENTITY FULL on tables without a key, so that every change carries the whole old row.")
        }
        let id = RowKey(row.columns)
        if let position = deltaPositions[id] {
            deltas[position].count += change
            deltas[position].lsn = lsn
        } else {
            deltaPositions[id] = deltas.count
            deltas.append(RowDelta(row: row, count: change, lsn: lsn))
        }
    }

    /// Replaces unchanged-TOAST markers in `tuple` with the values of `previous`, where known.
    static func filling(_ tuple: TupleData, from previous: TupleData?) -> TupleData {
        guard let previous, tuple.columns.contains(.unchangedToast) else { return tuple }
        var filled = tuple
        for index in filled.columns.indices where filled.columns[index] == .unchangedToast && index < previous.columns.count {
            filled.columns[index] = previous.columns[index]
        }
        return filled
    }
}

/// Source changes of one table, by operation.
public struct OperationCounts: Sendable, Equatable {
    public var inserts = 0
    public var updates = 0
    public var deletes = 0
}

/// One ordered step of a batch. Truncations, schema changes and stops are barriers: rows before
/// one are applied before it.
public enum ChangeStep: Sendable {
    case rows([TableChanges])
    case truncate([MappedTable])
    case schemaChange(SchemaChange)
    /// The table can no longer be followed (a change Forager cannot apply): the sink records it as
    /// stopped, with `error`, and applies none of its later changes until it is resynced. Other
    /// tables keep flowing.
    case stopTable(MappedTable, ForagerError)
}

extension ChangeStep {
    /// The step without the tables in `stopped` (whose changes a sink no longer applies), or nil
    /// when nothing is left of it.
    public func excluding(_ stopped: Set<TableName>) -> ChangeStep? {
        guard !stopped.isEmpty else { return self }
        switch self {
        case .rows(let tables):
            let live = tables.filter { !stopped.contains($0.table.source) }
            return live.isEmpty ? nil : .rows(live)
        case .truncate(let tables):
            let live = tables.filter { !stopped.contains($0.source) }
            return live.isEmpty ? nil : .truncate(live)
        case .schemaChange(let change):
            return stopped.contains(change.table.source) ? nil : self
        case .stopTable(let table, _):
            return stopped.contains(table.source) ? nil : self
        }
    }
}

/// A collapsed batch of whole (or, for one huge transaction, partial) source transactions.
public struct ChangeSet: Sendable {
    public internal(set) var steps: [ChangeStep] = []
    /// The number of source changes folded in (before collapsing).
    public private(set) var changeCount = 0
    /// The tables changed since the last truncation or schema step, in the order of their first
    /// change, and where each one is.
    private var open: [TableChanges] = []
    private var openIndex: [TableName: Int] = [:]
    /// The binding of the previous change and its table's place: consecutive changes of one table
    /// skip the lookup by name.
    private var lastBinding: (binding: RelationBinding, index: Int)?
    /// Per table, how many rows to make room for when its first change arrives.
    private var expectedRows: [TableName: Int] = [:]

    public init() {}

    /// An empty batch that makes room, per table, for as many rows as `previous` held of it: a
    /// stream's batches tend to be alike, and an index grown row by row hashes every key again
    /// at each doubling.
    init(like previous: ChangeSet) {
        for case .rows(let tables) in previous.allSteps {
            for changes in tables { expectedRows[changes.table.source, default: 0] += changes.rowCount }
        }
    }

    public var isEmpty: Bool { changeCount == 0 }

    /// Steps including the rows not yet closed by a truncation.
    public var allSteps: [ChangeStep] {
        open.isEmpty ? steps : steps + [.rows(open)]
    }

    mutating func fold(_ change: SourceChange) throws(ForagerError) {
        changeCount += 1
        switch change {
        case .insert(let binding, let tuple, let lsn, let place):
            try withTable(binding) { (changes: inout TableChanges) throws(ForagerError) in try changes.insert(tuple, lsn: lsn, place: place)
            }
        case .update(let binding, let old, let new, let lsn):
            try withTable(binding) { (changes: inout TableChanges) throws(ForagerError) in try changes.update(old: old, new: new, lsn: lsn)
            }
        case .delete(let binding, let old, let lsn):
            try withTable(binding) { (changes: inout TableChanges) throws(ForagerError) in try changes.delete(old: old, lsn: lsn) }
        case .truncate(let tables):
            closeOpenStep()
            steps.append(.truncate(tables))
        case .schemaChange(let change):
            closeOpenStep()
            steps.append(.schemaChange(change))
        case .stopTable(let table, let error):
            closeOpenStep()
            steps.append(.stopTable(table, error))
        }
    }

    private mutating func withTable(
        _ binding: RelationBinding, _ body: (inout TableChanges) throws(ForagerError) -> Void
    ) throws(ForagerError) {
        let index: Int
        if let last = lastBinding, last.binding === binding {
            index = last.index
        } else if let found = openIndex[binding.table.source] {
            index = found
        } else {
            index = open.count
            let expected = expectedRows[binding.table.source] ?? 0
            open.append(TableChanges(table: binding.table, keyIndexes: binding.keyIndexes, expectedRows: expected))
            openIndex[binding.table.source] = index
        }
        lastBinding = (binding, index)
        // Mutated in place through the array element: no copy of the table's changes.
        try body(&open[index])
    }

    private mutating func closeOpenStep() {
        guard !open.isEmpty else { return }
        steps.append(.rows(open))
        open = []
        openIndex = [:]
        lastBinding = nil
    }
}

/// A relation from the stream, bound to its mapping.
///
/// A class: every change refers to its table's binding, and sharing one reference costs one retain
/// where copying the description cost one per field (the profile of a catch-up showed it).
public final class RelationBinding: Sendable {
    public let relation: Relation
    public let table: MappedTable
    public let keyIndexes: [Int]
    /// Columns whose values arrive as `real` (or `real[]`) from before the source widened them to
    /// `double precision`, as the warehouse column already is: converted as the source's cast did.
    let widenedReals: [(index: Int, isArray: Bool)]

    public init(relation: Relation, table: MappedTable, keyIndexes: [Int], widenedReals: [(index: Int, isArray: Bool)] = []) {
        self.relation = relation
        self.table = table
        self.keyIndexes = keyIndexes
        self.widenedReals = widenedReals
    }

    /// `tuple` with the values of `widenedReals` as the source's cast to `double precision` gives them.
    func widened(_ tuple: TupleData) throws(ForagerError) -> TupleData {
        guard !widenedReals.isEmpty else { return tuple }
        var tuple = tuple
        for (index, isArray) in widenedReals where index < tuple.columns.count {
            guard case .text(let text) = tuple.columns[index] else { continue }
            guard let value = isArray ? TypeWidening.realArrayAsDoubleArray(text) : TypeWidening.realAsDouble(text) else {
                throw ForagerError(
                    .protocolViolation,
                    "column \(SQL.quoteIdentifier(relation.columns[index].name)) of \(table.source) arrived as real, but '\(String(decoding: text, as: UTF8.self))' does not read as one"
                )
            }
            tuple.columns[index] = .text(value[...])
        }
        return tuple
    }
}

/// One decoded row change, before collapsing.
enum SourceChange: Sendable {
    case insert(RelationBinding, TupleData, LSN, place: UInt32)
    case update(RelationBinding, old: TupleData?, new: TupleData, LSN)
    case delete(RelationBinding, old: TupleData, LSN)
    case truncate([MappedTable])
    case schemaChange(SchemaChange)
    case stopTable(MappedTable, ForagerError)
}
