import Synchronization

/// Set when the stream must end and start again: a table resync was requested, or a table
/// stopped while its copy caught up.
final class ResyncRequest: Sendable {
    private let flag = Mutex(false)
    var isRequested: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
