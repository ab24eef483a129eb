import Synchronization

/// Set when the stream ended because a table resync was requested.
final class ResyncRequest: Sendable {
    private let flag = Mutex(false)
    var isRequested: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
