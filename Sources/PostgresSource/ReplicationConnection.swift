public import ForagerCore
public import LibPQ
public import PGOutput
import WallClock

/// A connection opened with `replication=database`, for creating the slot and streaming from it.
public struct ReplicationConnection: ReplicationStream {
    public let connection: PGConnection

    /// Opens the replication connection. Settings pin the text form of values (see `SQL.canonicalTextSettings`).
    public static func connect(_ url: ConnectionString) async throws -> ReplicationConnection {
        let connection = try await PGConnection.connect(
            url, overrides: ["replication": "database"], serverSettings: SQL.canonicalTextSettings, origin: "source")
        return ReplicationConnection(connection: connection)
    }

    /// What creating a slot with an exported snapshot returns.
    public struct CreatedSlot: Sendable {
        /// Streaming from the slot starts here; the snapshot shows exactly the data before it.
        public var consistentPoint: LSN
        /// Import with `SET TRANSACTION SNAPSHOT` before this connection runs anything else.
        public var snapshotName: String
    }

    /// Creates a logical slot with the `pgoutput` plugin and exports its snapshot. A `temporary`
    /// slot goes away with this connection; it serves to copy tables at a known position.
    public func createSlot(named slot: String, temporary: Bool = false) async throws -> CreatedSlot {
        let rows = try await connection.execute(
            "CREATE_REPLICATION_SLOT \(SQL.quoteIdentifier(slot))\(temporary ? " TEMPORARY" : "") LOGICAL pgoutput EXPORT_SNAPSHOT")
        guard let lsnText = rows[0, "consistent_point"], let lsn = LSN(string: lsnText),
            let snapshot = rows[0, "snapshot_name"]
        else {
            throw ForagerError(.protocolViolation, "CREATE_REPLICATION_SLOT returned no consistent point or snapshot")
        }
        return CreatedSlot(consistentPoint: lsn, snapshotName: snapshot)
    }

    /// What a stream was started with: the options the server supports of those asked for.
    public struct StreamFormat: Sendable, Equatable {
        /// Large transactions are streamed before they commit (protocol 2).
        public var streamsTransactions: Bool
        /// Column values arrive in their types' binary send format.
        public var binaryValues: Bool
    }

    /// Starts streaming pgoutput changes for `publications` from `lsn`. From PostgreSQL 14 on,
    /// logical messages are streamed too (Forager's heartbeats move the checkpoint with them);
    /// with `streamTransactions` protocol 2 streams large transactions before they commit (Stream
    /// Start, Stop, Commit, Abort), and with `binary` column values arrive in binary. Older
    /// servers get protocol 1 and text.
    public func startStreaming(
        slot: String, publications: [String], from lsn: LSN, streamTransactions: Bool = false, binary: Bool = false
    ) async throws -> StreamFormat {
        let publicationList = SQL.quoteLiteral(publications.map(SQL.quoteIdentifier).joined(separator: ","))
        let modern = try await connection.serverVersion() >= 140000
        let format = StreamFormat(streamsTransactions: modern && streamTransactions, binaryValues: modern && binary)
        let options = [
            "proto_version '\(format.streamsTransactions ? 2 : 1)'", "publication_names \(publicationList)",
            modern ? "messages 'true'" : nil, format.streamsTransactions ? "streaming 'on'" : nil,
            format.binaryValues ? "binary 'true'" : nil,
        ].compactMap { $0 }
        try await connection.startReplication(
            "START_REPLICATION SLOT \(SQL.quoteIdentifier(slot)) LOGICAL \(lsn) (\(options.joined(separator: ", ")))")
        return format
    }

    public func read(maxMessages: Int, timeout: Duration) async throws -> [[UInt8]]? {
        switch try await connection.readReplication(maxMessages: maxMessages, timeout: timeout) {
        case .messages(let messages): messages
        case .ended: nil
        }
    }

    public func acknowledge(_ lsn: LSN, replyRequested: Bool) async throws {
        let update = StandbyStatusUpdate(confirming: lsn, at: .now, replyRequested: replyRequested)
        try await connection.sendCopyData(update.encoded())
    }

    public func end() async throws {
        try await connection.endReplication()
    }
}
