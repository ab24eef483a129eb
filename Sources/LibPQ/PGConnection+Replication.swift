internal import CLibPQ
internal import Glibc

/// What one read from the replication stream produced.
public enum ReplicationRead: Sendable {
    /// Zero or more CopyData payloads, in order; empty when the timeout passed with nothing to read.
    case messages([[UInt8]])
    /// The server ended the stream (CopyDone).
    case ended
}

extension PGConnection {
    /// Sends a replication command that enters CopyBoth mode, such as `START_REPLICATION`.
    /// The connection must have been opened with `replication=database`.
    public func startReplication(_ command: String) async throws {
        let endpoint = self.endpoint
        try await withHandle { handle in
            try Self.startCopy(handle, sql: command, status: PGRES_COPY_BOTH, context: "starting replication on \(endpoint)")
        }
    }

    /// Reads what the server has sent, waiting up to `timeout` when nothing is there yet.
    ///
    /// Returns as soon as at least one message is available, with every message the server has sent
    /// so far (up to `maxMessages`), so the caller can interleave status updates: fewer than
    /// `maxMessages` means the connection held nothing more. The wait happens in `poll(2)` on the
    /// connection's own queue.
    public func readReplication(maxMessages: Int, timeout: Duration) async throws -> ReplicationRead {
        let endpoint = self.endpoint
        let timeoutMilliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        return try await withHandle { handle -> ReplicationRead in
            let context = "replication stream from \(endpoint)"
            var messages: [[UInt8]] = []
            var waited = false
            var drained = false
            while messages.count < maxMessages {
                var buffer: UnsafeMutablePointer<CChar>?
                let length = PQgetCopyData(handle, &buffer, 1)
                if length > 0, let buffer {
                    drained = false
                    messages.append(
                        buffer.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
                            Array(UnsafeBufferPointer(start: $0, count: Int(length)))
                        })
                    PQfreemem(buffer)
                } else if length == 0 {
                    if !messages.isEmpty || waited {
                        // What the socket holds beyond libpq's buffer belongs to this read: a
                        // short read then means the server had nothing more.
                        if drained { break }
                        drained = true
                        if PQconsumeInput(handle) != 1 { throw Self.connectionError(handle, context: context) }
                        continue
                    }
                    var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
                    let ready = poll(&descriptor, 1, timeoutMilliseconds)
                    if ready < 0 && errno != EINTR {
                        throw PGError(kind: .connection, context: context, message: "poll failed: errno \(errno)")
                    }
                    waited = true
                    if PQconsumeInput(handle) != 1 { throw Self.connectionError(handle, context: context) }
                } else if length == -1 {
                    if !messages.isEmpty { return .messages(messages) }
                    try Self.finishCommand(handle, context: context)
                    return .ended
                } else {
                    throw Self.connectionError(handle, context: context)
                }
            }
            return .messages(messages)
        }
    }

    /// Sends one CopyData message to the server (for example a standby status update) and flushes it.
    public func sendCopyData(_ bytes: [UInt8]) async throws {
        let endpoint = self.endpoint
        try await withHandle { handle in
            let context = "replication stream to \(endpoint)"
            try Self.put(handle, bytes[...], context: context)
            guard PQflush(handle) == 0 else { throw Self.connectionError(handle, context: context) }
        }
    }

    /// Ends CopyBoth mode from the client side: sends CopyDone, then discards what the server still
    /// sends until it acknowledges. Messages already sent (such as a final status update) are
    /// processed by the server before it answers.
    public func endReplication() async throws {
        let endpoint = self.endpoint
        try await withHandle { handle in
            let context = "ending replication on \(endpoint)"
            guard PQputCopyEnd(handle, nil) == 1, PQflush(handle) == 0 else {
                throw Self.connectionError(handle, context: context)
            }
            while true {
                var buffer: UnsafeMutablePointer<CChar>?
                let length = PQgetCopyData(handle, &buffer, 0)
                if let buffer { PQfreemem(buffer) }
                if length == -1 { break }
                if length < -1 { throw Self.connectionError(handle, context: context) }
            }
            try Self.finishCommand(handle, context: context)
        }
    }
}
