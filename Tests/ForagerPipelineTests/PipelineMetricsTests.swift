import CoreMetrics
import ForagerCore
import ForagerPipeline
import MetricsTestKit
import PGOutput
import Synchronization
import Testing

@Suite("The pipeline's metrics: handles made once, recording under the documented names")
struct PipelineMetricsTests {
    private let hives = TableName(schema: "public", name: "hives")

    @Test func errorsAndReconnectsCountByKindWithOneHandlePerKind() throws {
        let test = TestMetrics()
        let factory = CountingFactory(test)
        let metrics = PipelineMetrics(factory: factory)
        let made = factory.made
        metrics.error(kind: "source")
        metrics.error(kind: "source")
        metrics.error(kind: "warehouse")
        metrics.reconnect(kind: "source")
        metrics.reconnect(kind: "source")
        #expect(try test.expectCounter(ForagerMetrics.errors, [("kind", "source")]).totalValue == 2)
        #expect(try test.expectCounter(ForagerMetrics.errors, [("kind", "warehouse")]).totalValue == 1)
        #expect(try test.expectCounter(ForagerMetrics.reconnects, [("kind", "source")]).totalValue == 2)
        #expect(factory.made - made == 3, "one handle per label and kind")
    }

    @Test func heartbeatsAndTheStartingCheckpointUseTheHandlesMadeAtTheStart() throws {
        let test = TestMetrics()
        let factory = CountingFactory(test)
        let metrics = PipelineMetrics(factory: factory)
        let made = factory.made
        metrics.heartbeat()
        metrics.heartbeat()
        metrics.recordCheckpoint(LSN(4096))
        #expect(try test.expectCounter(ForagerMetrics.heartbeats).totalValue == 2)
        #expect(try test.expectGauge(ForagerMetrics.checkpointLSN).lastValue == 4096)
        #expect(try test.expectGauge(ForagerMetrics.checkpointTime).lastValue ?? 0 > 0)
        #expect(factory.made == made)
    }

    @Test func theStatusGaugesFollowTheReportAndEachTableGetsItsGaugesOnce() throws {
        let test = TestMetrics()
        let factory = CountingFactory(test)
        let metrics = PipelineMetrics(factory: factory)
        let status = PipelineStatus(slotName: "forager", heartbeatInterval: nil, readyMaxLag: .seconds(60))
        status.copyStarted(hives, tableBytes: 8192)
        status.copyProgress(hives, bytes: 100)
        metrics.recordGauges(status.report())
        let made = factory.made
        #expect(try test.expectGauge(ForagerMetrics.streaming).lastValue == 0)
        #expect(try test.expectGauge(ForagerMetrics.snapshotBytesCopied, [("table", "public.hives")]).lastValue == 100)
        #expect(try test.expectGauge(ForagerMetrics.snapshotTableBytes, [("table", "public.hives")]).lastValue == 8192)

        status.copyProgress(hives, bytes: 50)
        status.copyFinished(hives, rows: 7)
        status.tablesStopped([hives])
        status.enter(.streaming)
        metrics.recordGauges(status.report())
        #expect(try test.expectGauge(ForagerMetrics.streaming).lastValue == 1)
        #expect(try test.expectGauge(ForagerMetrics.tablesStopped).lastValue == 1)
        #expect(try test.expectGauge(ForagerMetrics.snapshotBytesCopied, [("table", "public.hives")]).lastValue == 150)
        #expect(try test.expectGauge(ForagerMetrics.snapshotRows, [("table", "public.hives")]).lastValue == 7)
        #expect(factory.made == made, "no handle is made again")
    }
}

/// A factory that counts the handles it makes, making them with `base`.
private final class CountingFactory: MetricsFactory {
    private let base: TestMetrics
    private let count = Atomic(0)

    init(_ base: TestMetrics) {
        self.base = base
    }

    var made: Int { count.load(ordering: .relaxed) }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        count.add(1, ordering: .relaxed)
        return base.makeCounter(label: label, dimensions: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        count.add(1, ordering: .relaxed)
        return base.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        count.add(1, ordering: .relaxed)
        return base.makeTimer(label: label, dimensions: dimensions)
    }

    func destroyCounter(_ handler: any CounterHandler) { base.destroyCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { base.destroyRecorder(handler) }
    func destroyTimer(_ handler: any TimerHandler) { base.destroyTimer(handler) }
}
