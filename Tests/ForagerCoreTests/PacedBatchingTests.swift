import ForagerCore
import ForagerTestSupport
import Logging
import Testing

@testable import PGOutput

/// A stream that has caught up hands its whole transactions to the idle warehouse at once, but
/// while they arrive faster than two per `minInterval` a small batch follows the one before it no
/// sooner than that: one warehouse round per interval rather than per transaction (bench case 10:
/// on a busy machine those rounds took the CPU the source's walsender needed, and the lag grew to
/// seconds).
@Suite("Pacing of caught-up batches")
struct PacedBatchingTests {
    private let hives = SourceScript.table("hives", id: 42)

    private func limits(minInterval: Duration = .milliseconds(10)) -> ChangeBatcher.Limits {
        .init(maxRows: 800, maxAge: .seconds(1), minInterval: minInterval)
    }

    /// Feeds a whole transaction inserting `ids`, committing at `commit` (ending at `commit + 8`).
    private func receive(_ batcher: inout ChangeBatcher, commit: UInt64, ids: [Int], now: Duration) throws {
        _ = try batcher.receive(
            .begin(Begin(finalLSN: LSN(commit), commitTime: .init(microseconds: 0), xid: UInt32(commit))), at: LSN(commit - 10), now: now)
        for id in ids {
            _ = try batcher.receive(.insert(Insert(relationID: 42, newTuple: SourceScript.row(id, nil))), at: LSN(commit - 5), now: now)
        }
        _ = try batcher.receive(
            .commit(Commit(flags: 0, commitLSN: LSN(commit), endLSN: LSN(commit + 8), commitTime: .init(microseconds: 0))),
            at: LSN(commit), now: now)
    }

    private func batcher(minInterval: Duration = .milliseconds(10)) throws -> ChangeBatcher {
        var batcher = ChangeBatcher(tables: [hives.mapped], limits: limits(minInterval: minInterval), checkpoint: .zero)
        _ = try batcher.receive(.relation(hives.relation), at: LSN(1), now: .zero)
        return batcher
    }

    /// The checkpoint of the batch the tick hands over, or nil when it hands over none.
    private func handedOver(_ actions: [ChangeBatcher.Action]) -> LSN? {
        guard case .commit(_, let through)? = actions.first else { return nil }
        return through
    }

    @Test func theFirstCaughtUpBatchGoesAtOnceAndTheNextWaitsForTheRestOfTheInterval() throws {
        var batcher = try batcher()
        #expect(batcher.gatheringTime(now: .zero) == nil, "nothing waits")
        try receive(&batcher, commit: 100, ids: [1], now: .zero)
        #expect(handedOver(batcher.tick(now: .zero, warehouseIdle: true, caughtUp: true)) == LSN(108))
        try receive(&batcher, commit: 200, ids: [2], now: .milliseconds(3))
        #expect(batcher.tick(now: .milliseconds(3), warehouseIdle: true, caughtUp: true).isEmpty)
        #expect(batcher.gatheringTime(now: .milliseconds(3)) == .milliseconds(7))
        try receive(&batcher, commit: 300, ids: [3], now: .milliseconds(6))
        #expect(batcher.tick(now: .milliseconds(9), warehouseIdle: true, caughtUp: true).isEmpty)
        guard case .commit(let changes, let through)? = batcher.tick(now: .milliseconds(10), warehouseIdle: true, caughtUp: true).first
        else {
            Issue.record("the waiting transactions were not handed over once the interval had passed"); return
        }
        #expect(changes.changeCount == 2 && through == LSN(308), "both transactions that gathered, in one batch")
        #expect(batcher.gatheringTime(now: .milliseconds(10)) == nil)
    }

    @Test func pacingEngagesOnlyWhileTransactionsArriveTwiceAnIntervalOrFaster() {
        var pacing = BatchPacing(minInterval: .milliseconds(10))
        #expect(!pacing.isEngaged, "nothing arrived yet")
        // A transaction every 10 ms (bench case 4): a round each, whatever the wait; not paced.
        for index in 0..<50 { pacing.arrived(at: .milliseconds(10 * index)) }
        pacing.handedOver(at: .milliseconds(490))
        #expect(!pacing.isEngaged && pacing.wait(now: .milliseconds(491)) == nil)
        // One every millisecond (bench case 10's thousands a second): engaged within a few.
        for index in 0..<10 { pacing.arrived(at: .milliseconds(500 + index)) }
        #expect(pacing.isEngaged)
        pacing.handedOver(at: .milliseconds(509))
        #expect(pacing.wait(now: .milliseconds(512)) == .milliseconds(7))
        #expect(pacing.wait(now: .milliseconds(519)) == nil)
        // A quiet spell counts as at most twice the interval: forgotten after a few transactions.
        pacing.arrived(at: .seconds(60))
        #expect(!pacing.isEngaged)
        for index in 1...12 { pacing.arrived(at: .seconds(60) + .milliseconds(index)) }
        #expect(pacing.isEngaged)
        #expect(!BatchPacing(minInterval: .zero).isEngaged)
    }

    @Test func aQuietStreamIsNotPaced() throws {
        var batcher = try batcher()
        try receive(&batcher, commit: 100, ids: [1], now: .zero)
        #expect(handedOver(batcher.tick(now: .zero, warehouseIdle: true, caughtUp: true)) != nil)
        try receive(&batcher, commit: 200, ids: [2], now: .milliseconds(40))
        #expect(batcher.gatheringTime(now: .milliseconds(40)) == nil)
        #expect(handedOver(batcher.tick(now: .milliseconds(40), warehouseIdle: true, caughtUp: true)) == LSN(208))
    }

    @Test func aBatchWorthARoundByItsSizeIsNotPaced() throws {
        var batcher = try batcher()
        try receive(&batcher, commit: 100, ids: [1], now: .zero)
        _ = batcher.tick(now: .zero, warehouseIdle: true, caughtUp: true)
        try receive(&batcher, commit: 200, ids: Array(2...101), now: .milliseconds(1))
        #expect(
            handedOver(batcher.tick(now: .milliseconds(1), warehouseIdle: true, caughtUp: true)) == LSN(208), "100 rows: an eighth of 800")
    }

    @Test func noIntervalHandsEveryCaughtUpBatchOverAtOnce() throws {
        var batcher = try batcher(minInterval: .zero)
        try receive(&batcher, commit: 100, ids: [1], now: .zero)
        #expect(handedOver(batcher.tick(now: .zero, warehouseIdle: true, caughtUp: true)) != nil)
        try receive(&batcher, commit: 200, ids: [2], now: .zero)
        #expect(batcher.gatheringTime(now: .zero) == nil)
        #expect(handedOver(batcher.tick(now: .zero, warehouseIdle: true, caughtUp: true)) == LSN(208))
    }

    /// Transactions in reads of their own, a millisecond apart on the stream's clock: the loop
    /// waits for them to gather instead of reading one at a time, and commits the second and the
    /// third together.
    /// (Without an interval the loop never waits on the stream; whether the second transaction
    /// waits for the first one's commit and joins the third then depends on timing.)
    @Test(arguments: [Duration.milliseconds(10), .zero])
    func theLoopLetsTransactionsGatherForTheInterval(minInterval: Duration) async throws {
        let clock = ManualClock()
        let reads = (1...3).map { xid in
            SourceScript.transaction(
                xid: UInt32(xid), commit: UInt64(xid) * 1_000, relation: xid == 1 ? hives.relation : nil,
                [.insert(Insert(relationID: 42, newTuple: SourceScript.row(xid, nil)))])
        }
        let stream = ScriptedStream(reads, clock: clock)
        let sink = InMemoryWarehouse()
        let batcher = ChangeBatcher(tables: [hives.mapped], limits: limits(minInterval: minInterval), checkpoint: .zero)
        let replicator = Replicator(
            stream: stream, sink: sink, batcher: batcher, mode: .until(LSN(3_008)), logger: Logger(label: "test"), clock: clock,
            shouldStop: { false })
        let final = try await replicator.run()
        #expect(final == LSN(3_008))
        if minInterval > .zero {
            #expect(sink.commits == [LSN(1_008), LSN(3_008)])
            #expect(stream.gatherCount > 0)
        } else {
            #expect(sink.commits.first == LSN(1_008) && sink.commits.last == LSN(3_008))
            #expect(stream.gatherCount == 0)
        }
    }
}
