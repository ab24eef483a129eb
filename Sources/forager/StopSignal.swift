import Dispatch
import Glibc
import Synchronization

/// Set once SIGINT or SIGTERM arrives; long-running work polls it and winds down cleanly.
final class StopSignal: Sendable {
    private let flag = Mutex(false)
    /// Written once, by `install()`, before any signal can arrive.
    private nonisolated(unsafe) var sources: [any DispatchSourceSignal] = []

    var isSet: Bool { flag.withLock { $0 } }

    func set() { flag.withLock { $0 = true } }

    /// Routes SIGINT and SIGTERM to this flag instead of killing the process.
    func install() {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in set() }
            source.resume()
            sources.append(source)
        }
    }
}
