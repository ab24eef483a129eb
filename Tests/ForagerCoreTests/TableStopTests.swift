import ForagerCore
import ForagerTestSupport
import Logging
import Synchronization
import Testing

@testable import PGOutput

private let hives = SourceScript.table("hives", id: 42)
private let apiaries = SourceScript.table("apiaries", id: 43)

/// One transaction inserting `id` into `table`, committing at `commit`.
private func insert(
    _ table: (relation: Relation, mapped: MappedTable), _ id: Int, xid: UInt32, commit: UInt64, relation: Bool = false
) -> [[UInt8]] {
    SourceScript.transaction(
        xid: xid, commit: commit, relation: relation ? table.relation : nil,
        [.insert(Insert(relationID: table.relation.id, newTuple: SourceScript.row(id, "row \(id)")))])
}

/// Six transactions, alternating between the tables, ending at 6_008.
private let script = [
    insert(hives, 1, xid: 1, commit: 1_000, relation: true) + insert(apiaries, 1, xid: 2, commit: 2_000, relation: true),
    insert(hives, 2, xid: 3, commit: 3_000) + insert(apiaries, 2, xid: 4, commit: 4_000),
    insert(hives, 3, xid: 5, commit: 5_000) + insert(apiaries, 3, xid: 6, commit: 6_000),
]

/// Every set of stopped tables a replicator published, in order.
private final class Published: Sendable {
    private let sets = Mutex<[Set<TableName>]>([])
    func add(_ names: Set<TableName>) { sets.withLock { $0.append(names) } }
    var all: [Set<TableName>] { sets.withLock { $0 } }
}

private func replicator(
    _ stream: ScriptedStream, _ sink: InMemoryWarehouse, published: Published, stopped: Set<TableName> = []
) -> Replicator<ScriptedStream, InMemoryWarehouse, ContinuousClock> {
    let batcher = ChangeBatcher(
        tables: [hives.mapped, apiaries.mapped], limits: .init(maxRows: 2, maxAge: .seconds(60)), checkpoint: .zero, stopped: stopped)
    var replicator = Replicator(
        stream: stream, sink: sink, batcher: batcher, mode: .until(LSN(6_000)), logger: Logger(label: "test"), shouldStop: { false })
    replicator.onStopped = { published.add($0) }
    return replicator
}

@Suite("Stopped tables: the core stops them, the warehouse records them")
struct TableStopTests {
    @Test func aTableTheWarehouseRefusesStopsAloneRecordedWithItsReasonAndIsNotOfferedAgain() async throws {
        let sink = InMemoryWarehouse()
        sink.refuseRows(of: apiaries.mapped.source)
        let published = Published()
        _ = try await replicator(ScriptedStream(script), sink, published: published).run()
        #expect(sink.rows(hives.mapped.source).count == 3, "the other table stopped flowing")
        #expect(sink.rows(apiaries.mapped.source).isEmpty)
        let state = sink.tableStates[apiaries.mapped.source]
        #expect(state?.phase == .stopped)
        #expect(state?.reason?.contains("told to refuse the rows of public.apiaries") == true, "\(String(describing: state))")
        #expect(sink.refusals == 1, "the stopped table's later rows reached the warehouse again")
        #expect(published.all == [[apiaries.mapped.source]])
    }

    @Test func aStopInABatchWhoseCommitFailsIsNeitherRecordedNorPublished() async throws {
        let sink = InMemoryWarehouse()
        sink.refuseRows(of: apiaries.mapped.source)
        sink.failCommit(reaching: LSN(1))
        let published = Published()
        await #expect(throws: ForagerError.self) { try await replicator(ScriptedStream(script), sink, published: published).run() }
        #expect(sink.tableStates.isEmpty)
        #expect(published.all.isEmpty)
    }

    @Test func aTableRecordedAsStoppedAtStartIsNeverOfferedAndNotPublishedAgain() async throws {
        let sink = InMemoryWarehouse()
        sink.refuseRows(of: apiaries.mapped.source)
        let published = Published()
        _ = try await replicator(ScriptedStream(script), sink, published: published, stopped: [apiaries.mapped.source]).run()
        #expect(sink.rows(hives.mapped.source).count == 3)
        #expect(sink.refusals == 0)
        #expect(published.all.isEmpty)
    }
}
