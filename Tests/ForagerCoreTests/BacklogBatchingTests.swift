import ForagerCore
import ForagerTestSupport
import Testing

@testable import PGOutput

/// When a stream trails the source by more than one read (a backlog), the batch waits for the
/// idle warehouse only until it is worth a round: an eighth of `maxRows`, or a fifth of `maxAge`;
/// while the warehouse is busy, a batch of an eighth of `maxRows` is handed over (to wait for it).
@Suite("Batches behind a backlog")
struct BacklogBatchingTests {
    private let hives = SourceScript.table("hives", id: 42)

    /// A batcher that has received `rows` inserts in `rows` whole transactions at time zero.
    private func batcher(rows: Int, maxRows: Int = 80, maxAge: Duration = .seconds(1)) throws -> ChangeBatcher {
        var batcher = ChangeBatcher(tables: [hives.mapped], limits: .init(maxRows: maxRows, maxAge: maxAge), checkpoint: .zero)
        _ = try batcher.receive(.relation(hives.relation), at: LSN(1), now: .zero)
        for id in 1...rows {
            let commit = UInt64(id) * 100
            _ = try batcher.receive(
                .begin(Begin(finalLSN: LSN(commit), commitTime: .init(microseconds: 0), xid: UInt32(id))), at: LSN(commit - 10), now: .zero)
            _ = try batcher.receive(.insert(Insert(relationID: 42, newTuple: SourceScript.row(id, nil))), at: LSN(commit - 5), now: .zero)
            _ = try batcher.receive(
                .commit(Commit(flags: 0, commitLSN: LSN(commit), endLSN: LSN(commit + 8), commitTime: .init(microseconds: 0))),
                at: LSN(commit),
                now: .zero)
        }
        return batcher
    }

    @Test func aSmallBatchWaitsForAFifthOfItsAgeThenGoesToTheIdleWarehouse() throws {
        var waiting = try batcher(rows: 3)
        #expect(waiting.tick(now: .milliseconds(199), warehouseIdle: true).isEmpty)
        #expect(waiting.tick(now: .milliseconds(200), warehouseIdle: false).isEmpty, "a busy warehouse: the batch goes on growing")
        guard case .commit(let changes, let through)? = waiting.tick(now: .milliseconds(200), warehouseIdle: true).first else {
            Issue.record("no commit"); return
        }
        #expect(changes.changeCount == 3 && through == LSN(308))
    }

    @Test func aBatchOfAnEighthOfItsRowsGoesToTheIdleWarehouseAtOnce() throws {
        var tenOfEighty = try batcher(rows: 10)
        #expect(!tenOfEighty.tick(now: .zero, warehouseIdle: true).isEmpty, "10 rows: an eighth of 80")
        var nineOfEighty = try batcher(rows: 9)
        #expect(nineOfEighty.tick(now: .zero, warehouseIdle: true).isEmpty, "9 rows of 80 wait")
    }

    /// Handed over, the batch waits for the one being applied and the reading stops meanwhile: a
    /// batch left to grow to max_rows beside every apply made a mixed catch-up a third slower
    /// and twice the memory (bench case 2).
    @Test func aBatchOfAnEighthOfItsRowsIsHandedOverWhileTheWarehouseIsBusy() throws {
        var tenOfEighty = try batcher(rows: 10)
        guard case .commit(let changes, _)? = tenOfEighty.tick(now: .zero, warehouseIdle: false).first else {
            Issue.record("a batch of an eighth of max_rows kept growing while the warehouse was busy"); return
        }
        #expect(changes.changeCount == 10)
        var nineOfEighty = try batcher(rows: 9)
        #expect(nineOfEighty.tick(now: .zero, warehouseIdle: false, caughtUp: true).isEmpty, "9 rows of 80 go on growing")
    }
}
