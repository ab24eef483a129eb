import Foundation
import Testing

@testable import ForagerPipeline

@Suite("What forager status prints")
struct StatusOutputTests {
    private func table(_ source: String, state: String, rows: Int? = 10, reason: String? = nil) -> WarehouseReading.Table {
        WarehouseReading.Table(
            source: source, target: "analytics." + source.split(separator: ".").last!, state: state, rows: rows, syncedAt: nil,
            reason: reason)
    }

    private func report(slot: String = "forager", lagSeconds: Double? = 1.5, lastError: PipelineStatus.Report.Failure? = nil)
        -> PipelineStatus.Report
    {
        PipelineStatus.Report(
            pipelineSlot: slot, phase: .streaming, phaseSince: 0, ready: true, readyReason: "streaming", checkpointLsn: "0/16B3748",
            sourceLsn: "0/16B3800", lagSeconds: lagSeconds, lastError: lastError, snapshot: [:])
    }

    @Test func theWarehouseReadingGivesTablesCheckpointAndLag() {
        var output = StatusOutput()
        output.sourceLsn = "0/2000"
        output.add(WarehouseReading(checkpointLsn: "0/1000", tables: [table("public.hives", state: "streaming")], readAt: 0))
        #expect(output.checkpointLsn == "0/1000")
        #expect(output.lagBytes == 0x1000)
        #expect(output.attention.isEmpty)
    }

    @Test func stoppedTablesAndAnUnreadableWarehouseNeedAttention() {
        var output = StatusOutput()
        output.add(
            WarehouseReading(
                tables: [
                    table("public.hives", state: "stopped", reason: "column dropped by hand"), table("public.samples", state: "streaming"),
                ],
                error: "connection refused", readAt: 0))
        #expect(
            output.attention == [
                "cannot read the warehouse: connection refused",
                "table public.hives is stopped: column dropped by hand; run forager resync --table public.hives",
            ])
        #expect(output.lagBytes == nil)
    }

    @Test func aMissingOrLostSlotNeedsAttention() {
        var missing = StatusOutput()
        missing.noteSlot(exists: false, walStatus: nil, named: "forager")
        #expect(missing.attention.first?.hasPrefix("the source has no slot forager:") == true)
        var lost = StatusOutput()
        lost.noteSlot(exists: true, walStatus: "lost", named: "forager")
        #expect(lost.attention == ["slot forager was invalidated (wal_status = lost); see docs/operations.md, 'Slot lost'"])
        var fine = StatusOutput()
        fine.noteSlot(exists: true, walStatus: "reserved", named: "forager")
        #expect(fine.attention.isEmpty)
    }

    @Test func aProcessOfAnotherSlotIsNotTakenForThisPipelines() {
        var output = StatusOutput()
        output.add(process: report(slot: "other"), endpoint: "127.0.0.1:9187", slot: "forager")
        #expect(output.process == nil)
        #expect(output.processEndpoint == "127.0.0.1:9187")
        #expect(output.attention.first?.contains("runs the pipeline of slot other, not forager") == true)
    }

    @Test func theProcessGivesLagAndLastError() {
        let failure = PipelineStatus.Report.Failure(message: "refused", kind: "source", at: 0, transient: true)
        var output = StatusOutput()
        output.add(process: report(lastError: failure), endpoint: "127.0.0.1:9187", slot: "forager")
        #expect(output.process?.pipelineSlot == "forager")
        #expect(output.lagSeconds == 1.5)
        #expect(output.lastError?.message == "refused")
        #expect(output.attention.isEmpty)
    }

    @Test func aKilledLastRunNeedsAttentionAndARunningOneDoesNot() {
        var killed = StatusOutput()
        killed.add(lastRun: LastRunRecord.Run(pid: 4242, startedAt: 0), alive: false)
        #expect(killed.lastRunAlive == false)
        #expect(killed.attention.first?.hasPrefix("the last forager run (pid 4242) recorded no end") == true)
        var running = StatusOutput()
        running.add(lastRun: LastRunRecord.Run(pid: 4242, startedAt: 0), alive: true)
        #expect(running.attention.isEmpty)
        var failed = LastRunRecord.Run(pid: 4242, startedAt: 0)
        failed.endedAt = 10
        failed.error = PipelineStatus.Report.Failure(message: "no key", kind: "setup", at: 10, transient: false)
        var ended = StatusOutput()
        ended.add(lastRun: failed, alive: nil)
        #expect(ended.lastRunAlive == nil)
        #expect(ended.lastError?.kind == "setup")
        #expect(ended.attention.count == 1)
    }

    @Test func theTextNamesEveryPart() {
        var output = StatusOutput(tables: [
            table("public.hives", state: "streaming", rows: 1200), table("public.samples", state: "not_copied", rows: nil),
        ])
        output.slot = PipelineStatus.Report.Slot(name: "forager", state: nil, readAt: 0)
        output.sourceLsn = "0/2000"
        output.checkpointLsn = "0/1000"
        output.lagBytes = 3 << 20
        output.processEndpoint = "127.0.0.1:9187"
        output.attention = ["fix this"]
        #expect(
            output.text == """
                slot forager: does not exist
                source WAL position: 0/2000
                warehouse checkpoint: 0/1000
                lag: 3.0 MiB of WAL, unknown (no running process answered, or heartbeats are off)
                process at 127.0.0.1:9187: no answer (not running, or running elsewhere)
                tables:
                  public.hives -> analytics.hives: streaming, 1200 rows
                  public.samples -> analytics.samples: not_copied, no table yet
                needs attention:
                  - fix this
                """)
    }

    @Test func theTextShowsARunningProcessAndTheLastError() {
        var output = StatusOutput()
        output.process = report()
        output.processEndpoint = "127.0.0.1:9187"
        output.lagSeconds = 2.5
        output.lastError = PipelineStatus.Report.Failure(message: "refused", kind: "source", at: 0, transient: true)
        let lines = output.text.split(separator: "\n").map(String.init)
        #expect(lines.contains("lag: unknown of WAL, 2.5 s"))
        #expect(lines.contains("process at 127.0.0.1:9187: streaming, ready"))
        #expect(lines.contains("last error (source, retrying): refused"))
    }

    @Test func byteCountsReadForPeople() {
        #expect(StatusOutput.bytes(nil) == "unknown")
        #expect(StatusOutput.bytes(512) == "512 bytes")
        #expect(StatusOutput.bytes(1536) == "1.5 KiB")
        #expect(StatusOutput.bytes(5 << 30) == "5.0 GiB")
    }

    @Test func theJSONUsesSnakeCaseKeys() throws {
        var output = StatusOutput(tables: [table("public.hives", state: "streaming")])
        output.checkpointLsn = "0/1000"
        let json = String(decoding: try JSONEncoder.forager.encode(output), as: UTF8.self)
        #expect(json.contains("\"checkpoint_lsn\" : \"0/1000\""))
        #expect(json.contains("\"synced_at\"") == false)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let back = try decoder.decode(StatusOutput.self, from: try JSONEncoder.forager.encode(output))
        #expect(back.tables.first?.target == "analytics.hives")
    }
}
