import ForagerDemo
import Foundation
import Glibc
import Testing

/// The Redshift emulation that the Redshift warehouse's tests stand on (issue 19) checks itself:
/// its refusals, rewrites, COPY from S3 with signatures checked, `stl_load_errors`, the fault
/// switch, and the SQL grammar checker (Support/Redshift/test_emulator.py).
@Suite("Redshift emulation")
struct RedshiftEmulationTests {
    @Test("the Redshift emulation's self-test passes: it refuses what Redshift refuses and loads from S3 as Redshift does")
    func selfTest() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let python = root + "/.build-venv/aws/bin/python"
        #expect(FileManager.default.isExecutableFile(atPath: python), "\(python) is missing: run ./scripts/prerequisites")
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("forager-redshift-emulation-\(getpid()).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try ChildProcess(python, [root + "/Tests/IntegrationTests/Support/Redshift/test_emulator.py", "-v"], outputPath: log)
        let status = try await child.wait(timeout: .seconds(300))
        #expect(status == 0, "\(child.output)")
        #expect(child.output.contains("\nOK"), "\(child.output)")
        #expect(!child.output.contains("skipped"), "no test of the emulation may be skipped: \(child.output)")
    }
}
