import Foundation
import Testing

@testable import ForagerPipeline

@Suite("The record of the last forager run")
struct LastRunRecordTests {
    @Test func aRunIsWrittenReadAndForgotten() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forager-last-run-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let record = LastRunRecord(path: directory + "/slot.last-run.json")
        #expect(record.read() == nil)
        var run = LastRunRecord.Run(pid: 4242, startedAt: 100)
        run.endedAt = 160
        run.error = PipelineStatus.Report.Failure(message: "no key", kind: "setup", at: 160, transient: false)
        try record.write(run)
        let back = try #require(record.read())
        #expect(back.pid == 4242)
        #expect(back.endedAt == 160)
        #expect(back.error?.kind == "setup")
        try record.remove()
        #expect(record.read() == nil)
        try record.remove()
    }

    @Test func thisProcessIsAliveAndAnUnusedPidIsNot() {
        #expect(LastRunRecord.Run(pid: ProcessInfo.processInfo.processIdentifier, startedAt: 0).isAlive)
        #expect(!LastRunRecord.Run(pid: Int32.max - 1, startedAt: 0).isAlive)
    }
}
