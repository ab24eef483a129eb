internal import Foundation
internal import Glibc

/// A child process started with `posix_spawn` and reaped with `waitpid`, output to a file.
///
/// Foundation's `Process` on Linux sometimes misses the exit of a child whose own children outlive
/// it (as `pg_ctl start` does), so Forager manages its children itself.
public final class ChildProcess: @unchecked Sendable {
    public let pid: Int32
    public let outputPath: String
    /// Set once the child has been reaped; read and written only through `poll()`.
    private var status: Int32?

    /// Starts `executable` with `arguments`; stdout and stderr go to `outputPath`, stdin is /dev/null.
    /// `newProcessGroup`: the child leads a process group of its own (its pid), which a signal to
    /// `-pid` ends with everything it started.
    public init(
        _ executable: String, _ arguments: [String], outputPath: String, environment: [String: String]? = nil, newProcessGroup: Bool = false
    ) throws {
        self.outputPath = outputPath
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        // Threads of the spawning process may block or ignore signals (dispatch's workers block
        // them all); the child starts with none blocked and default handlers.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGHUP, SIGQUIT] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if newProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, env)
        guard result == 0 else { throw ChildProcessError("could not start \(executable): error \(result)") }
        self.pid = pid
    }

    /// The exit status once the child has ended (128 + signal when killed), else nil. Never blocks.
    public func poll() -> Int32? {
        if let status { return status }
        var raw: Int32 = 0
        let reaped = waitpid(pid, &raw, WNOHANG)
        guard reaped == pid else { return nil }
        let signal = raw & 0x7F
        status = signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
        return status
    }

    /// Blocks until the child ends; for short harness commands.
    public func waitBlocking() -> Int32 {
        while true {
            if let status = poll() { return status }
            usleep(10_000)
        }
    }

    /// Waits for the child to end, killing it after `timeout`.
    public func wait(timeout: Duration) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = poll() { return status }
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                _ = waitBlocking()
                throw ChildProcessError("\(outputPath): process did not exit within \(timeout); output:\n\(output)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Sends signal `number`, unless the child has ended: its pid, once reaped, may be another
    /// process's. (An ended child not yet reaped keeps its pid until `poll()` reaps it.)
    public func signal(_ number: Int32) {
        guard poll() == nil else { return }
        kill(pid, number)
    }

    /// Everything the child wrote so far.
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
}

/// A child that could not be started or did not end in time.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
