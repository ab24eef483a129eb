import ForagerCore
import Foundation

/// The file in which `forager run` records when it started and how it ended, so that
/// `forager status` can say why a pipeline is not running after its process is gone.
struct LastRunRecord: Sendable {
    /// One run: started, and ended (cleanly, or with `error`) unless it was killed.
    struct Run: Codable, Sendable {
        var pid: Int32
        var startedAt: Double
        var endedAt: Double?
        /// Why the run ended, when it ended with an error (secrets masked).
        var error: PipelineStatus.Report.Failure?

        /// True while a process with the run's pid exists on this machine.
        var isAlive: Bool { kill(pid, 0) == 0 || errno == EPERM }
    }

    let path: String

    /// The last run recorded, or nil when none is (or the file cannot be read).
    func read() -> Run? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(Run.self, from: data)
    }

    /// Forgets the last run (after `forager reset`, its error is history).
    func remove() throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        try FileManager.default.removeItem(atPath: path)
    }

    /// Replaces the record with `run`, atomically.
    func write(_ run: Run) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try JSONEncoder.forager.encode(run).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
