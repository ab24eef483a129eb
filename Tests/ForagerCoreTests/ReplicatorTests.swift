import ForagerCore
import Logging
import PGOutput
import PGOutputTestSupport
import Synchronization
import Testing

private let hives = MappedTable(
    source: TableName(schema: "public", name: "hives"), target: TableName(schema: "analytics", name: "hives"),
    columns: [SourceColumn(name: "id", sqlType: "integer", notNull: true), SourceColumn(name: "label", sqlType: "text", notNull: false)],
    keyColumns: ["id"])

/// A source that hands out scripted reads of CopyData payloads, then empty reads, and records
/// every status update Forager sends.
private final class ScriptedStream: ReplicationStream {
    private let reads: Mutex<[[[UInt8]]]>
    let updates = Mutex<[StandbyStatusUpdate]>([])

    init(_ reads: [[[UInt8]]]) { self.reads = Mutex(reads) }

    func read(maxMessages: Int, timeout: Duration) async throws -> [[UInt8]]? {
        let next = reads.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        if next == nil { try await Task.sleep(for: .milliseconds(2)) }
        return next ?? []
    }

    func send(_ update: StandbyStatusUpdate) async throws { updates.withLock { $0.append(update) } }
    func end() async throws {}
    var flushed: [LSN] { updates.withLock { $0.map(\.flushed) } }
}

/// A warehouse that records what it was given, and can refuse a commit.
private final class RecordingSink: WarehouseSink {
    let committed = Mutex<[LSN]>([])
    let applied = Mutex<Int>(0)
    private let refuse: LSN?

    init(refusingCommitAt refuse: LSN? = nil) { self.refuse = refuse }

    func apply(_ changes: ChangeSet) async throws { applied.withLock { $0 += changes.changeCount } }
    func commit(checkpoint: LSN) async throws {
        if checkpoint == refuse { throw ForagerError(.warehouse, "the warehouse refused the commit") }
        committed.withLock { $0.append(checkpoint) }
    }
    func rollback() async throws {}
}

/// The payloads of one source transaction inserting `ids` into hives, committing at `commit`.
private func transaction(xid: UInt32, commit: UInt64, ids: [Int], relation: Bool = false) -> [[UInt8]] {
    let start = LSN(commit - 100)
    var messages: [PGOutputMessage] = [.begin(Begin(finalLSN: LSN(commit), commitTime: .now, xid: xid))]
    if relation {
        messages.append(.relation(Relation(
            id: 42, namespace: "public", name: "hives", replicaIdentity: .default,
            columns: [.init(isKey: true, name: "id", typeOID: 23, typeModifier: -1), .init(isKey: false, name: "label", typeOID: 25, typeModifier: -1)])))
    }
    for id in ids {
        messages.append(.insert(Insert(relationID: 42, newTuple: TupleData(columns: [.text(ArraySlice(String(id).utf8)), .null]))))
    }
    messages.append(.commit(Commit(flags: 0, commitLSN: LSN(commit), endLSN: LSN(commit + 8), commitTime: .now)))
    return messages.enumerated().map { offset, message in
        let at = LSN(start.value + UInt64(offset))
        return PGOutputEncoder.encode(.xLogData(XLogData(walStart: at, walEnd: at, serverTime: .now, data: PGOutputEncoder.encode(message)[...])))
    }
}

@Suite("The replicator loop")
struct ReplicatorTests {
    private func replicator(_ stream: ScriptedStream, _ sink: RecordingSink, until target: LSN) -> Replicator<ScriptedStream, RecordingSink> {
        let batcher = ChangeBatcher(tables: [hives], limits: .init(maxRows: 2, maxAge: .seconds(60)), checkpoint: .zero)
        return Replicator(stream: stream, sink: sink, batcher: batcher, mode: .until(target), logger: Logger(label: "test"), shouldStop: { false })
    }

    @Test func everyAcknowledgementIsACheckpointTheWarehouseCommittedAndSyncStopsAtItsTarget() async throws {
        let stream = ScriptedStream([
            transaction(xid: 1, commit: 1_000, ids: [1, 2], relation: true),
            transaction(xid: 2, commit: 2_000, ids: [3]) + transaction(xid: 3, commit: 3_000, ids: [4, 5]),
        ])
        let sink = RecordingSink()
        let final = try await replicator(stream, sink, until: LSN(3_000)).run()
        let committed = sink.committed.withLock { $0 }
        #expect(final >= LSN(3_000) && committed.last == final, "\(committed), final \(final)")
        #expect(sink.applied.withLock { $0 } == 5)
        // Acknowledged: nothing, then only positions the warehouse had committed, never going back.
        for flushed in stream.flushed {
            #expect(flushed == .zero || committed.contains(flushed), "acknowledged \(flushed), committed \(committed)")
        }
        #expect(stream.flushed == stream.flushed.sorted())
        #expect(stream.flushed.last == final)
    }

    @Test func aCommitTheWarehouseRefusedIsNeverAcknowledged() async throws {
        let stream = ScriptedStream([
            transaction(xid: 1, commit: 1_000, ids: [1, 2], relation: true),
            transaction(xid: 2, commit: 2_000, ids: [3, 4]),
        ])
        let sink = RecordingSink(refusingCommitAt: LSN(2_008))
        await #expect(throws: ForagerError.self) { try await replicator(stream, sink, until: LSN(2_000)).run() }
        let committed = sink.committed.withLock { $0 }
        #expect(!committed.isEmpty)
        #expect(stream.flushed.allSatisfy { $0 <= (committed.last ?? .zero) }, "acknowledged \(stream.flushed), committed \(committed)")
    }
}
