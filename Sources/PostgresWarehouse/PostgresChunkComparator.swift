public import ForagerCore
public import LibPQ
public import Logging
public import PGOutput

/// A Postgres warehouse as `forager validate`'s comparator: it runs the same checksum SQL as the
/// source, on a connection of its own, and reads the checkpoint on the warehouse's.
public final class PostgresChunkComparator: ChecksumComparator {
    private let warehouse: PostgresWarehouse
    private let connection: PGConnection

    private init(warehouse: PostgresWarehouse, connection: PGConnection) {
        self.warehouse = warehouse
        self.connection = connection
    }

    /// Connects to the warehouse at `url`, whose tables of `slot` are in `schema`.
    public static func connect(_ url: ConnectionString, schema: String, slot: String, logger: Logger) async throws
        -> PostgresChunkComparator
    {
        let warehouse = try await PostgresWarehouse.connect(url, schema: schema, slot: slot, logger: logger)
        do {
            let connection = try await PGConnection.connect(url, serverSettings: ChunkComparator.serverSettings, origin: "warehouse")
            return PostgresChunkComparator(warehouse: warehouse, connection: connection)
        } catch {
            warehouse.close()
            throw error
        }
    }

    /// The warehouse checkpoint of the slot.
    public func checkpoint() async throws -> LSN? {
        try await warehouse.checkpoint()
    }

    /// The warehouse database's `datcollate`.
    public func collation() async throws -> String? {
        try await connection.query("SELECT datcollate FROM pg_database WHERE datname = current_database()").scalar
    }

    /// The rows of `sql` on the comparison connection.
    public func rows(_ sql: String, _ parameters: [String]) async throws -> [[String?]] {
        try await connection.query(sql, parameters).rows
    }

    /// Closes both connections.
    public func close() {
        connection.close()
        warehouse.close()
    }
}
