import Synchronization
import Testing

@testable import ForagerPipeline

@Suite("The warehouse readings /status shows")
struct WarehouseReadingsTests {
    private static let reading = WarehouseReading(tables: [], readAt: 0)

    @Test func aQuickReadIsShownAsSoonAsItIsDone() async {
        let reads = Atomic(0)
        let readings = WarehouseReadings(wait: .seconds(60)) {
            reads.add(1, ordering: .relaxed)
            return Self.reading
        }
        let started = ContinuousClock.now
        #expect(await readings.current() != nil)
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(await readings.current() != nil)
        #expect(reads.load(ordering: .relaxed) == 1, "a reading is reused while it is fresh")
    }

    @Test func aSlowReadShowsNothingAtTheWaitThenItsReadingOnceDone() async {
        let release = StopSignal()
        let reads = Atomic(0)
        let readings = WarehouseReadings(wait: .milliseconds(100)) {
            reads.add(1, ordering: .relaxed)
            _ = await release.wait(until: .now + .seconds(60))
            return Self.reading
        }
        let started = ContinuousClock.now
        #expect(await readings.current() == nil)
        #expect(ContinuousClock.now - started >= .milliseconds(100))
        // A second request joins the read in progress instead of starting another.
        #expect(await readings.current() == nil)
        release.set()
        let waiting = ContinuousClock.now
        var shown: WarehouseReading?
        while shown == nil, ContinuousClock.now - waiting < .seconds(10) { shown = await readings.current() }
        #expect(shown != nil)
        #expect(reads.load(ordering: .relaxed) == 1)
    }
}
