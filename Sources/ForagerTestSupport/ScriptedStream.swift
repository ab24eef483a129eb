public import ForagerCore
public import PGOutput
import PGOutputTestSupport
internal import Synchronization
import WallClock

/// A replication stream for tests: hands out scripted reads of CopyData payloads in order, then
/// empty reads, and records every status update it is sent. With a ``ManualClock``, an empty read
/// (scripted or not) moves the clock on by the read's timeout, as the wait on a quiet server would,
/// and so does a wait for messages to gather.
public final class ScriptedStream: ReplicationStream {
    private let reads: Mutex<[[[UInt8]]]>
    private let sent = Mutex<[StandbyStatusUpdate]>([])
    private let ends = Mutex(0)
    private let emptyReads = Mutex(0)
    private let gathers = Mutex(0)
    private let clock: ManualClock?

    /// - Parameters:
    ///   - reads: what each read returns, in order.
    ///   - clock: moved on by each empty read's timeout; nil to wait two real milliseconds instead.
    public init(_ reads: [[[UInt8]]], clock: ManualClock? = nil) {
        self.reads = Mutex(reads)
        self.clock = clock
    }

    /// Adds reads after the scripted ones (a source written to while the stream runs).
    public func append(_ more: [[[UInt8]]]) {
        reads.withLock { $0 += more }
    }

    public func read(maxMessages: Int, timeout: Duration) async throws -> [[UInt8]]? {
        let next = reads.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        if let next, !next.isEmpty { return next }
        emptyReads.withLock { $0 += 1 }
        if let clock {
            clock.advance(by: timeout)
            await Task.yield()
        } else {
            try await Task.sleep(for: .milliseconds(2))
        }
        return []
    }

    /// Moves the manual clock, if any, instead of sleeping.
    public func gather(for duration: Duration) async throws {
        gathers.withLock { $0 += 1 }
        if let clock {
            clock.advance(by: duration)
            await Task.yield()
        } else {
            try await Task.sleep(for: duration)
        }
    }

    public func acknowledge(_ lsn: LSN, replyRequested: Bool) async throws {
        let update = StandbyStatusUpdate(confirming: lsn, at: .now, replyRequested: replyRequested)
        sent.withLock { $0.append(update) }
    }
    public func end() async throws { ends.withLock { $0 += 1 } }

    /// Every status update sent, in order.
    public var updates: [StandbyStatusUpdate] { sent.withLock { $0 } }
    /// The flush position of every status update sent, in order.
    public var flushed: [LSN] { updates.map(\.flushed) }
    /// How many times the stream was ended from the client side.
    public var endCount: Int { ends.withLock { $0 } }
    /// How many reads found nothing scripted.
    public var emptyReadCount: Int { emptyReads.withLock { $0 } }
    /// How many times the reader waited for messages to gather.
    public var gatherCount: Int { gathers.withLock { $0 } }
}

/// Builds the CopyData payloads a source sends, for ``ScriptedStream``.
public enum SourceScript {
    /// A table `public.<name>` with an integer key `id` and a text column `label`, as a Relation
    /// message with `id` as the relation id, and as the mapped table it feeds.
    public static func table(_ name: String, id: UInt32) -> (relation: Relation, mapped: MappedTable) {
        let relation = Relation(
            id: id, namespace: "public", name: name, replicaIdentity: .default,
            columns: [
                .init(isKey: true, name: "id", typeOID: 23, typeModifier: -1),
                .init(isKey: false, name: "label", typeOID: 25, typeModifier: -1),
            ])
        let mapped = MappedTable(
            source: TableName(schema: "public", name: name), target: TableName(schema: "analytics", name: name),
            columns: [
                SourceColumn(name: "id", sqlType: "integer", notNull: true), SourceColumn(name: "label", sqlType: "text", notNull: false),
            ],
            keyColumns: ["id"])
        return (relation, mapped)
    }

    /// A row of such a table.
    public static func row(_ id: Int, _ label: String?) -> TupleData {
        TupleData(columns: [.text(ArraySlice(String(id).utf8)), label.map { .text(ArraySlice($0.utf8)) } ?? .null])
    }

    /// The payloads of one transaction of `changes` committing at `commit` (its messages at the
    /// positions just before it; it ends at `commit + 8`), with `relation` sent first when given.
    public static func transaction(xid: UInt32, commit: UInt64, relation: Relation? = nil, _ changes: [PGOutputMessage]) -> [[UInt8]] {
        var messages: [PGOutputMessage] = [.begin(Begin(finalLSN: LSN(commit), commitTime: .now, xid: xid))]
        if let relation { messages.append(.relation(relation)) }
        messages += changes
        messages.append(.commit(Commit(flags: 0, commitLSN: LSN(commit), endLSN: LSN(commit + 8), commitTime: .now)))
        let start = commit - UInt64(messages.count)
        return messages.enumerated().map { offset, message in
            let at = LSN(start + UInt64(offset))
            return PGOutputEncoder.encode(
                .xLogData(XLogData(walStart: at, walEnd: at, serverTime: .now, data: PGOutputEncoder.encode(message)[...])))
        }
    }

    /// A keepalive saying the server's WAL ends at `walEnd`.
    public static func keepalive(_ walEnd: UInt64, replyRequested: Bool = false) -> [UInt8] {
        PGOutputEncoder.encode(.keepalive(PrimaryKeepalive(walEnd: LSN(walEnd), serverTime: .now, replyRequested: replyRequested)))
    }
}
