import ForagerConfig
import ForagerCore
import LibPQ
public import PGOutput

/// Running the pipeline: forever with retries (`forager run`), or until caught up (`forager sync`).
extension Pipeline {
    /// Runs until stopped, reconnecting after transient failures with exponential backoff and
    /// jitter, forever; permanent failures are thrown. Each attempt is logged and counted.
    public func runForever() async throws {
        var backoff = Backoff(base: .seconds(1), cap: .seconds(30))
        while !stop.isSet {
            do {
                let resync = ResyncRequest()
                _ = try await runOnce(mode: .continuous, resync: resync)
                guard resync.isRequested else { return }
                logger.notice("restarting the stream: a table resync was requested, or a table stopped while its copy caught up")
                backoff.reset()
                continue
            } catch {
                guard let wait = try retryWait(after: error, backoff: &backoff) else { return }
                // A stop during the wait ends it at once; the loop's condition then returns.
                _ = await stop.wait(until: .now + wait)
                try Task.checkCancellation()
            }
        }
    }

    /// Counts and reports a failed pass; how long to wait before the next one, nil to end quietly
    /// (stopped during a transient failure). Throws `error` when it needs a person.
    private func retryWait(after error: any Error, backoff: inout Backoff) throws -> Duration? {
        let kind = failureKind(error)
        metrics.error(kind: kind)
        guard Self.isTransient(error), !stop.isSet else {
            status?.failed(error, kind: kind, retryIn: nil, attempt: backoff.attempt)
            if stop.isSet, Self.isTransient(error) { return nil }
            throw error
        }
        // A run that got as far as streaming starts the backoff over.
        if status?.phase == .streaming { backoff.reset() }
        let wait = backoff.next()
        status?.failed(error, kind: kind, retryIn: wait, attempt: backoff.attempt)
        metrics.reconnect(kind: kind)
        logger.warning(
            "\(kind) failed; retrying",
            metadata: [
                "forager.error": "\(error)", "forager.attempt": "\(backoff.attempt)",
                "forager.retry_in": "\(Int(wait.seconds * 1000)) ms",
            ])
        return wait
    }

    /// Catches up with the source's WAL position at the start of each pass and returns the final
    /// checkpoint. A table marked for a new copy meanwhile (by `forager resync`, or because rows
    /// older than a column added on the source need the source's values) is copied, and the
    /// catch-up runs again.
    public func syncUntilCaughtUp() async throws -> LSN {
        var passes = 1
        while true {
            let resync = ResyncRequest()
            let lsn = try await runOnce(mode: .catchUp, resync: resync)
            guard !stop.isSet, passes < Self.syncPasses, resync.isRequested else { return lsn }
            passes += 1
            logger.notice("catching up again: a table resync was requested, or a table stopped while its copy caught up")
        }
    }

    /// The most passes one `forager sync` makes: a copy asked for in every pass would never end.
    static let syncPasses = 4

    /// True when trying again may succeed: lost or refused connections, servers restarting or
    /// overloaded, a stream the server ended. Everything else needs a person.
    public static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case let error as PGError: error.isTransient
        case let error as ForagerError: error.isTransient
        default: false
        }
    }

    /// Where a failure happened or what it is about, for `forager_errors_total{kind}` and the status.
    public func failureKind(_ error: any Error) -> String { FailureKind.of(error) }

    /// One pass: preflight, snapshot or resume (copying tables that are new or asked to be
    /// resynced), stream. Returns the final acknowledged checkpoint. With `resync`, the stream also
    /// ends (and `resync` is set) when `forager resync` asks for a table's copy.
    func runOnce(mode: Mode, resync: ResyncRequest) async throws -> LSN {
        do {
            return try await attempt(mode: mode, resync: resync)
        } catch let error as ForagerError where error.code == .binaryValues && !textValues {
            // Nothing of the failed batch was committed or acknowledged: start again in text.
            logger.notice("starting the stream again with column values in text", metadata: ["forager.reason": "\(error.message)"])
            var text = self
            text.textValues = true
            return try await text.attempt(mode: mode, resync: resync)
        }
    }
}
