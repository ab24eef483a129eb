import Logging
import Synchronization

/// Every log line of the loggers made with ``logger()``, message and metadata, at every level.
final class CollectedLog: Sendable {
    private let lines = Mutex<[String]>([])

    /// A logger at `.trace` whose lines this log keeps.
    func logger() -> Logger {
        var logger = Logger(label: "collected") { _ in Handler(log: self) }
        logger.logLevel = .trace
        return logger
    }

    /// The lines so far.
    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    private struct Handler: LogHandler {
        let log: CollectedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            log.lines.withLock { $0.append("\(event.level) \(event.message) \(all)") }
        }
    }
}
