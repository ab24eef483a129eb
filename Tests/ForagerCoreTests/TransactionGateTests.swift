import PGOutput
import Testing

@testable import ForagerCore

@Suite("The transaction gate a table's copy hands over through")
struct TransactionGateTests {
    private let hives = TableName(schema: "public", name: "hives")
    private let samples = TableName(schema: "public", name: "samples")

    /// The sync points a transaction committing at `lsn` passes with, or nil when it is held.
    private func points(_ gate: TransactionGate, _ lsn: LSN) -> [TableName: LSN]? {
        if case .pass(let points) = gate.passage(lsn) { points } else { nil }
    }

    /// A gate holding the next transaction, and the generation a passage it holds waits on.
    private func heldGate() throws -> (TransactionGate, UInt64) {
        let gate = TransactionGate()
        gate.holdNext()
        return (gate, try held(gate, LSN(1)))
    }

    /// The generation a held passage waits on.
    private func held(_ gate: TransactionGate, _ lsn: LSN) throws -> UInt64 {
        guard case .held(let generation) = gate.passage(lsn) else { throw GateTestError.notHeld }
        return generation
    }

    @Test func anOpenGateLetsEveryTransactionPassWithNoSyncPoints() {
        let gate = TransactionGate()
        #expect(points(gate, LSN(10)) == [:])
        #expect(points(gate, LSN(0)) == [:])
    }

    @Test func holdNextHoldsWhateverComesUntilReleased() {
        let gate = TransactionGate()
        gate.holdNext()
        #expect(points(gate, LSN(1)) == nil)
        #expect(points(gate, LSN(1_000_000)) == nil)
        gate.release()
        #expect(points(gate, LSN(1)) == [:])
    }

    @Test func holdFromLetsEarlierCommitsPassWithTheSyncPointsOnceAndHoldsTheRest() {
        let gate = TransactionGate()
        gate.holdNext()
        gate.hold(from: LSN(100), syncPoints: [hives: LSN(100)])
        // A transaction committing before the handover passes, and gets the sync points first, once.
        #expect(points(gate, LSN(99)) == [hives: LSN(100)])
        #expect(points(gate, LSN(99)) == [:])
        // At and after the handover: held.
        #expect(points(gate, LSN(100)) == nil)
        #expect(points(gate, LSN(150)) == nil)
        gate.release()
        #expect(points(gate, LSN(150)) == [:])
    }

    @Test func syncPointsGivenWhileHeldArriveWithTheFirstTransactionLetThrough() {
        let gate = TransactionGate()
        gate.hold(from: LSN(100), syncPoints: [hives: LSN(100)])
        #expect(points(gate, LSN(120)) == nil)
        // A second table's handover, later: both tables' points reach the stream together, the
        // later point of a table replacing the earlier.
        gate.hold(from: LSN(200), syncPoints: [samples: LSN(200), hives: LSN(180)])
        #expect(points(gate, LSN(120)) == [hives: LSN(180), samples: LSN(200)])
        #expect(points(gate, LSN(200)) == nil)
        gate.release()
        #expect(points(gate, LSN(200)) == [:])
    }

    @Test func aHeldStreamWakesWhenTheHoldChangesNotAtItsTimeout() async throws {
        let (gate, generation) = try heldGate()
        let clock = ContinuousClock()
        let started = clock.now
        async let woken: Void = gate.waitForChange(since: generation, noLongerThan: .seconds(60), on: clock)
        try await Task.sleep(for: .milliseconds(20))
        gate.release()
        await woken
        #expect(started.duration(to: clock.now) < .seconds(30))
        #expect(points(gate, LSN(1)) == [:])
    }

    @Test func aWaitForAChangeThatHappenedBeforeItReturnsAtOnce() async throws {
        let (gate, generation) = try heldGate()
        gate.hold(from: LSN(5), syncPoints: [:])
        let clock = ContinuousClock()
        let started = clock.now
        await gate.waitForChange(since: generation, noLongerThan: .seconds(60), on: clock)
        #expect(started.duration(to: clock.now) < .seconds(30))
    }

    @Test func aWaitWithNoChangeEndsAtItsTimeout() async throws {
        let (gate, generation) = try heldGate()
        let clock = ContinuousClock()
        let started = clock.now
        await gate.waitForChange(since: generation, noLongerThan: .milliseconds(50), on: clock)
        let waited = started.duration(to: clock.now)
        #expect(waited >= .milliseconds(50) && waited < .seconds(30))
        #expect(points(gate, LSN(1)) == nil)
    }

    @Test func manyWaitsTimedOutLeaveNothingThatWakesLaterOnesEarly() async throws {
        let (gate, generation) = try heldGate()
        let clock = ContinuousClock()
        for _ in 0..<50 { await gate.waitForChange(since: generation, noLongerThan: .milliseconds(1), on: clock) }
        let started = clock.now
        await gate.waitForChange(since: generation, noLongerThan: .milliseconds(50), on: clock)
        #expect(started.duration(to: clock.now) >= .milliseconds(50))
    }
}

private enum GateTestError: Error { case notHeld }
