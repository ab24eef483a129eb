import ForagerPipeline
import Testing

@Suite("The stop signal: set once, waited on instead of polled")
struct StopSignalTests {
    @Test func aSetSignalEndsTheWaitAtOnce() async {
        let stop = StopSignal()
        stop.set()
        let started = ContinuousClock.now
        #expect(await stop.wait(until: .now + .seconds(60)))
        #expect(ContinuousClock.now - started < .seconds(1))
    }

    @Test func settingTheSignalWakesAWaitInProgress() async {
        let stop = StopSignal()
        let started = ContinuousClock.now
        async let stopped = stop.wait(until: .now + .seconds(60))
        try? await Task.sleep(for: .milliseconds(50))
        stop.set()
        #expect(await stopped)
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(stop.isSet)
    }

    @Test func everyWaiterWakes() async {
        let stop = StopSignal()
        let woken = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<5 { group.addTask { await stop.wait(until: .now + .seconds(60)) } }
            try? await Task.sleep(for: .milliseconds(50))
            stop.set()
            return await group.reduce(into: 0) { count, stopped in count += stopped ? 1 : 0 }
        }
        #expect(woken == 5)
    }

    @Test func withoutASignalTheWaitEndsAtTheDeadline() async {
        let stop = StopSignal()
        let started = ContinuousClock.now
        #expect(await stop.wait(until: started + .milliseconds(100)) == false)
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(100))
        #expect(waited < .seconds(10))
        #expect(!stop.isSet)
    }

    @Test func cancellingTheTaskEndsTheWait() async {
        let stop = StopSignal()
        let started = ContinuousClock.now
        let waiting = Task { await stop.wait(until: .now + .seconds(60)) }
        try? await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == false)
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}
