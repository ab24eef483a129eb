import ForagerCore
import LibPQ
import PostgresSource

/// `forager check`: every problem, warning and note, without creating or changing anything.
extension Pipeline {
    /// Everything `forager check` looks at, without creating or changing anything: the problems
    /// found, warnings (which do not fail the check), notes on how Forager will work, and how many
    /// tables are mapped.
    public func check() async -> (tables: Int, problems: [String], warnings: [String], notes: [String]) {
        var problems: [String] = []
        var warnings: [String] = []
        var notes: [String] = []
        var count = configuration.tables.count
        do {
            let source = try await connectSource()
            defer { source.connection.close() }
            problems += try await source.setupProblems().map(\.description)
            warnings += try await source.setupWarnings()
            let (mapped, mappingProblems) = try await resolveMappings(source)
            problems += mappingProblems.map(\.description)
            count = mapped.count
            let (tables, tableProblems) = try await describeTables(source, mapped)
            problems += tableProblems.map(\.description)
            if let slot = try await source.slotState() {
                do { try StartDecision.checkUsable(Self.facts(slot), named: configuration.source.slot) } catch {
                    problems.append("\(error)")
                }
            }
            do {
                let warehouse = try await connectWarehouse()
                defer { warehouse.close() }
                problems += try await warehouse.prepare(tables: tables, create: false).map(\.description)
                notes.append(try await valuesNote(tables, source: source, warehouse: warehouse))
                warnings += try await snapshotConnectionsWarning(source: source, warehouse: warehouse)
                let states = try await warehouse.tableStates()
                for table in tables {
                    guard let state = states[table.source], state.phase == .stopped else { continue }
                    problems.append(
                        "table \(table.source) is stopped: \(state.reason ?? "no reason recorded")\nFIX: forager resync --table \(table.source)"
                    )
                }
            } catch {
                problems.append("warehouse: \(error)")
            }
        } catch {
            problems.append("source: \(error)")
        }
        return (count, problems, warnings, notes)
    }

    /// A warning when the initial snapshot would copy over fewer connections than
    /// `snapshot.parallelism`, because the source or the warehouse has fewer free for Forager's role.
    private func snapshotConnectionsWarning(source: PostgresSource, warehouse: any Warehouse) async throws -> [String] {
        let parallelism = configuration.snapshotParallelism
        // A snapshot also holds the replication connection and a reader on the source.
        let sourceFree = try await source.connection.freeConnections() - 2
        let warehouseFree = try await warehouse.freeConnections()
        let free = min(sourceFree, warehouseFree)
        guard free < parallelism else { return [] }
        let server = sourceFree <= warehouseFree ? "source" : "warehouse"
        return [
            """
            a snapshot would copy over \(max(1, free)) connection(s), not snapshot.parallelism \(parallelism): the \(server) has only \(max(0, free)) free for Forager's role
            FIX: raise max_connections or the role's CONNECTION LIMIT on the \(server), or set snapshot.parallelism to \(max(1, free))
            """
        ]
    }

    /// How column values will arrive, and why when in text.
    private func valuesNote(_ tables: [MappedTable], source: PostgresSource, warehouse: any Warehouse) async throws -> String {
        guard configuration.source.binary else { return "column values will arrive as text (source.binary is false)" }
        guard try await source.connection.serverVersion() >= 140000 else {
            return "column values will arrive as text: the source is older than PostgreSQL 14"
        }
        if let obstacle = try await warehouse.textValuesReason(for: tables) {
            return "column values will arrive as text, because \(obstacle)"
        }
        return "column values will arrive in binary and be stored as received"
    }
}
