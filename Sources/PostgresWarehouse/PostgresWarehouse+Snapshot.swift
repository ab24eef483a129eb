public import ForagerCore
import LibPQ

/// The snapshot: bulk loads into the warehouse tables, with their indexes off while they fill.
extension PostgresWarehouse {

    /// Opens the warehouse transaction that the initial snapshot loads into.
    public func beginSnapshot() async throws {
        try await beginIfNeeded()
    }

    /// Drops the primary keys of the tables about to be loaded: inserting into the key's index
    /// row by row costs the load more than building the index once after it.
    public func beginBulkLoad(_ tables: [MappedTable]) async throws {
        try await beginIfNeeded()
        for table in tables where !table.warehouseKey.isEmpty {
            for name in try await primaryKeyConstraints(of: table) {
                try await connection.execute("ALTER TABLE \(table.target.sql) DROP CONSTRAINT \(SQL.quoteIdentifier(name))")
            }
        }
    }

    public func freeConnections() async throws -> Int {
        try await connection.freeConnections()
    }

    /// Builds the primary keys of the loaded tables that have none (a sort of the whole table, in
    /// parallel where the server allows), in the transaction that stores the checkpoint.
    public func endBulkLoad(_ tables: [MappedTable]) async throws {
        try await beginIfNeeded()
        for table in tables where !table.warehouseKey.isEmpty {
            guard try await primaryKeyConstraints(of: table).isEmpty else { continue }
            logger.info("building the primary key after the load", metadata: ["forager.table": "\(table.target)"])
            try await connection.execute(
                "ALTER TABLE \(table.target.sql) ADD PRIMARY KEY (\(table.warehouseKey.map(SQL.quoteIdentifier).joined(separator: ", ")))")
        }
    }

    private func primaryKeyConstraints(of table: MappedTable) async throws -> [String] {
        try await connection.query(
            "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'", [table.target.sql]
        ).rows.compactMap { $0[0] }
    }

    /// Starts loading a table's snapshot rows (the source columns, then `_forager_lsn`).
    /// `binary` selects PostgreSQL's binary COPY format, which the source must then send too.
    public func startLoad(_ table: MappedTable, binary: Bool) async throws {
        loading = try await openRows(for: table, withDeleted: false, snapshot: true, binary: binary)
    }

    /// Sends COPY data for the load in progress.
    public func load(_ chunk: [UInt8]) async throws {
        try await connection.putCopyData(chunk)
    }

    /// Ends the load in progress; returns the number of rows stored.
    public func endLoad() async throws -> Int {
        guard let writer = loading else { throw ForagerError(.warehouse, "endLoad without startLoad") }
        loading = nil
        return try await closeRows(writer)
    }
}
