import Glibc
import Synchronization

/// What to do when this process exits, such as stopping the servers and processes it started, so
/// that none outlives it (a test that fails midway included). The steps run in the reverse order of
/// their registration, as `atexit` runs its handlers: what started last stops first.
public enum ExitCleanup {
    private static let steps = Mutex<(list: [@Sendable () -> Void], hooked: Bool)>(([], false))

    /// Runs `step` when the process exits; the first registration installs the exit hook.
    public static func register(_ step: @escaping @Sendable () -> Void) {
        let first = steps.withLock { state in
            state.list.append(step)
            defer { state.hooked = true }
            return !state.hooked
        }
        if first { atexit { ExitCleanup.runAll() } }
    }

    private static func runAll() {
        let list = steps.withLock { state in
            defer { state.list = [] }
            return state.list
        }
        list.reversed().forEach { $0() }
    }
}
