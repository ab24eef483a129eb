import ForagerCore
import Foundation

/// The file in which `forager run` records when it started and how it ended, so that
/// `forager status` can say why a pipeline is not running after its process is gone.
public struct LastRunRecord: Sendable {
    /// One run: started, and ended (cleanly, or with `error`) unless it was killed.
    public struct Run: Codable, Sendable {
        /// The process of the run.
        public var pid: Int32
        /// When it started (Unix time).
        public var startedAt: Double
        /// When it ended (Unix time); nil while it runs, or when it was killed.
        public var endedAt: Double?
        /// Why the run ended, when it ended with an error (secrets masked).
        public var error: PipelineStatus.Report.Failure?

        /// A run started at `startedAt` (Unix time) by process `pid`, not ended yet.
        public init(pid: Int32, startedAt: Double) {
            self.pid = pid
            self.startedAt = startedAt
        }

        /// True while a process with the run's pid exists on this machine.
        public var isAlive: Bool { kill(pid, 0) == 0 || errno == EPERM }
    }

    /// The record's file.
    public let path: String

    /// The record kept in the file `path`.
    public init(path: String) {
        self.path = path
    }

    /// The last run recorded, or nil when none is (or the file cannot be read).
    public func read() -> Run? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(Run.self, from: data)
    }

    /// Forgets the last run (after `forager reset`, its error is history).
    public func remove() throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        try FileManager.default.removeItem(atPath: path)
    }

    /// Replaces the record with `run`, atomically.
    public func write(_ run: Run) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try JSONEncoder.forager.encode(run).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
