public import ForagerCore
public import LibPQ
public import PGOutput

/// A source connection in a read-only transaction on a slot's exported snapshot: what a copy
/// reads tables from, so that every connection of one copy sees the same instant.
public struct SnapshotReader: Sendable {
    let connection: PGConnection

    /// Connects to `url` and imports the exported snapshot `name` in a read-only transaction.
    public static func open(_ url: ConnectionString, snapshot name: String) async throws -> SnapshotReader {
        let connection = try await PGConnection.connect(url, serverSettings: SQL.canonicalTextSettings, origin: "source")
        do {
            try await connection.execute(
                """
                BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
                SET TRANSACTION SNAPSHOT \(SQL.quoteLiteral(name))
                """)
        } catch {
            connection.close()
            throw error
        }
        return SnapshotReader(connection: connection)
    }

    /// The size of `table` on disk, in bytes (`pg_relation_size`).
    public func relationSize(_ table: TableName) async throws -> Int64? {
        try await connection.query("SELECT pg_relation_size($1::regclass)", [table.sql]).scalar.flatMap { Int64($0) }
    }

    /// The size of the server's pages, in bytes (`block_size`).
    public func blockSize() async throws -> Int64 {
        try await connection.query("SELECT current_setting('block_size')").scalar.flatMap { Int64($0) } ?? 8192
    }

    /// How many more connections the source takes from Forager's role (see
    /// `PGConnection.freeConnections()`).
    public func freeConnections() async throws -> Int {
        try await connection.freeConnections()
    }

    /// Starts copying out the rows of `table` that satisfy `condition` (all when nil): the mapped
    /// columns, then `position` as `pg_lsn`, in PostgreSQL's binary COPY format when `binary`,
    /// else in text. Read them with ``readCopyChunk(maxBytes:)``.
    public func startCopy(_ table: MappedTable, condition: String?, position: LSN, binary: Bool) async throws {
        let columns = table.columns.map { SQL.quoteIdentifier($0.name) }.joined(separator: ", ")
        let filter = condition.map { " WHERE \($0)" } ?? ""
        try await connection.startCopyOut(
            "COPY (SELECT \(columns), \(SQL.quoteLiteral(position.description))::pg_lsn FROM \(table.source.sql)\(filter)) TO STDOUT\(binary ? " (FORMAT binary)" : "")"
        )
    }

    /// The next bytes of the copy in progress, at most `maxBytes`; nil at its end.
    public func readCopyChunk(maxBytes: Int) async throws -> [UInt8]? {
        try await connection.readCopyChunk(maxBytes: maxBytes)
    }

    /// Ends the snapshot's transaction.
    public func commit() async throws {
        try await connection.execute("COMMIT")
    }

    /// Closes the connection.
    public func close() {
        connection.close()
    }
}
