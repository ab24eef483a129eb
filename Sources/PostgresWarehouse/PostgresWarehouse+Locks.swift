import ForagerCore
import LibPQ

/// Statements that lock a warehouse table exclusively (schema changes, TRUNCATE, the new copy of
/// a resync) without holding its readers up. PostgreSQL queues every later reader of a table
/// behind a statement that waits for an exclusive lock on it, so a schema change waiting for one
/// long report would freeze every other query of that table until the report ends. Forager asks
/// for the lock a second at a time instead, and lets the queued readers in between.
extension PostgresWarehouse {
    /// How long one attempt may wait for the lock; readers that come meanwhile wait at most this.
    static let lockAttempt = "1s"
    /// The pause between attempts, in which queued readers get the table.
    static let lockPause = Duration.seconds(1)
    /// How long Forager waits before it names the sessions it waits for.
    static let lockFirstWarning = Duration.seconds(5)
    /// How often it names them again while it still waits.
    static let lockWarningEvery = Duration.seconds(30)

    /// Runs `sql`, which locks `tables` exclusively, in attempts of at most ``lockAttempt`` each
    /// until one gets the lock; inside the open transaction a failed attempt is undone to a
    /// savepoint, so what the transaction did before stays. `purpose` says in the log why Forager
    /// wants the tables.
    func exclusively(_ sql: String, on tables: [TableName], purpose: String) async throws {
        let started = ContinuousClock.now
        var warned: ContinuousClock.Instant?
        while true {
            let savepoint = inTransaction
            try await connection.execute(
                savepoint
                    ? "SAVEPOINT forager_lock; SET LOCAL lock_timeout = '\(Self.lockAttempt)'" : "SET lock_timeout = '\(Self.lockAttempt)'")
            do {
                try await connection.execute(sql)
                try await connection.execute(
                    savepoint ? "RELEASE SAVEPOINT forager_lock; SET LOCAL lock_timeout TO DEFAULT" : "RESET lock_timeout")
                return
            } catch let error as PGError where error.sqlState == "55P03" {
                try await connection.execute(
                    savepoint ? "ROLLBACK TO SAVEPOINT forager_lock; RELEASE SAVEPOINT forager_lock" : "RESET lock_timeout")
                let now = ContinuousClock.now
                if now - started >= Self.lockFirstWarning, warned.map({ now - $0 >= Self.lockWarningEvery }) ?? true {
                    warned = now
                    try await warnOfLockHolders(tables, purpose: purpose, waited: now - started)
                }
                try await Task.sleep(for: Self.lockPause)
            } catch {
                if !savepoint { _ = try? await connection.execute("RESET lock_timeout") }
                throw error
            }
        }
    }

    /// Logs the sessions that hold `tables`, for ops to see why the stream waits.
    private func warnOfLockHolders(_ tables: [TableName], purpose: String, waited: Duration) async throws {
        var holders: [String] = [], pids: [String] = []
        for table in tables {
            let rows = try await connection.query(
                """
                SELECT DISTINCT a.pid, coalesce(a.usename, '?'), coalesce(nullif(a.application_name, ''), '?'),
                       coalesce(a.state, '?'), coalesce(extract(epoch FROM clock_timestamp() - a.xact_start)::bigint::text, '?')
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.granted AND l.pid <> pg_backend_pid() AND l.relation = to_regclass($1)
                ORDER BY a.pid
                """, [table.sql])
            pids += rows.rows.compactMap { $0[0] }
            holders += rows.rows.map { row in
                "pid \(row[0] ?? "?") on \(table) (user \(row[1] ?? "?"), application \(row[2] ?? "?"), \(row[3] ?? "?"), transaction open \(row[4] ?? "?") s)"
            }
        }
        logger.warning(
            "waiting for other sessions to let go of warehouse tables; their readers are not held up meanwhile, and the stream goes on once they end",
            metadata: [
                "forager.tables": "\(tables.map(\.description))", "forager.purpose": "\(purpose)",
                "forager.waited_s": "\(Int(waited.components.seconds))",
                "forager.holders": "\(holders.isEmpty ? "none left" : holders.joined(separator: "; "))",
                "forager.hint":
                    "If a session was left open by mistake, end it: \(Set(pids).sorted().map { "SELECT pg_terminate_backend(\($0));" }.joined(separator: " "))",
            ])
    }
}
