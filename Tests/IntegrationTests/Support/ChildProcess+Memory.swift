import ForagerDemo
import Foundation

extension ChildProcess {
    /// The most memory the process has held so far (VmHWM), in MiB; it must still be running.
    func peakResidentMiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { throw HarnessError("no VmHWM in /proc/\(pid)/status") }
        return kib / 1024
    }
}
