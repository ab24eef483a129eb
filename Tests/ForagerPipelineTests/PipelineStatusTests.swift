import ForagerCore
import ForagerPipeline
import Foundation
import PGOutput
import Testing

@Suite("What a running pipeline reports about itself")
struct PipelineStatusTests {
    private let hives = TableName(schema: "public", name: "hives")

    private func status() -> PipelineStatus {
        PipelineStatus(slotName: "forager", heartbeatInterval: .seconds(10), readyMaxLag: .seconds(60))
    }

    @Test func readyOnlyWhileStreaming() {
        let status = status()
        #expect(status.readiness.ready == false)
        #expect(status.readiness.reason == "not streaming: starting")
        status.enter(.streaming)
        #expect(status.readiness.ready)
        #expect(status.report().readyReason == "streaming")
    }

    @Test func aTransientFailureMeansRetryingAndStreamingAgainClearsTheRetry() {
        let status = status()
        status.enter(.streaming)
        status.failed(ForagerError(.warehouse, "refused"), kind: "warehouse", retryIn: .seconds(4), attempt: 2)
        var report = status.report()
        #expect(report.phase == .retrying)
        #expect(report.retry?.attempt == 2)
        #expect(report.lastError?.transient == true)
        #expect(report.lastError?.kind == "warehouse")
        status.enter(.streaming)
        report = status.report()
        #expect(report.retry == nil)
        #expect(report.lastError?.message == "refused")
    }

    @Test func aPermanentFailureKeepsThePhase() {
        let status = status()
        status.enter(.snapshot)
        status.failed(ForagerError(.schema, "no key"), kind: "schema", retryIn: nil, attempt: 1)
        #expect(status.phase == .snapshot)
        #expect(status.report().lastError?.transient == false)
    }

    @Test func theCheckpointOnlyMovesForward() {
        let status = status()
        status.committed(LSN(0x2000))
        status.committed(LSN(0x1000))
        #expect(status.report().checkpointLsn == LSN(0x2000).description)
    }

    @Test func lagInBytesIsNeverNegativeAndUnknownWithoutBothPositions() {
        #expect(PipelineStatus.lagBytes(source: LSN(0x3000), checkpoint: LSN(0x1000)) == 0x2000)
        #expect(PipelineStatus.lagBytes(source: LSN(0x1000), checkpoint: LSN(0x3000)) == 0)
        #expect(PipelineStatus.lagBytes(source: nil, checkpoint: LSN(0x1000)) == nil)
    }

    @Test func copiesAreReportedTableByTable() {
        let status = status()
        status.copyStarted(hives, tableBytes: 4096)
        status.copyProgress(hives, bytes: 1000)
        status.copyProgress(hives, bytes: 500)
        #expect(status.copyProgress.first?.copied == 1500)
        #expect(status.copyProgress.first?.done == false)
        status.copyFinished(hives, rows: 12)
        let copy = status.report().snapshot["public.hives"]
        #expect(copy?.rows == 12)
        #expect(copy?.done == true)
        #expect(copy?.tableBytes == 4096)
    }

    @Test func stoppedTablesAreSortedByName() {
        let status = status()
        status.tablesStopped([TableName(schema: "public", name: "yards"), hives])
        #expect(status.stoppedTables == ["public.hives", "public.yards"])
        #expect(status.report().stoppedTables == ["public.hives", "public.yards"])
    }

    @Test func theReportReadsBackFromItsJSON() throws {
        let status = status()
        status.enter(.streaming)
        status.committed(LSN(0x16B_3748))
        let data = try JSONEncoder.forager.encode(status.report())
        #expect(String(decoding: data, as: UTF8.self).contains("\"pipeline_slot\" : \"forager\""))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let back = try decoder.decode(PipelineStatus.Report.self, from: data)
        #expect(back.phase == .streaming)
        #expect(back.checkpointLsn == LSN(0x16B_3748).description)
        #expect(back.heartbeatIntervalSeconds == 10)
    }
}
