import ForagerCore
import PGOutput
import Testing

private let table = MappedTable(
    source: TableName(schema: "public", name: "hives"),
    target: TableName(schema: "analytics", name: "hives"),
    columns: [
        SourceColumn(name: "id", sqlType: "integer", notNull: true),
        SourceColumn(name: "label", sqlType: "text", notNull: false),
        SourceColumn(name: "body", sqlType: "text", notNull: false),
    ],
    keyColumns: ["id"])

/// A relation message for relation 42 (public.hives unless named otherwise) with `columns`
/// (name and type OID, text unless given), `keys` flagged as its replica identity.
private func hives(
    _ columns: [(String, UInt32)], keys: Set<String> = ["id"], identity: ReplicaIdentity = .default, namespace: String = "public",
    name: String = "hives"
) -> PGOutputMessage {
    .relation(
        Relation(
            id: 42, namespace: namespace, name: name, replicaIdentity: identity,
            columns: columns.map { .init(isKey: keys.contains($0.0), name: $0.0, typeOID: $0.1, typeModifier: -1) }))
}

/// The columns of the mapped table: id (integer), label and body (text).
private let hivesColumns: [(String, UInt32)] = [("id", 23), ("label", 25), ("body", 25)]

private let relation = hives(hivesColumns)

/// The relation as a table without a key sends it: REPLICA IDENTITY FULL, every column flagged.
private let fullRelation = hives(hivesColumns, keys: ["id", "label", "body"], identity: .full)

private func text(_ value: String) -> TupleColumn { .text(ArraySlice(value.utf8)) }
private func row(_ id: Int, _ label: String?, _ body: TupleColumn? = nil) -> TupleData {
    TupleData(columns: [text(String(id)), label.map(text) ?? .null, body ?? text("b\(id)")])
}
private func key(_ id: Int) -> TupleData { TupleData(columns: [text(String(id)), .null, .null]) }
private func insert(_ tuple: TupleData) -> PGOutputMessage { .insert(Insert(relationID: 42, newTuple: tuple)) }
private func insert(_ id: Int, _ label: String?, _ body: TupleColumn? = nil) -> PGOutputMessage { insert(row(id, label, body)) }
private func insert(_ values: String...) -> PGOutputMessage { insert(TupleData(columns: values.map(text))) }
private func update(_ tuple: TupleData, oldKey: TupleData? = nil, oldTuple: TupleData? = nil) -> PGOutputMessage {
    .update(Update(relationID: 42, oldKey: oldKey, oldTuple: oldTuple, newTuple: tuple))
}
private func delete(key: TupleData? = nil, oldTuple: TupleData? = nil) -> PGOutputMessage {
    .delete(Delete(relationID: 42, oldKey: key, oldTuple: oldTuple))
}
private let truncate = PGOutputMessage.truncate(Truncate(relationIDs: [42], cascade: false, restartIdentity: false))

/// Drives a batcher with a fake clock and records its actions.
private struct Driver {
    var batcher: ChangeBatcher
    var now = Duration.zero
    var lsn: UInt64 = 0x1000
    var actions: [ChangeBatcher.Action] = []

    init(maxRows: Int = 1000, maxBytes: Int = 64 << 20, maxAge: Duration = .seconds(1), checkpoint: UInt64 = 0, table: MappedTable = table)
    {
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

/// The steps of the commits among `actions`, in order.
private func committedSteps(_ actions: [ChangeBatcher.Action]) -> [ChangeStep] {
    actions.flatMap { action -> [ChangeStep] in
        if case .commit(let changes, _) = action { return changes.allSteps }
        return []
    }
}

private func states(_ changes: ChangeSet) -> [RowState] {
    changes.allSteps.flatMap { step -> [RowState] in
        if case .rows(let tables) = step { return tables.flatMap(\.orderedStates) }
        return []
    }
}

private func label(_ state: RowState) -> String? {
    guard let row = state.row, case .text(let bytes) = row.columns[1] else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

@Suite struct ChangeBatcherTests {
    @Test func changesToOneKeyCollapseToTheLastState() throws {
        var driver = Driver(maxRows: 10)
        try driver.send(relation)
        try driver.transaction([
            insert(1, "a"),
            update(row(1, "b")),
            update(row(2, "x")),
            delete(key: key(2)),
            delete(key: key(3)),
            insert(3, "again"),
        ])
        let end = driver.batcher.drain()
        #expect(end.rollback == false)
        guard case .commit(let changes, _) = end.actions.first else { Issue.record("expected a commit"); return }
        let collapsed = states(changes)
        #expect(collapsed.count == 3)
        #expect(changes.changeCount == 6)
        // Key 1: first seen as an insert, so it cannot be in the warehouse yet.
        #expect(collapsed[0].mayExist == false && label(collapsed[0]) == "b")
        // Key 2: updated then deleted: remove, write nothing.
        #expect(collapsed[1].mayExist == true && collapsed[1].row == nil)
        // Key 3: deleted then inserted again: remove the old row, then write the new one.
        #expect(collapsed[2].mayExist == true && label(collapsed[2]) == "again")
    }

    @Test func aKeyChangeRemovesTheOldKey() throws {
        var driver = Driver()
        try driver.send(relation)
        try driver.transaction([update(row(6, "moved"), oldKey: key(5))])
        guard case .commit(let changes, _) = driver.batcher.drain().actions.first else { Issue.record("no commit"); return }
        let collapsed = states(changes)
        #expect(collapsed.count == 2)
        #expect(collapsed[0].row == nil && collapsed[0].key == [text("5")])
        #expect(collapsed[1].mayExist && label(collapsed[1]) == "moved")
    }

    @Test func unchangedToastIsFilledFromAnEarlierChangeInTheBatch() throws {
        var driver = Driver()
        try driver.send(relation)
        try driver.transaction([
            insert(1, "a", text("big value")),
            update(row(1, "b", .unchangedToast)),
            update(row(2, "c", .unchangedToast)),
        ])
        guard case .commit(let changes, _) = driver.batcher.drain().actions.first else { Issue.record("no commit"); return }
        let collapsed = states(changes)
        #expect(collapsed[0].row?.columns[2] == text("big value"))
        // Not seen in this batch: left for the sink to read from the warehouse.
        #expect(collapsed[1].row?.columns[2] == .unchangedToast)
    }

    @Test func aMovedRowWithUnchangedToastIsFilledFromItsOldKey() throws {
        var driver = Driver()
        try driver.send(relation)
        try driver.transaction([
            update(row(100, "moved", .unchangedToast), oldKey: key(6))
        ])
        guard case .commit(let changes, _) = driver.batcher.drain().actions.first else { Issue.record("no commit"); return }
        let moved = states(changes)[1]
        #expect(moved.key == [text("100")])
        #expect(moved.movedFrom == [text("6")])
    }

    @Test func transactionsAtOrBeforeTheCheckpointAreSkipped() throws {
        var driver = Driver(checkpoint: 0x2000)
        try driver.send(relation)
        try driver.transaction([insert(1, "old")])
        #expect(driver.batcher.isIdle)
        #expect(driver.batcher.drain().actions.isEmpty)
        driver.lsn = 0x3000
        try driver.transaction([insert(2, "new")])
        guard case .commit(let changes, let through) = driver.batcher.drain().actions.first else { Issue.record("no commit"); return }
        #expect(states(changes).map(label) == ["new"])
        #expect(through > LSN(0x3000))
    }

    @Test func batchesCommitOnRowCountAtTransactionBoundaries() throws {
        var driver = Driver(maxRows: 3)
        try driver.send(relation)
        try driver.transaction([insert(1, "a")])
        #expect(driver.actions.isEmpty)
        let end = try driver.transaction([
            insert(2, "b"),
            insert(3, "c"),
        ])
        #expect(driver.actions.count == 1)
        guard case .commit(let changes, let through) = driver.actions[0] else { Issue.record("no commit"); return }
        #expect(changes.changeCount == 3)
        #expect(through == end)
        #expect(driver.batcher.checkpoint == end)
        #expect(driver.batcher.isIdle)
    }

    @Test func batchesCommitOnAgeWhenTheStreamIsQuiet() throws {
        var driver = Driver(maxRows: 100, maxAge: .milliseconds(500))
        try driver.send(relation)
        let end = try driver.transaction([insert(1, "a")])
        #expect(driver.batcher.tick(now: driver.now + .milliseconds(499)).isEmpty)
        let due = driver.batcher.tick(now: driver.now + .milliseconds(500))
        guard case .commit(_, let through) = due.first else { Issue.record("no commit"); return }
        #expect(through == end)
    }

    @Test func aCaughtUpStreamCommitsAtOnceToAnIdleWarehouse() throws {
        var driver = Driver(maxRows: 100, maxAge: .seconds(5))
        try driver.send(relation)
        let end = try driver.transaction([insert(1, "a")])
        #expect(driver.batcher.tick(now: driver.now, warehouseIdle: true, caughtUp: false).isEmpty)
        #expect(driver.batcher.tick(now: driver.now, warehouseIdle: false, caughtUp: true).isEmpty)
        guard case .commit(_, let through) = driver.batcher.tick(now: driver.now, warehouseIdle: true, caughtUp: true).first else {
            Issue.record("no commit"); return
        }
        #expect(through == end)
    }

    @Test func aHugeTransactionIsAppliedInPiecesAndCommittedOnce() throws {
        var driver = Driver(maxRows: 2)
        try driver.send(relation)
        let first = try driver.transaction([insert(100, "small")])
        #expect(driver.actions.isEmpty)
        let final = LSN(0x9000)
        try driver.begin(final, xid: 2)
        for id in 1...5 { try driver.send(insert(id, "big")) }
        // The earlier whole transaction commits alone, then pieces go into an open warehouse transaction.
        guard case .commit(let earlier, let through) = driver.actions.first else { Issue.record("no commit"); return }
        #expect(earlier.changeCount == 1 && through == first)
        let pieces = driver.actions.dropFirst().compactMap { action -> Int? in
            if case .apply(let piece) = action { return piece.changeCount }
            return nil
        }
        #expect(pieces == [2, 2])
        // Stopping now rolls the pieces back; they are replayed after a restart.
        var stopped = driver
        #expect(stopped.batcher.drain().rollback == true)
        try driver.commit(final)
        guard case .commit(let rest, let end) = driver.actions.last else { Issue.record("no final commit"); return }
        #expect(rest.changeCount == 1 && end == LSN(0x9008))
    }

    @Test func wideRowsAreBatchedByTheirBytesNotOnlyTheirCount() throws {
        // Each row's values take 1 + 1000 bytes: three of them pass a 2,500-byte budget.
        var driver = Driver(maxRows: 1000, maxBytes: 2500, maxAge: .seconds(60))
        try driver.send(relation)
        let wide = String(repeating: "w", count: 1000)
        try driver.transaction([insert(1, wide)])
        try driver.transaction([insert(2, wide)])
        #expect(driver.actions.isEmpty, "two rows are under the budget: they wait for more")
        let third = try driver.transaction([insert(3, wide)])
        guard driver.actions.count == 1, case .commit(let batch, let through) = driver.actions[0] else {
            Issue.record("expected one commit once the budget is passed: \(driver.actions)")
            return
        }
        #expect(batch.changeCount == 3 && through == third)

        // Inside one transaction, the budget cuts pieces.
        driver.actions = []
        try driver.begin(LSN(0x9000), xid: 3)
        for id in 10...16 { try driver.send(insert(id, wide)) }
        let pieces = driver.actions.compactMap { action -> Int? in
            if case .apply(let piece) = action { return piece.changeCount }
            return nil
        }
        #expect(pieces == [3, 3])
    }

    @Test func truncateSplitsTheBatchIntoOrderedSteps() throws {
        var driver = Driver()
        try driver.send(relation)
        try driver.transaction([
            insert(1, "before"),
            truncate,
            insert(1, "after"),
        ])
        guard case .commit(let changes, _) = driver.batcher.drain().actions.first else { Issue.record("no commit"); return }
        let kinds = changes.allSteps.map { step -> String in
            switch step {
            case .rows(let tables): "rows:" + tables.flatMap(\.orderedStates).compactMap(label).joined(separator: ",")
            case .truncate(let tables): "truncate:" + tables.map(\.target.name).joined()
            case .schemaChange: "schema"
            case .stopTable: "stop"
            }
        }
        #expect(kinds == ["rows:before", "truncate:hives", "rows:after"])
    }

    @Test func idleAdvanceOnlyMovesForwardAndOnlyWhenNothingIsPending() throws {
        var driver = Driver(checkpoint: 0x100)
        #expect(driver.batcher.advanceIdle(to: LSN(0x50)) == nil)
        try driver.send(relation)
        try driver.begin(LSN(0x5000), xid: 3)
        #expect(driver.batcher.advanceIdle(to: LSN(0x6000)) == nil)
        try driver.commit(LSN(0x5000))
        // A committed transaction is still waiting for its batch, so the position may not jump past it yet.
        #expect(driver.batcher.advanceIdle(to: LSN(0x6000)) == nil)
        guard case .commit(_, LSN(0x5008)) = driver.batcher.tick(now: driver.now + .seconds(1)).first else {
            Issue.record("no batch commit"); return
        }
        guard case .commit(let changes, let through) = driver.batcher.advanceIdle(to: LSN(0x6000)) else {
            Issue.record("no advance"); return
        }
        #expect(changes.isEmpty && through == LSN(0x6000))
        #expect(driver.batcher.checkpoint == LSN(0x6000))
    }

    @Test func aChangedColumnListBecomesASchemaStepBetweenTheRows() throws {
        var driver = Driver()
        try driver.send(relation)
        let altered = hives([("id", 23), ("label", 25), ("body", 25), ("extra", 25)])
        let dropped = hives([("id", 23), ("body", 25), ("extra", 25)])
        try driver.begin(LSN(0x5000), xid: 9)
        try driver.send(insert(1, "old shape"))
        try driver.send(altered)
        try driver.send(insert("2", "a", "b", "x"))
        try driver.send(dropped)
        try driver.send(insert("3", "b", "x"))
        try driver.send(altered)
        try driver.commit(LSN(0x5000))
        guard case .commit(let changes, _) = driver.batcher.drain().actions.first else { Issue.record("no commit"); return }
        let steps = changes.allSteps.map { step -> String in
            switch step {
            case .rows(let tables): "rows:" + tables.map { $0.table.columns.map(\.name).joined(separator: ",") }.joined()
            case .truncate: "truncate"
            case .schemaChange(let change):
                "schema:\(change.table.columns.map(\.name).joined(separator: ",")) +\(change.added.joined()) -\(change.removed.joined()) @\(change.lsn.map(\.description) ?? "none")"
            case .stopTable: "stop"
            }
        }
        // A relation message has no position: a schema change takes the next change's, or the
        // commit's.
        #expect(
            steps == [
                "rows:id,label,body", "schema:id,label,body,extra +extra - @0/1050", "rows:id,label,body,extra",
                "schema:id,body,extra + -label @0/1070", "rows:id,body,extra", "schema:id,label,body,extra +label - @0/5000",
            ])
    }

    @Test func aRenameStopsTheTableRatherThanGuessAndItsLaterChangesAreIgnored() throws {
        var driver = Driver()
        try driver.send(relation)
        let renamed = hives([("id", 23), ("name", 25), ("body", 25)])
        try driver.transaction([
            insert(1, "before"), renamed,
            insert(2, "after"),
        ])
        try driver.transaction([insert(3, "later")])
        let steps = driver.drainedSteps()
        #expect(steps.count == 2)
        guard case .rows(let tables) = steps.first, case .stopTable(let table, let error) = steps.last else {
            Issue.record("expected the rows before the rename, then a stop: \(steps)")
            return
        }
        #expect(tables.flatMap(\.orderedStates).compactMap(label) == ["before"])
        #expect(table.source.description == "public.hives")
        #expect(
            "\(error)".contains("\"label\"") && "\(error)".contains("\"name\"")
                && "\(error)".contains("forager resync --table public.hives"))
        #expect(driver.batcher.stoppedTables == [TableName(schema: "public", name: "hives")])
    }

    @Test func changesOlderThanTheCatalogueKeepTheirOwnShapeWhereColumnsWereDropped() throws {
        // The catalogue at start: label dropped, extra added while Forager was stopped.
        var now = table
        now.columns = [table.columns[0], table.columns[2], SourceColumn(name: "extra", sqlType: "text", notNull: false)]
        let current = hives([("id", 23), ("body", 25), ("extra", 25)])
        let added = hives([("id", 23), ("label", 25), ("body", 25), ("extra", 25)])
        func steps(droppedColumns: Int) throws -> [String] {
            var described = now
            described.droppedColumnCount = droppedColumns
            var driver = Driver(table: described)
            try driver.transaction([relation, insert(1, "old shape")])
            try driver.transaction([
                added, insert("2", "a", "b", "x"),
            ])
            try driver.transaction([
                current, insert("3", "b", "x"),
            ])
            return driver.batcher.drain().actions.flatMap { action -> [String] in
                guard case .commit(let changes, _) = action else { return [] }
                return changes.allSteps.map { step in
                    switch step {
                    case .rows(let tables): "rows:" + tables.map { $0.table.columns.map(\.name).joined(separator: ",") }.joined()
                    case .truncate: "truncate"
                    case .schemaChange(let change):
                        "schema:+\(change.added.joined(separator: ","))-\(change.removed.joined(separator: ","))"
                    case .stopTable: "stop"
                    }
                }
            }
        }
        let followed = try steps(droppedColumns: 1)
        #expect(
            followed == [
                "schema:+label-extra", "rows:id,label,body", "schema:+extra-", "rows:id,label,body,extra", "schema:+-label",
                "rows:id,body,extra",
            ], "\(followed)")
        // No column was ever dropped: label can only have been renamed.
        #expect(try steps(droppedColumns: 0) == ["stop"])
    }

    @Test func realValuesOlderThanAWideningArriveAsTheSourcesCastStoresThem() throws {
        func stored(catalogue: UInt32) throws -> String? {
            var described = table
            described.columns[1] = SourceColumn(name: "label", sqlType: "", notNull: false, sourceType: (catalogue, -1))
            var driver = Driver(table: described)
            let older = hives([("id", 23), ("label", 700), ("body", 25)])
            try driver.transaction([older, insert(1, "0.1")])
            guard case .commit(let changes, _) = driver.batcher.drain().actions.last else { return nil }
            return states(changes).first.flatMap(label)
        }
        // The catalogue (and so the warehouse column) is double precision now.
        #expect(try stored(catalogue: 701) == "0.10000000149011612")
        // Still real: the value goes into a real column as it is.
        #expect(try stored(catalogue: 700) == "0.1")
    }

    @Test func aMappedTableRenamedOnTheSourceStopsInsteadOfLosingItsChanges() throws {
        var driver = Driver()
        try driver.send(relation)
        let renamed = hives([("id", 23), ("label", 25), ("body", 25)], namespace: "archive", name: "old_hives")
        try driver.transaction([
            insert(1, "before"), renamed,
            insert(2, "after"),
        ])
        let steps = driver.drainedSteps()
        guard case .stopTable(let stopped, let error) = steps.last else {
            Issue.record("expected a stop: \(steps)")
            return
        }
        #expect(stopped.source.description == "public.hives")
        #expect("\(error)".contains("mapped table public.hives was renamed on the source, to archive.old_hives"))
        #expect("\(error)".contains("source: archive.old_hives, target: hives"))
        #expect(driver.batcher.stoppedTables == [TableName(schema: "public", name: "hives")])

        // Renamed before its first change of the stream: known by its OID.
        var known = table
        known.relationID = 42
        var fresh = Driver(table: known)
        try fresh.transaction([renamed, insert(3, "after")])
        #expect(fresh.batcher.stoppedTables == [TableName(schema: "public", name: "hives")])
    }

    @Test func aChangedReplicaIdentityStopsTheTableButFullAndNothingDoNot() throws {
        func relation(_ identity: ReplicaIdentity, keys: Set<String>) -> PGOutputMessage {
            hives(hivesColumns, keys: keys, identity: identity)
        }
        func stops(_ messages: [PGOutputMessage], table: MappedTable = table) throws -> String? {
            var driver = Driver(table: table)
            for message in messages { try driver.transaction([message, insert(1, "x")]) }
            for action in driver.batcher.drain().actions {
                guard case .commit(let changes, _) = action else { continue }
                for step in changes.allSteps { if case .stopTable(_, let error) = step { return "\(error)" } }
            }
            return nil
        }
        #expect(
            try stops([relation(.default, keys: ["id"]), relation(.full, keys: ["id", "label", "body"]), relation(.nothing, keys: [])])
                == nil)
        let changed = try stops([relation(.default, keys: ["id"]), relation(.default, keys: ["label"])]) ?? ""
        #expect(
            changed.contains(
                "the replica identity of public.hives changed on the source: its updates and deletes now name rows by (\"label\"), where Forager matches warehouse rows by (\"id\")"
            ), "\(changed)")
        #expect(changed.contains("forager resync --table public.hives"))
        #expect(try stops([relation(.default, keys: ["id", "label"])]) != nil)
        var keyless = table
        keyless.identity = .fullRow
        keyless.keyColumns = []
        #expect(try stops([relation(.full, keys: ["id", "label", "body"])], table: keyless) == nil)
        #expect(try stops([relation(.default, keys: ["id"])], table: keyless)?.contains("the whole row (REPLICA IDENTITY FULL)") == true)
        var appendOnly = table
        appendOnly.identity = .appendOnly
        appendOnly.keyColumns = []
        #expect(try stops([relation(.default, keys: ["label"])], table: appendOnly) == nil)
    }

    @Test func losingAKeyColumnStopsTheTableNamingTheColumn() throws {
        var driver = Driver()
        try driver.send(relation)
        let keyless = hives([("label", 25), ("body", 25)], keys: [])
        try driver.transaction([keyless, insert("x", "y")])
        guard case .commit(let changes, _) = driver.batcher.drain().actions.first, case .stopTable(_, let error) = changes.allSteps.first
        else {
            Issue.record("expected a stop")
            return
        }
        #expect("\(error)".contains("\"id\"") && "\(error)".contains("public.hives"))
        #expect(changes.allSteps.count == 1)
    }

    @Test func aChangedColumnTypeIsAStepNamingTheColumn() throws {
        var driver = Driver()
        try driver.send(relation)
        let widened = hives([("id", 20), ("label", 25), ("body", 25)])
        try driver.transaction([widened, insert(1, "a")])
        try driver.transaction([widened, insert(2, "b")])
        let steps = driver.drainedSteps()
        let retyped = steps.compactMap { step -> [String]? in if case .schemaChange(let change) = step { change.retyped } else { nil } }
        #expect(retyped == [["id"]])
    }

    @Test func changesInsideATablesCopyAreSkippedWithoutFollowingItsOldShape() throws {
        var driver = Driver(checkpoint: 0x100)
        driver.batcher = ChangeBatcher(
            tables: [table], limits: .init(maxRows: 1000, maxAge: .seconds(1)), checkpoint: LSN(0x100),
            syncPoints: [table.source: LSN(0x1050)])
        let oldShape = hives([("id", 23), ("old", 25)])
        try driver.transaction([oldShape, insert("1", "in the copy")])
        try driver.transaction([relation, insert(2, "after the copy")])
        let steps = driver.drainedSteps()
        #expect(steps.count == 1)
        guard case .rows(let tables) = steps.first else { Issue.record("expected rows"); return }
        #expect(tables.flatMap(\.orderedStates).compactMap(label) == ["after the copy"])
    }

    @Test func unmappedRelationsAreIgnored() throws {
        var driver = Driver()
        try driver.send(.relation(Relation(id: 7, namespace: "public", name: "other", replicaIdentity: .default, columns: [])))
        try driver.transaction([.insert(Insert(relationID: 7, newTuple: TupleData(columns: [])))])
        #expect(driver.actions.allSatisfy { action in if case .commit(let changes, _) = action { changes.isEmpty } else { false } })
    }
}

@Suite("Tables without a key")
struct KeylessTableTests {
    private func keyless(_ identity: RowIdentity) -> MappedTable {
        var keyless = table
        keyless.keyColumns = []
        keyless.identity = identity
        return keyless
    }

    /// A driver over the table without a key, rows identified by `identity`, that has seen `relation`.
    private func keylessDriver(_ identity: RowIdentity, _ relation: PGOutputMessage) throws -> Driver {
        var driver = Driver(table: keyless(identity))
        try driver.send(relation)
        return driver
    }

    private func deltas(_ actions: [ChangeBatcher.Action]) -> [(String, Int)] {
        actions.flatMap { action -> [(String, Int)] in
            guard case .commit(let changes, _) = action else { return [] }
            return changes.allSteps.flatMap { step -> [(String, Int)] in
                guard case .rows(let tables) = step else { return [] }
                return tables.flatMap(\.deltas).map { delta in
                    let values = delta.row.columns.map { column -> String in
                        if case .text(let bytes) = column { return String(decoding: bytes, as: UTF8.self) }
                        return "NULL"
                    }
                    return (values.joined(separator: "|"), delta.count)
                }
            }
        }
    }

    @Test func fullRowIdentityCountsCopiesAndFillsUnchangedValuesFromTheOldRow() throws {
        var driver = try keylessDriver(.fullRow, fullRelation)
        try driver.transaction([
            insert(1, "a"),
            insert(1, "a"),
            insert(2, "b"),
            delete(oldTuple: row(1, "a")),
            update(row(2, "c", .unchangedToast), oldTuple: row(2, "b")),
            delete(oldTuple: row(9, nil)),
        ])
        driver.drain()
        let result = deltas(driver.actions)
        #expect(result.map(\.0) == ["1|a|b1", "2|b|b2", "2|c|b2", "9|NULL|b9"])
        #expect(result.map(\.1) == [1, 0, 1, -1])
    }

    @Test func fullRowIdentityNeedsTheOldRow() throws {
        var driver = try keylessDriver(.fullRow, fullRelation)
        #expect(throws: ForagerError.self) {
            try driver.transaction([update(row(1, "a"))])
        }
    }

    @Test func appendOnlyKeepsEveryInsertAndIgnoresEverythingElse() throws {
        var driver = try keylessDriver(.appendOnly, relation)
        try driver.transaction([
            insert(1, "a"),
            insert(1, "a"),
            update(row(1, "b")),
            delete(),
            truncate,
        ])
        driver.drain()
        #expect(deltas(driver.actions).map(\.0) == ["1|a|b1", "1|a|b1"])
        #expect(committedSteps(driver.actions).count == 1)
    }
}

@Suite("Append-only rows named by position and place")
struct AppendOnlyPlaceTests {
    @Test func rowsOfOneRecordArePlacedInOrderAcrossPiecesAndAgainOnReplay() throws {
        func placed(_ actions: [ChangeBatcher.Action]) -> [String] {
            actions.flatMap { action -> [String] in
                let changes: ChangeSet
                switch action {
                case .apply(let piece): changes = piece
                case .commit(let batch, _): changes = batch
                }
                return changes.allSteps.flatMap { step -> [String] in
                    guard case .rows(let tables) = step else { return [] }
                    return tables.flatMap(\.deltas).map { "\(String($0.lsn.value, radix: 16)).\($0.place)" }
                }
            }
        }
        func run() throws -> [String] {
            var table = table
            table.identity = .appendOnly
            table.keyColumns = []
            // Pieces of two rows: one COPY's five rows (one WAL record, one position) span three pieces.
            var batcher = ChangeBatcher(tables: [table], limits: .init(maxRows: 2), checkpoint: .zero)
            var actions: [ChangeBatcher.Action] = []
            actions += try batcher.receive(relation, at: .zero, now: .zero)
            actions += try batcher.receive(
                .begin(Begin(finalLSN: LSN(0x9000), commitTime: .init(microseconds: 0), xid: 7)), at: LSN(0x4000), now: .zero)
            for (lsn, id) in [(0x5000, 1), (0x5000, 1), (0x5000, 2), (0x5000, 3), (0x5000, 1), (0x5100, 1), (0x5200, 1)] {
                actions += try batcher.receive(insert(id, "same"), at: LSN(UInt64(lsn)), now: .zero)
            }
            let commit = Commit(flags: 0, commitLSN: LSN(0x9000), endLSN: LSN(0x9008), commitTime: .init(microseconds: 0))
            actions += try batcher.receive(.commit(commit), at: LSN(0x9000), now: .zero)
            return placed(actions)
        }
        let first = try run()
        #expect(first == ["5000.0", "5000.1", "5000.2", "5000.3", "5000.4", "5100.0", "5200.0"])
        // A replay of the stream (after a crash) names every row as before.
        #expect(try run() == first)
    }
}

@Suite("Steps without stopped tables")
struct StepExclusionTests {
    @Test func stoppedTablesDropOutOfEveryKindOfStep() {
        var other = table
        other.source = TableName(schema: "public", name: "yards")
        let stopped: Set<TableName> = [table.source]
        guard case .truncate(let kept)? = ChangeStep.truncate([table, other]).excluding(stopped) else {
            Issue.record("the truncate of the other table should remain")
            return
        }
        #expect(kept.map(\.source) == [other.source])
        #expect(ChangeStep.truncate([table]).excluding(stopped) == nil)
        #expect(ChangeStep.schemaChange(SchemaChange(table: table, added: ["x"])).excluding(stopped) == nil)
        #expect(ChangeStep.stopTable(table, ForagerError(.schema, "x")).excluding(stopped) == nil)
        #expect(ChangeStep.schemaChange(SchemaChange(table: other, added: ["x"])).excluding(stopped) != nil)
        #expect(ChangeStep.truncate([table]).excluding([]) != nil)
    }
}

@Suite struct HeartbeatMessageTests {
    private func message(_ lsn: UInt64, transactional: Bool = false) -> PGOutputMessage {
        .message(LogicalMessage(transactional: transactional, lsn: LSN(lsn), prefix: "forager", content: []))
    }

    @Test func aMessageOutsideTransactionsMovesTheCheckpointWhenNothingWaits() throws {
        var driver = Driver(checkpoint: 0x100)
        try driver.send(relation)
        try driver.send(message(0x5000))
        #expect(driver.actions.isEmpty)
        let actions = driver.batcher.tick(now: driver.now, warehouseIdle: true, caughtUp: true)
        guard case .commit(let changes, let through)? = actions.first else { Issue.record("no commit: \(actions)"); return }
        #expect(changes.isEmpty && through == LSN(0x5000))
        #expect(driver.batcher.checkpoint == LSN(0x5000))
    }

    @Test func aMessageAfterABatchExtendsItsCheckpointAndOldOrTransactionalOnesAreIgnored() throws {
        var driver = Driver(checkpoint: 0x100)
        try driver.send(relation)
        let end = try driver.transaction([insert(1, "a")])
        try driver.send(message(0x50))
        try driver.send(message(0x9000, transactional: true))
        try driver.send(message(end.value + 0x100))
        let actions = driver.batcher.tick(now: driver.now, warehouseIdle: true, caughtUp: true)
        guard case .commit(let changes, let through)? = actions.first else { Issue.record("no commit: \(actions)"); return }
        #expect(changes.changeCount == 1 && through == LSN(end.value + 0x100))
        #expect(changes.allSteps.count == 1)
    }
}
