public import LibPQ
public import PGOutput

extension PGConnection {
    /// Runs `body` in a read-only snapshot, with the WAL position read as the snapshot's first
    /// statement: every commit the snapshot sees lies before it. That is the insert position: a
    /// commit made with `synchronous_commit = off` may lie past the write position, and a warehouse
    /// that reached only that would be taken for one holding the commit.
    public func inReadOnlySnapshot<T>(_ body: (LSN) async throws -> T) async throws -> T {
        try await execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        do {
            let position = LSN(string: try await query("SELECT pg_current_wal_insert_lsn()::text").scalar ?? "") ?? .zero
            let value = try await body(position)
            try await execute("COMMIT")
            return value
        } catch {
            _ = try? await execute("ROLLBACK")
            throw error
        }
    }

    /// The collation the connected database orders text by (`datcollate`).
    public func databaseCollation() async throws -> String? {
        try await query("SELECT datcollate FROM pg_database WHERE datname = current_database()").scalar
    }
}
