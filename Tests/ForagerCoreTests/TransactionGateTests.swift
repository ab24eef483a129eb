@testable import ForagerCore
import PGOutput
import Testing

@Suite("The transaction gate a table's copy hands over through")
struct TransactionGateTests {
    private let hives = TableName(schema: "public", name: "hives")
    private let samples = TableName(schema: "public", name: "samples")

    @Test func anOpenGateLetsEveryTransactionPassWithNoSyncPoints() {
        let gate = TransactionGate()
        #expect(gate.passage(LSN(10)) == [:])
        #expect(gate.passage(LSN(0)) == [:])
    }

    @Test func holdNextHoldsWhateverComesUntilReleased() {
        let gate = TransactionGate()
        gate.holdNext()
        #expect(gate.passage(LSN(1)) == nil)
        #expect(gate.passage(LSN(1_000_000)) == nil)
        gate.release()
        #expect(gate.passage(LSN(1)) == [:])
    }

    @Test func holdFromLetsEarlierCommitsPassWithTheSyncPointsOnceAndHoldsTheRest() {
        let gate = TransactionGate()
        gate.holdNext()
        gate.hold(from: LSN(100), syncPoints: [hives: LSN(100)])
        // A transaction committing before the handover passes, and gets the sync points first, once.
        #expect(gate.passage(LSN(99)) == [hives: LSN(100)])
        #expect(gate.passage(LSN(99)) == [:])
        // At and after the handover: held.
        #expect(gate.passage(LSN(100)) == nil)
        #expect(gate.passage(LSN(150)) == nil)
        gate.release()
        #expect(gate.passage(LSN(150)) == [:])
    }

    @Test func syncPointsGivenWhileHeldArriveWithTheFirstTransactionLetThrough() {
        let gate = TransactionGate()
        gate.hold(from: LSN(100), syncPoints: [hives: LSN(100)])
        #expect(gate.passage(LSN(120)) == nil)
        // A second table's handover, later: both tables' points reach the stream together, the
        // later point of a table replacing the earlier.
        gate.hold(from: LSN(200), syncPoints: [samples: LSN(200), hives: LSN(180)])
        #expect(gate.passage(LSN(120)) == [hives: LSN(180), samples: LSN(200)])
        #expect(gate.passage(LSN(200)) == nil)
        gate.release()
        #expect(gate.passage(LSN(200)) == [:])
    }
}
