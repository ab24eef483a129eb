import ForagerDemo
import Foundation
import Glibc
import Testing

@Suite("Benchmark harness", .cleansUpScenarios)
struct BenchSmokeTests {
    @Test("bench/run.py --smoke runs every case end to end on tiny sizes and writes its page")
    func smokeRun() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("forager-bench-smoke-\(getpid())").path
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: output) }
        let page = output + "/benchmarks.md"
        let python =
            ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/python3"
        let child = try ChildProcess(
            python, [root + "/bench/run.py", "--smoke", "--binary", Scenario.foragerBinary, "--out", page],
            outputPath: output + "/run.log")
        let status = try await child.wait(timeout: .seconds(300))
        #expect(status == 0, "\(child.output)")
        let text = (try? String(contentsOfFile: page, encoding: .utf8)) ?? ""
        #expect(text.contains("## Summary"))
        #expect(text.contains("pg_recvlogical"))
        #expect(text.contains("native logical replication"))
        #expect(text.contains("| 12 | staged bytes per change |"), "case 12 (the Redshift path) should have run:\n\(text)")
        #expect(text.contains("Forager into the Postgres warehouse"))
    }
}
