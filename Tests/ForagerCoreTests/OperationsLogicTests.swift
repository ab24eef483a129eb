import ForagerCore
import PGOutput
import Testing

/// Random numbers from a fixed sequence, so that jitter is reproducible.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state
    }
}

@Suite struct BackoffTests {
    @Test func waitsDoubleWithJitterInTheUpperHalfUpToTheCap() {
        var backoff = Backoff(base: .seconds(1), cap: .seconds(30))
        var generator = SeededGenerator(state: 7)
        let ceilings: [Duration] = [
            .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30), .seconds(30),
        ]
        for ceiling in ceilings {
            let wait = backoff.next(using: &generator)
            #expect(wait >= ceiling / 2 && wait <= ceiling, "\(wait) not within \(ceiling / 2)...\(ceiling)")
        }
        #expect(backoff.attempt == ceilings.count)
        backoff.reset()
        #expect(backoff.next(using: &generator) <= .seconds(1))
    }

    @Test func jitterSpreadsRetries() {
        var generator = SeededGenerator(state: 42)
        let waits = (0..<20).map { _ in
            var backoff = Backoff(base: .seconds(1), cap: .seconds(60))
            for _ in 0..<5 { _ = backoff.next(using: &generator) }
            return backoff.next(using: &generator)
        }
        #expect(Set(waits).count > 15)
    }

    @Test func manyFailuresNeverOverflow() {
        var backoff = Backoff(base: .milliseconds(100), cap: .seconds(60))
        var generator = SeededGenerator(state: 1)
        for _ in 0..<1000 { #expect(backoff.next(using: &generator) <= .seconds(60)) }
    }
}

@Suite struct LagTrackerTests {
    let start = ContinuousClock.now

    @Test func aSampleIsTheTimeFromHeartbeatToTheCommitThatCoversIt() {
        var tracker = LagTracker()
        #expect(tracker.lag(at: start) == nil)
        tracker.sent(LSN(100), at: start)
        tracker.sent(LSN(200), at: start + .seconds(1))
        tracker.committed(LSN(150), at: start + .milliseconds(1300))
        #expect(tracker.lastSample == .milliseconds(1300))
        tracker.committed(LSN(250), at: start + .milliseconds(1400))
        #expect(tracker.lastSample == .milliseconds(400))
        #expect(tracker.lag(at: start + .seconds(5)) == .milliseconds(400))
    }

    @Test func lagGrowsWhileAHeartbeatWaitsAndFallsOnceItIsApplied() {
        var tracker = LagTracker()
        tracker.sent(LSN(100), at: start)
        tracker.committed(LSN(100), at: start + .milliseconds(200))
        for second in 1...30 { tracker.sent(LSN(100 + UInt64(second)), at: start + .seconds(second)) }
        #expect(tracker.lag(at: start + .seconds(31)) == .seconds(30))
        tracker.committed(LSN(1000), at: start + .milliseconds(31_500))
        #expect(tracker.lag(at: start + .seconds(40)) == .milliseconds(1500))
    }

    @Test func heartbeatsAlreadyCoveredAreIgnoredAndMemoryIsBounded() {
        var tracker = LagTracker()
        tracker.committed(LSN(500), at: start)
        tracker.sent(LSN(400), at: start)
        #expect(tracker.lag(at: start + .seconds(10)) == nil)
        for index in 0..<5000 { tracker.sent(LSN(1000 + UInt64(index)), at: start + .milliseconds(index)) }
        #expect(tracker.lag(at: start + .seconds(10)) == .seconds(10))
        tracker.committed(LSN(100_000), at: start + .seconds(10))
        #expect(tracker.lastSample == .seconds(10) - .milliseconds(4999))
    }
}

@Suite struct AlertRulesTests {
    let start = ContinuousClock.now
    let thresholds: AlertRules.Thresholds = {
        var thresholds = AlertRules.Thresholds()
        (thresholds.retainedWALBytes, thresholds.lag) = (1 << 30, .seconds(60))
        return thresholds
    }()

    private func facts(retained: Int64 = 0, lag: Duration? = .seconds(1), active: Bool = true, walStatus: String = "reserved")
        -> AlertRules.Facts
    {
        AlertRules.Facts(slotExists: true, slotActive: active, walStatus: walStatus, retainedWALBytes: retained, lag: lag)
    }

    @Test func aCrossedThresholdWarnsOnceThenRepeatsAndResolves() {
        var rules = AlertRules(thresholds: thresholds, repeatEvery: .seconds(300))
        #expect(rules.evaluate(facts(), slot: "s", now: start).isEmpty)
        let first = rules.evaluate(facts(retained: 2 << 30), slot: "s", now: start + .seconds(10))
        #expect(first.map(\.kind) == [.retainedWAL] && first[0].firing)
        #expect(first[0].message.contains("2048 MB") && first[0].fix.contains("forager drop"))
        #expect(rules.evaluate(facts(retained: 2 << 30), slot: "s", now: start + .seconds(100)).isEmpty)
        #expect(rules.evaluate(facts(retained: 2 << 30), slot: "s", now: start + .seconds(320)).map(\.kind) == [.retainedWAL])
        let resolved = rules.evaluate(facts(), slot: "s", now: start + .seconds(330))
        #expect(resolved.map(\.kind) == [.retainedWAL] && !resolved[0].firing)
        #expect(rules.evaluate(facts(), slot: "s", now: start + .seconds(340)).isEmpty)
    }

    @Test func lagAndInactivityAndLostSlots() {
        var rules = AlertRules(thresholds: thresholds)
        #expect(rules.evaluate(facts(lag: .seconds(61)), slot: "s", now: start).map(\.kind) == [.lag])
        #expect(rules.evaluate(facts(lag: nil, active: false), slot: "s", now: start + .seconds(1)).map(\.firing) == [false])
        #expect(rules.evaluate(facts(lag: nil, active: false), slot: "s", now: start + .seconds(200)).isEmpty)
        let inactive = rules.evaluate(facts(lag: nil, active: false), slot: "s", now: start + .seconds(302))
        #expect(inactive.map(\.kind) == [.slotInactive] && inactive[0].message.contains("301 s"))
        let lost = rules.evaluate(facts(lag: nil, active: false, walStatus: "lost"), slot: "s", now: start + .seconds(303))
        #expect(lost.map(\.kind) == [.slotLost] && lost[0].fix.contains("start again"))
        #expect(
            rules.evaluate(facts(walStatus: "unreserved"), slot: "s", now: start + .seconds(304)).map(\.kind) == [
                .slotInactive, .slotLost, .slotUnreserved,
            ])
    }

    @Test func stoppedTablesWarnNamingThemUntilNoneIs() {
        var rules = AlertRules(thresholds: thresholds)
        var stopped = facts()
        stopped.stoppedTables = ["public.hives", "public.yards"]
        let first = rules.evaluate(stopped, slot: "s", now: start)
        #expect(first.map(\.kind) == [.tableStopped] && first[0].firing)
        #expect(
            first[0].message.contains("tables public.hives, public.yards are stopped") && first[0].fix.contains("forager resync --table"))
        #expect(rules.evaluate(stopped, slot: "s", now: start + .seconds(10)).isEmpty)
        let resolved = rules.evaluate(facts(), slot: "s", now: start + .seconds(20))
        #expect(resolved.map(\.kind) == [.tableStopped] && !resolved[0].firing)
    }
}
