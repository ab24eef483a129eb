import ForagerCore
import PGOutput
import Testing

@Suite("Tables without a key")
struct KeylessTableTests: BatcherFixtures {
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
struct AppendOnlyPlaceTests: BatcherFixtures {
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
struct StepExclusionTests: BatcherFixtures {
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
