import ForagerCore

@testable import PGOutput

/// The mapped table public.hives of the batcher tests: id (integer, the key), label and body (text).
let hivesTable = MappedTable(
    source: TableName(schema: "public", name: "hives"),
    target: TableName(schema: "analytics", name: "hives"),
    columns: [
        SourceColumn(name: "id", sqlType: "integer", notNull: true),
        SourceColumn(name: "label", sqlType: "text", notNull: false),
        SourceColumn(name: "body", sqlType: "text", notNull: false),
    ],
    keyColumns: ["id"])

/// What the change batcher's tests feed it and read from it: public.hives (relation 42), its
/// relation messages and row changes. A suite that adopts it reaches them unqualified.
protocol BatcherFixtures {}

extension BatcherFixtures {
    var table: MappedTable { hivesTable }

    /// A relation message for relation 42 (public.hives unless named otherwise) with `columns`
    /// (name and type OID, text unless given), `keys` flagged as its replica identity.
    func hives(
        _ columns: [(String, UInt32)], keys: Set<String> = ["id"], identity: ReplicaIdentity = .default, namespace: String = "public",
        name: String = "hives"
    ) -> PGOutputMessage {
        .relation(
            Relation(
                id: 42, namespace: namespace, name: name, replicaIdentity: identity,
                columns: columns.map { .init(isKey: keys.contains($0.0), name: $0.0, typeOID: $0.1, typeModifier: -1) }))
    }

    /// The columns of the mapped table: id (integer), label and body (text).
    var hivesColumns: [(String, UInt32)] { [("id", 23), ("label", 25), ("body", 25)] }

    var relation: PGOutputMessage { hives(hivesColumns) }

    /// The relation as a table without a key sends it: REPLICA IDENTITY FULL, every column flagged.
    var fullRelation: PGOutputMessage { hives(hivesColumns, keys: ["id", "label", "body"], identity: .full) }

    func text(_ value: String) -> TupleColumn { .text(ArraySlice(value.utf8)) }
    func row(_ id: Int, _ label: String?, _ body: TupleColumn? = nil) -> TupleData {
        TupleData(columns: [text(String(id)), label.map(text) ?? .null, body ?? text("b\(id)")])
    }
    func key(_ id: Int) -> TupleData { TupleData(columns: [text(String(id)), .null, .null]) }
    func insert(_ tuple: TupleData) -> PGOutputMessage { .insert(Insert(relationID: 42, newTuple: tuple)) }
    func insert(_ id: Int, _ label: String?, _ body: TupleColumn? = nil) -> PGOutputMessage { insert(row(id, label, body)) }
    func insert(_ values: String...) -> PGOutputMessage { insert(TupleData(columns: values.map(text))) }
    func update(_ tuple: TupleData, oldKey: TupleData? = nil, oldTuple: TupleData? = nil) -> PGOutputMessage {
        .update(Update(relationID: 42, oldKey: oldKey, oldTuple: oldTuple, newTuple: tuple))
    }
    func delete(key: TupleData? = nil, oldTuple: TupleData? = nil) -> PGOutputMessage {
        .delete(Delete(relationID: 42, oldKey: key, oldTuple: oldTuple))
    }
    var truncate: PGOutputMessage { .truncate(Truncate(relationIDs: [42], cascade: false, restartIdentity: false)) }

    /// The row states of every rows step of `changes`, in order.
    func states(_ changes: ChangeSet) -> [RowState] {
        changes.allSteps.flatMap { step -> [RowState] in
            if case .rows(let tables) = step { return tables.flatMap(\.orderedStates) }
            return []
        }
    }

    /// The label (second column) of a state's row, when it is text.
    func label(_ state: RowState) -> String? {
        guard let row = state.row, case .text(let bytes) = row.columns[1] else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The steps of the commits among `actions`, in order.
func committedSteps(_ actions: [ChangeBatcher.Action]) -> [ChangeStep] {
    actions.flatMap { action -> [ChangeStep] in
        if case .commit(let changes, _) = action { return changes.allSteps }
        return []
    }
}

/// Drives a batcher with a fake clock and records its actions.
struct Driver {
    var batcher: ChangeBatcher
    var now = Duration.zero
    var lsn: UInt64 = 0x1000
    var actions: [ChangeBatcher.Action] = []

    init(
        maxRows: Int = 1000, maxBytes: Int = 64 << 20, maxAge: Duration = .seconds(1), checkpoint: UInt64 = 0,
        table: MappedTable = hivesTable
    ) {
        batcher = ChangeBatcher(
            tables: [table], limits: .init(maxRows: maxRows, maxBytes: maxBytes, maxAge: maxAge), checkpoint: LSN(checkpoint))
    }

    mutating func send(_ message: PGOutputMessage) throws {
        lsn += 0x10
        actions += try batcher.receive(message, at: LSN(lsn), now: now)
    }

    /// One source transaction; returns its end LSN.
    @discardableResult
    mutating func transaction(_ changes: [PGOutputMessage]) throws -> LSN {
        let final = LSN(lsn + UInt64(changes.count + 2) * 0x10)
        try begin(final, xid: 1)
        for change in changes { try send(change) }
        try commit(final)
        return LSN(final.value + 0x8)
    }

    mutating func begin(_ final: LSN, xid: UInt32) throws {
        try send(.begin(Begin(finalLSN: final, commitTime: .init(microseconds: 0), xid: xid)))
    }

    /// Commits the transaction that ends at `final`, with its end 8 bytes later.
    mutating func commit(_ final: LSN) throws {
        try send(.commit(Commit(flags: 0, commitLSN: final, endLSN: LSN(final.value + 0x8), commitTime: .init(microseconds: 0))))
    }

    /// The steps of every commit the batcher gives when drained.
    mutating func drainedSteps() -> [ChangeStep] {
        committedSteps(batcher.drain().actions)
    }

    /// Drains the batcher, keeping its actions with the others.
    mutating func drain() {
        actions += batcher.drain().actions
    }
}
