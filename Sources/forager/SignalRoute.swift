import Dispatch
import ForagerPipeline
import Glibc

/// Routes SIGINT and SIGTERM to a ``StopSignal`` instead of killing the process, for as long as
/// it is kept.
final class SignalRoute {
    private let sources: [any DispatchSourceSignal]

    init(to stop: StopSignal) {
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.set() }
            source.resume()
            return source
        }
    }
}
