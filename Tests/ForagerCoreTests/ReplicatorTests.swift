import ForagerCore
import ForagerTestSupport
import Logging
import Synchronization
import Testing

@testable import PGOutput

private let hives = SourceScript.table("hives", id: 42)

private func insert(_ id: Int, _ label: String? = nil) -> PGOutputMessage {
    .insert(Insert(relationID: 42, newTuple: SourceScript.row(id, label)))
}

private func update(_ id: Int, _ label: String) -> PGOutputMessage {
    .update(Update(relationID: 42, oldKey: nil, oldTuple: nil, newTuple: SourceScript.row(id, label)))
}

private func delete(_ id: Int) -> PGOutputMessage {
    .delete(Delete(relationID: 42, oldKey: SourceScript.row(id, nil), oldTuple: nil))
}

/// One transaction inserting `ids` into hives, committing at `commit` (ending at `commit + 8`).
private func transaction(xid: UInt32, commit: UInt64, ids: [Int], relation: Bool = false) -> [[UInt8]] {
    SourceScript.transaction(xid: xid, commit: commit, relation: relation ? hives.relation : nil, ids.map { insert($0) })
}

private func batcher(maxRows: Int = 2, checkpoint: LSN = .zero) -> ChangeBatcher {
    ChangeBatcher(tables: [hives.mapped], limits: .init(maxRows: maxRows, maxAge: .seconds(60)), checkpoint: checkpoint)
}

/// The labels of the warehouse's hives by id.
private func labels(_ warehouse: InMemoryWarehouse) -> [Int: String?] {
    var result: [Int: String?] = [:]
    for (key, row) in warehouse.rows(hives.mapped.source) { result[Int(key[0]!)!] = row[1] }
    return result
}

/// Polls `condition` for up to ten seconds of real time.
private func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<1000 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// A stop a test asks for and a replicator reads.
private final class StopRequest: Sendable {
    private let requested = Mutex(false)

    func request() { requested.withLock { $0 = true } }

    var isRequested: Bool { requested.withLock { $0 } }
}

@Suite("The replicator loop")
struct ReplicatorTests {
    private func replicator(
        _ stream: ScriptedStream, _ sink: InMemoryWarehouse, until target: LSN, checkpoint: LSN = .zero
    ) -> Replicator<ScriptedStream, InMemoryWarehouse, ContinuousClock> {
        Replicator(
            stream: stream, sink: sink, batcher: batcher(checkpoint: checkpoint), mode: .until(target), logger: Logger(label: "test"),
            shouldStop: { false })
    }

    /// A continuous replicator timed by `clock` that stops once the clock reaches `stopAt`.
    private func timed(
        _ stream: ScriptedStream, _ sink: InMemoryWarehouse, clock: ManualClock, stopAt: Duration
    ) -> Replicator<ScriptedStream, InMemoryWarehouse, ManualClock> {
        Replicator(
            stream: stream, sink: sink, batcher: batcher(), mode: .continuous, logger: Logger(label: "test"), clock: clock,
            shouldStop: { clock.now.offset >= stopAt })
    }

    /// A continuous replicator whose transactions pass `gate`, running in a task until `stop` is requested.
    private func running(
        _ stream: ScriptedStream, _ sink: InMemoryWarehouse, gate: TransactionGate, stop: StopRequest
    ) -> Task<LSN, any Error> {
        var replicator = Replicator(
            stream: stream, sink: sink, batcher: batcher(), mode: .continuous, logger: Logger(label: "test"),
            shouldStop: { stop.isRequested })
        replicator.gate = gate
        return Task { [replicator] in try await replicator.run() }
    }

    @Test func everyAcknowledgementIsACheckpointTheWarehouseCommittedAndSyncStopsAtItsTarget() async throws {
        let stream = ScriptedStream([
            transaction(xid: 1, commit: 1_000, ids: [1, 2], relation: true),
            transaction(xid: 2, commit: 2_000, ids: [3]) + transaction(xid: 3, commit: 3_000, ids: [4, 5]),
        ])
        let sink = InMemoryWarehouse()
        let final = try await replicator(stream, sink, until: LSN(3_000)).run()
        let committed = sink.commits
        #expect(final >= LSN(3_000) && committed.last == final, "\(committed), final \(final)")
        #expect(labels(sink).keys.sorted() == [1, 2, 3, 4, 5])
        // Acknowledged: nothing, then only positions the warehouse had committed, never going back.
        for flushed in stream.flushed {
            #expect(flushed == .zero || committed.contains(flushed), "acknowledged \(flushed), committed \(committed)")
        }
        #expect(stream.flushed == stream.flushed.sorted())
        #expect(stream.flushed.last == final)
        #expect(stream.endCount == 1)
    }

    @Test func aCommitTheWarehouseRefusedIsNeverAcknowledged() async throws {
        let stream = ScriptedStream([
            transaction(xid: 1, commit: 1_000, ids: [1, 2], relation: true),
            transaction(xid: 2, commit: 2_000, ids: [3, 4]),
        ])
        let sink = InMemoryWarehouse()
        sink.failCommit(reaching: LSN(2_008))
        await #expect(throws: ForagerError.self) { try await replicator(stream, sink, until: LSN(2_000)).run() }
        #expect(sink.commits == [LSN(1_008)])
        #expect(stream.flushed.allSatisfy { $0 <= LSN(1_008) }, "acknowledged \(stream.flushed)")
        #expect(labels(sink).keys.sorted() == [1, 2])
    }

    @Test func aRunThatFailsMidStreamIsReplayedFromItsCheckpointWithNoRowLostOrTwice() async throws {
        let script = [
            SourceScript.transaction(xid: 1, commit: 1_000, relation: hives.relation, [insert(1, "a"), insert(2, "b")]),
            SourceScript.transaction(xid: 2, commit: 2_000, [update(1, "a2"), insert(3, "c")]),
            SourceScript.transaction(xid: 3, commit: 3_000, [delete(2)]),
            SourceScript.transaction(xid: 4, commit: 4_000, [insert(4, "d"), update(3, "c4")]),
            SourceScript.transaction(xid: 5, commit: 5_000, [delete(1)]),
            SourceScript.transaction(xid: 6, commit: 6_000, [insert(2, "b6")]),
        ]
        let sink = InMemoryWarehouse()
        sink.failCommit(reaching: LSN(4_008))
        let first = ScriptedStream(script)
        await #expect(throws: ForagerError.self) { try await replicator(first, sink, until: LSN(6_000)).run() }
        let reached = sink.checkpoint
        #expect(reached < LSN(4_008) && reached >= LSN(1_008))
        #expect(first.flushed.allSatisfy { $0 <= reached })
        // The source sends everything again from the slot's start; what the checkpoint covers is skipped.
        let second = ScriptedStream(script)
        let final = try await replicator(second, sink, until: LSN(6_000), checkpoint: sink.checkpoint).run()
        #expect(final == LSN(6_008))
        #expect(labels(sink) == [2: "b6", 3: "c4", 4: "d"])
        #expect(sink.commits == sink.commits.sorted() && Set(sink.commits).count == sink.commits.count)
    }

    @Test func aQuietStreamIsToldTheCheckpointAtTheStatusInterval() async throws {
        let clock = ManualClock()
        let stream = ScriptedStream([], clock: clock)
        let sink = InMemoryWarehouse()
        let final = try await timed(stream, sink, clock: clock, stopAt: .seconds(25)).run()
        #expect(final == .zero)
        // At 10 s, at 20 s, and once more as the run ends: 250 reads of 100 ms, three updates.
        #expect(stream.updates.count == 3, "\(stream.updates.count) status updates")
        #expect(stream.emptyReadCount == 250)
        #expect(sink.commits.isEmpty)
    }

    @Test(arguments: [(5, [LSN(1_000)]), (15, [LSN(1_000), LSN(2_000)])])
    func anIdleStreamMovesTheCheckpointToTheServersPositionAtMostOncePerInterval(seconds: Int, expected: [LSN]) async throws {
        let clock = ManualClock()
        // A keepalive at once, another 2 s later: the second moves the checkpoint only at 10 s.
        let stream = ScriptedStream(
            [[SourceScript.keepalive(1_000)]] + Array(repeating: [], count: 20) + [[SourceScript.keepalive(2_000)]], clock: clock)
        let sink = InMemoryWarehouse()
        let final = try await timed(stream, sink, clock: clock, stopAt: .seconds(Int64(seconds))).run()
        #expect(sink.commits == expected)
        #expect(final == expected.last)
        #expect(stream.flushed.last == expected.last)
    }

    @Test func aSyncMovesAnIdleCheckpointToTheServersPositionAtOnce() async throws {
        let stream = ScriptedStream([[SourceScript.keepalive(1_000)], [SourceScript.keepalive(2_000)]])
        let sink = InMemoryWarehouse()
        let final = try await replicator(stream, sink, until: LSN(2_000)).run()
        #expect(final == LSN(2_000))
        #expect(sink.commits == [LSN(1_000), LSN(2_000)])
    }

    @Test func theInterruptionIsAskedAtItsIntervalAndEndsTheRunWithWhatArrivedCommitted() async throws {
        let clock = ManualClock()
        let stream = ScriptedStream([transaction(xid: 1, commit: 1_000, ids: [1], relation: true)], clock: clock)
        let sink = InMemoryWarehouse()
        let asked = Mutex<[Duration]>([])
        var replicator = timed(stream, sink, clock: clock, stopAt: .seconds(60))
        replicator.interruption = {
            let count = asked.withLock { asked in
                asked.append(clock.now.offset)
                return asked.count
            }
            return count == 3
        }
        let final = try await replicator.run()
        #expect(asked.withLock { $0 } == [.seconds(5), .seconds(10), .seconds(15)])
        #expect(final == LSN(1_008))
        #expect(labels(sink).keys.sorted() == [1])
        #expect(stream.endCount == 1)
    }

    @Test func aTransactionTheGateHoldsIsNotAppliedUntilReleased() async throws {
        let stream = ScriptedStream([transaction(xid: 1, commit: 1_000, ids: [1, 2], relation: true)])
        let sink = InMemoryWarehouse()
        let gate = TransactionGate()
        gate.holdNext()
        let stop = StopRequest()
        let run = running(stream, sink, gate: gate, stop: stop)
        try await Task.sleep(for: .milliseconds(300))
        #expect(sink.commits.isEmpty)
        gate.release()
        #expect(try await eventually { sink.checkpoint == LSN(1_008) })
        stop.request()
        #expect(try await run.value == LSN(1_008))
        #expect(labels(sink).keys.sorted() == [1, 2])
    }

    @Test func aStopWhileTheGateHoldsEndsTheRunWithoutTheHeldTransaction() async throws {
        let stream = ScriptedStream([
            transaction(xid: 1, commit: 1_000, ids: [1], relation: true), transaction(xid: 2, commit: 2_000, ids: [2]),
        ])
        let sink = InMemoryWarehouse()
        let gate = TransactionGate()
        gate.hold(from: LSN(2_000), syncPoints: [:])
        let stop = StopRequest()
        let run = running(stream, sink, gate: gate, stop: stop)
        #expect(try await eventually { sink.checkpoint == LSN(1_008) })
        stop.request()
        #expect(try await run.value == LSN(1_008))
        #expect(labels(sink).keys.sorted() == [1])
        #expect(stream.flushed.last == LSN(1_008))
    }

    @Test func syncPointsTheGateGivesSkipATablesChangesCommittedBeforeThem() async throws {
        let stream = ScriptedStream([
            transaction(xid: 1, commit: 1_000, ids: [1], relation: true), transaction(xid: 2, commit: 2_000, ids: [2]),
            transaction(xid: 3, commit: 3_000, ids: [3]),
        ])
        let sink = InMemoryWarehouse()
        let gate = TransactionGate()
        gate.hold(from: LSN(9_000), syncPoints: [hives.mapped.source: LSN(2_500)])
        var replicator = replicator(stream, sink, until: LSN(3_000))
        replicator.gate = gate
        let final = try await replicator.run()
        #expect(final == LSN(3_008))
        // The table's copy holds what committed before 2,500: only the later insert is applied.
        #expect(labels(sink).keys.sorted() == [3])
    }

    @Test func transactionsThatArriveWhileABatchIsAppliedAreCommittedTogetherInTheNext() async throws {
        let reads = (1...10).map { index in
            transaction(xid: UInt32(index), commit: UInt64(index) * 1_000, ids: [index], relation: index == 1)
        }
        let stream = ScriptedStream(reads)
        let sink = InMemoryWarehouse(commitTime: .milliseconds(300))
        let batched = ChangeBatcher(tables: [hives.mapped], limits: .init(maxRows: 1_000, maxAge: .seconds(60)), checkpoint: .zero)
        let replicator = Replicator(
            stream: stream, sink: sink, batcher: batched, mode: .until(LSN(10_000)), logger: Logger(label: "test"), shouldStop: { false })
        let final = try await replicator.run()
        #expect(final == LSN(10_008))
        // The first transaction's batch is being committed while the nine others are read: they
        // wait for it, then go in one batch, not one each.
        #expect(sink.commits == [LSN(1_008), LSN(10_008)])
        #expect(labels(sink).keys.sorted() == Array(1...10))
    }

    @Test func aBacklogGoesToTheIdleWarehouseOnceWorthARoundNotAfterTheBatchAge() async throws {
        // One full read (2,048 messages, as many as the loop asks for: more wait on the server),
        // then one more transaction. The full read's 683 rows (more than an eighth of 4,000) go to
        // the idle warehouse at once rather than wait for the batch's age (a minute here) or for
        // the stream to be caught up.
        var full: [[UInt8]] = transaction(xid: 1, commit: 1_000, ids: [1], relation: true)
        for index in 2...682 {
            full += transaction(xid: UInt32(index), commit: UInt64(index) * 1_000, ids: index == 682 ? [682, 683] : [index])
        }
        #expect(full.count == 2_048)
        let stream = ScriptedStream([full, transaction(xid: 700, commit: 700_000, ids: [700])])
        let sink = InMemoryWarehouse()
        let batched = ChangeBatcher(tables: [hives.mapped], limits: .init(maxRows: 4_000, maxAge: .seconds(60)), checkpoint: .zero)
        let replicator = Replicator(
            stream: stream, sink: sink, batcher: batched, mode: .until(LSN(700_008)), logger: Logger(label: "test"), shouldStop: { false })
        #expect(try await replicator.run() == LSN(700_008))
        #expect(sink.commits == [LSN(682_008), LSN(700_008)])
        #expect(labels(sink).count == 684)
    }
}
