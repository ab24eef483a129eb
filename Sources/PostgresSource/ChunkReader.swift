import ForagerCore
public import LibPQ
public import PGOutput

/// The source as `forager validate` reads it: a connection of its own that prints values as the
/// warehouse's comparator does (``ChunkComparator/serverSettings``), reading each chunk in a
/// read-only snapshot whose WAL position it knows.
public struct ChunkReader: Sendable {
    let connection: PGConnection

    /// Opens the reader's connection to the source.
    public static func connect(_ url: ConnectionString) async throws -> ChunkReader {
        ChunkReader(connection: try await PGConnection.connect(url, serverSettings: ChunkComparator.serverSettings, origin: "source"))
    }

    /// Closes the connection.
    public func close() { connection.close() }

    /// The collation the source database orders text by (`datcollate`).
    public func databaseCollation() async throws -> String? {
        try await connection.databaseCollation()
    }

    /// Runs `body` in a read-only snapshot, given the WAL position every commit it sees lies before.
    public func inReadOnlySnapshot<T>(_ body: (LSN) async throws -> T) async throws -> T {
        try await connection.inReadOnlySnapshot(body)
    }

    /// The rows `sql` returns with `parameters`, each value as text.
    public func rows(_ sql: String, _ parameters: [String]) async throws -> [[String?]] {
        try await connection.query(sql, parameters).rows
    }

    /// The COPY data `sql` (a `COPY ... TO STDOUT`) sends, in pieces of at most a megabyte.
    public func copyOut(_ sql: String) async throws -> [[UInt8]] {
        try await connection.startCopyOut(sql)
        var chunks: [[UInt8]] = []
        while let chunk = try await connection.readCopyChunk(maxBytes: 1 << 20) { chunks.append(chunk) }
        return chunks
    }
}
