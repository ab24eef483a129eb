/// A server of the tests started on first use and shared by the whole test process: every caller
/// that asks while the one start runs awaits it, and a failed start fails every caller alike.
/// Shared by the test doubles that build on this target (the Redshift emulation as well).
public actor StartedOnce<Value: Sendable> {
    private let start: @Sendable () async throws -> Value
    /// The one start, awaited by every caller that asks while it runs.
    private var started: Task<Value, any Error>?

    /// A value that `start` makes on the first ``get()``.
    public init(_ start: @escaping @Sendable () async throws -> Value) {
        self.start = start
    }

    /// The value, started now when nothing asked for it before.
    public func get() async throws -> Value {
        if let started { return try await started.value }
        let starting = Task { [start] in try await start() }
        started = starting
        return try await starting.value
    }
}
