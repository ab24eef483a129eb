import ForagerCore
import Testing

@testable import PGOutput

@Suite struct ChangeBatcherTests: BatcherFixtures {
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

@Suite struct HeartbeatMessageTests: BatcherFixtures {
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
