public import ForagerCore
public import Logging
public import PGOutput
import WallClock

/// The `clickhouse` warehouse: every mapped table is a `ReplacingMergeTree` ordered by the source
/// key, versioned by the LSN of the change that wrote each row, with a `<table>_current` view of
/// the live rows (`FINAL`, not deleted) for analysts.
///
/// ClickHouse has no multi-statement transactions: a batch is inserted, then the checkpoint row,
/// then the source is acknowledged. A crash in between replays the batch from the checkpoint; the
/// replayed rows carry the same versions, so the views are the same.
public actor ClickHouseWarehouse: Warehouse, ChangeStepApplier {
    let client: ClickHouseClient
    /// The database the tables live in.
    public nonisolated let database: String
    public nonisolated let slot: String
    let logger: Logger
    /// The snapshot load in progress.
    var loading: Load?
    /// Versions of registry rows, increasing.
    private var lastRegistryVersion: UInt64 = 0
    /// The PostgreSQL type of every source column, by warehouse table and source column, as last
    /// learned: the stream only says that a type changed, and conversions depend on the type.
    var sourceTypes: [TableName: [String: String]] = [:]

    /// Metadata columns.
    static let version = "_forager_version"
    static let deleted = "_forager_deleted"
    static let syncedAt = "_forager_synced_at"
    /// An append-only table's row's place among the rows of its change's WAL record (or in the
    /// copy): with the version, the name of the row (see ``RowDelta/place``).
    static let place = "_forager_row"
    /// The metadata columns the `_current` view leaves out.
    static let hiddenColumns: Set<String> = [version, deleted, place]
    /// Rows per INSERT while loading a snapshot are sent in blocks of about this many bytes.
    static let blockBytes = 16 << 20

    /// The server's version, which decides the types, engines and statements Forager uses.
    nonisolated let server: ClickHouseServerVersion
    /// The types Forager makes on the server, which new columns get.
    nonisolated var types: ClickHouseTypeGeneration { server.typeGeneration }
    /// Columns (warehouse names, by table) made by an older server with older types than
    /// ``types``, with those types: they keep them.
    var olderTypes: [TableName: [String: ClickHouseTypeGeneration]] = [:]
    /// One server, or a cluster's replicas.
    nonisolated let topology: ClickHouseTopology
    /// Ends the names of this process's validate helper tables: on a cluster, a random suffix, so
    /// that a request landing on another replica than the one with the table fails rather than
    /// read another run's table there; empty on one server.
    nonisolated let helperSuffix: String

    init(
        client: ClickHouseClient, slot: String, logger: Logger, server: ClickHouseServerVersion,
        topology: ClickHouseTopology = ClickHouseTopology(cluster: nil)
    ) {
        self.server = server
        self.topology = topology
        self.helperSuffix = topology.isCluster ? "_" + String(UInt64.random(in: 0...UInt64.max), radix: 16) : ""
        self.client = client
        self.database = client.database
        self.slot = slot
        self.logger = logger
    }

    /// Connects to the server's HTTP interface and checks that it answers. `compress`: send
    /// insert bodies gzip-compressed. `cluster`: the tables live on every replica of that cluster
    /// (see ``ClickHouseTopology``); `insertQuorum`: the `insert_quorum` of every request there,
    /// each insert waiting for it at most `insertQuorumTimeout`; `sharding`: mapped tables are spread over the cluster's shards.
    public static func connect(
        url: String, database: String, user: String?, password: String?, compress: Bool = true, caFile: String? = nil,
        cluster: String? = nil, insertQuorum: Int? = nil, insertQuorumTimeout: Duration, sharding: Bool = false,
        slot: String, logger: Logger
    ) async throws -> ClickHouseWarehouse {
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        var client = ClickHouseClient(url: trimmed, database: database, user: user, password: password)
        client.compress = compress
        client.caFile = caFile
        let text = try await client.system.execute("SELECT version()").trimmingCharacters(in: .whitespacesAndNewlines)
        logger.debug("connected to ClickHouse", metadata: ["forager.version": "\(text)"])
        let version = ClickHouseServerVersion(text)
        client.insertSettings = version.insertSettings
        let topology = ClickHouseTopology(cluster: cluster, sharded: sharding)
        if let cluster {
            try await checkCluster(cluster, client: client)
            if topology.isSharded { try await checkShards(cluster, client: client, logger: logger) }
            client.settings = ClickHouseTopology.quorumSettings(insertQuorum, timeout: insertQuorumTimeout) + topology.shardingSettings
        }
        return ClickHouseWarehouse(client: client, slot: slot, logger: logger, server: version, topology: topology)
    }

    public nonisolated var checkpointLocation: String { "\(ClickHouseClient.quote(database)).`_forager_state`" }
    public nonisolated var acceptsBinaryCopy: Bool { false }
    /// Parts of one table load one after another (loading them at once is not tried with ClickHouse yet).
    public nonisolated var loadsPartsOfATableAtOnce: Bool { false }
    /// Requests over HTTP hold no session: nothing to close.
    public nonisolated func close() {}

    // MARK: Names and columns

    nonisolated func name(_ table: TableName) -> String {
        ClickHouseClient.quote(table.schema) + "." + ClickHouseClient.quote(table.name)
    }

    nonisolated func viewName(_ table: TableName) -> String {
        ClickHouseClient.quote(table.schema) + "." + ClickHouseClient.quote(table.name + "_current")
    }

    /// The ClickHouse columns of a table's source columns, in order. Key columns are never
    /// nullable; columns added on the source while streaming always are.
    func columns(of table: MappedTable) -> [ClickHouseColumn] {
        let known = sourceTypes[table.target] ?? [:]
        return table.columns.map { column in
            let name = table.warehouseName(of: column.name)
            let sqlType = column.sqlType.isEmpty ? known[column.name] ?? "text" : column.sqlType
            let nullable = (!column.notNull || column.sqlType.isEmpty) && !table.keyColumns.contains(column.name)
            return self.column(name, sqlType: sqlType, nullable: nullable, in: table.target)
        }
    }

    /// The ClickHouse column `name` of `table` for a source column of type `sqlType`, with the
    /// server's types, or the older ones the column was made with (see
    /// ``olderTypes``).
    func column(_ name: String, sqlType: String, nullable: Bool, in table: TableName) -> ClickHouseColumn {
        ClickHouseColumn(name: name, sqlType: sqlType, nullable: nullable, types: olderTypes[table]?[name] ?? types)
    }

    /// Learns which of a table's columns an older server made with older types (timestamps as
    /// `Int64` microseconds, dates as `Date`, booleans as `UInt8`), from the types the table has
    /// (`existing`, by column name), so that an upgraded server keeps reading and writing them
    /// as they are.
    func learnOlderTypes(of table: MappedTable, existing: [String: String]) {
        let known = sourceTypes[table.target] ?? [:]
        var older: [String: ClickHouseTypeGeneration] = [:]
        for source in table.columns {
            let name = table.warehouseName(of: source.name)
            let sqlType = source.sqlType.isEmpty ? known[source.name] ?? "text" : source.sqlType
            guard let stored = existing[name].map(ClickHouseColumn.withoutNullable) else { continue }
            func made(_ candidate: ClickHouseTypeGeneration) -> String {
                ClickHouseColumn.withoutNullable(ClickHouseColumn(name: name, sqlType: sqlType, nullable: false, types: candidate).type)
            }
            guard made(types) != stored,
                let generation = ClickHouseTypeGeneration.allCases.reversed().first(where: { $0 < types && made($0) == stored })
            else { continue }
            older[name] = generation
        }
        olderTypes[table.target] = older.isEmpty ? nil : older
    }

    // MARK: Schema

    /// Makes `<table>_current` again when its columns or their types are not the table's: an ADD
    /// COLUMN interrupted before the view was made again leaves the view without the column, and
    /// servers from 20.x on store a view's column types and cast to them, so a column widened or
    /// made Nullable since would read wrapped numbers or fail on NULL through the old view.
    func refreshViewIfStale(_ table: MappedTable) async throws {
        if try await distributedIsStale(table) { return try await createView(table) }
        let columns = try await existingColumns(of: table.target).filter { !Self.hiddenColumns.contains($0.key) }
        let view = TableName(schema: table.target.schema, name: table.target.name + "_current")
        guard try await existingColumns(of: view) != columns else { return }
        logger.notice("making the _current view again: its columns are not the table's", metadata: ["forager.table": "\(table.target)"])
        try await createView(table)
    }

    /// The columns a table has, with their types; empty when there is no such table.
    func existingColumns(of table: TableName) async throws -> [String: String] {
        try await existingColumnsWithSourceTypes(of: table).mapValues(\.type)
    }

    /// The columns a table has, with their types and the source type recorded in each column's
    /// comment (`COMMENT 'integer'`; empty for columns without one).
    func existingColumnsWithSourceTypes(of table: TableName) async throws -> [String: (type: String, sourceType: String)] {
        let text = try await client.system.execute(
            """
            SELECT name, type, comment FROM system.columns WHERE database = \(ClickHouseClient.literal(table.schema)) AND table = \(ClickHouseClient.literal(table.name)) FORMAT TabSeparated
            """)
        var result: [String: (type: String, sourceType: String)] = [:]
        for row in TabSeparated.rows(text) where row.count == 3 {
            let field = { (index: Int) in String(decoding: row[index] ?? [], as: UTF8.self) }
            result[field(0)] = (field(1), field(2))
        }
        return try await withRecordedSourceTypes(result, of: table)
    }

    /// Follows a source column's type change from `old` to `new` (PostgreSQL types) in place, where
    /// every value stays the same: a widening whose ClickHouse type is the same or wider (not for
    /// a key column, which ClickHouse cannot retype). Otherwise refuses it (``TableRefusal``: the
    /// table stops).
    func followTypeChange(_ table: MappedTable, column name: String, from old: String, to new: String, current: String) async throws {
        let warehouseName = table.warehouseName(of: name)
        let column = self.column(warehouseName, sqlType: new, nullable: current.hasPrefix("Nullable("), in: table.target)
        let isKey = table.keyColumns.contains(name)
        guard TypeWidening.allows(from: old, to: new),
            current == column.type || (!isKey && ClickHouseColumn.widens(from: current, to: column.type))
        else {
            throw TableRefusal(
                ForagerError(
                    .schema,
                    "column \(SQL.quoteIdentifier(name)) of \(table.source) changed type on the source, from \(old) to \(new), which the ClickHouse column (\(current)\(isKey ? ", part of the sort key" : "")) cannot follow in place",
                    hint: "Resync the table to recreate it with the new type: forager resync --table \(table.source)."))
        }
        if current != column.type {
            logger.notice(
                "widening ClickHouse column, as on the source",
                metadata: [
                    "forager.table": "\(table.target)", "forager.column": "\(warehouseName)", "forager.to": "\(column.type)",
                ])
            try await modifyColumn(warehouseName, of: table.target, to: column.type)
            try await createView(table)
        }
        try await recordSourceType(new, of: warehouseName, in: table.target)
        sourceTypes[table.target, default: [:]][name] = new
    }

    /// The columns a table's rows are sorted, and so told apart, by: the layout's `order_by`, or
    /// the key; for an append-only table, the layout's `order_by` then the row's version and
    /// place, which no two rows share and a replayed row has again.
    nonisolated func sortingKey(of table: MappedTable) -> [String] {
        let orderBy = table.layout.clickHouse?.orderBy ?? []
        if table.identity == .appendOnly { return orderBy + Self.rowName }
        return orderBy.isEmpty ? table.warehouseKey : orderBy
    }

    /// The metadata columns that name an append-only table's row.
    static let rowName = [version, place]

    /// Why a table must stop when its ClickHouse rows are told apart by other columns than the
    /// mapping's key now (the source's primary key changed while Forager was stopped), or nil.
    func keyChanged(_ table: MappedTable) async throws -> ForagerError? {
        guard table.identity == .key else { return nil }
        let text = try await client.system.execute(
            """
            SELECT name FROM system.columns WHERE database = \(ClickHouseClient.literal(table.target.schema)) AND table = \(ClickHouseClient.literal(storageTable(table.target).name)) AND is_in_primary_key = 1 FORMAT TabSeparated
            """)
        let present = TabSeparated.rows(text).compactMap { $0.first.flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } }
        let wanted = sortingKey(of: table)
        guard !present.isEmpty, Set(present) != Set(wanted) else { return nil }
        func list(_ names: [String]) -> String { "(" + names.map(ClickHouseClient.quote).joined(separator: ", ") + ")" }
        return ForagerError(
            .schema,
            "ClickHouse table \(table.target) tells rows apart by \(list(present)), but the mapping of \(table.source) now sorts them by \(list(wanted)) (its primary key changed on the source while Forager was stopped, or order_by changed); Forager stopped this table rather than miss deletes or merge rows",
            hint: "Resync the table to recreate it with its new key: forager resync --table \(table.source).")
    }

    /// The source catalogue's definitions of the columns `change` names (read by the pipeline
    /// before the change arrived), by source name; their types are remembered for the conversions.
    func sourceColumns(of change: SchemaChange) -> [String: SourceColumn] {
        for column in change.sourceColumns.values {
            sourceTypes[change.table.target, default: [:]][column.name] = column.sqlType
        }
        return change.sourceColumns
    }

    /// Deletes the slot's checkpoint rows (a lightweight `DELETE` where the server has it, else a
    /// mutation, which ClickHouse applies in the background) and waits until they no longer read.
    public func forgetCheckpoint() async throws {
        guard try await client.system.execute("EXISTS TABLE \(checkpointLocation)").hasPrefix("1") else { return }
        let delete = server.hasLightweightDelete ? "DELETE FROM \(checkpointLocation)" : "ALTER TABLE \(checkpointLocation) DELETE"
        try await client.execute("\(delete) WHERE slot = \(ClickHouseClient.literal(slot))")
        let deadline = ContinuousClock.now + .seconds(60)
        while try await checkpoint() != nil {
            guard ContinuousClock.now < deadline else {
                throw ForagerError(
                    .warehouse, "ClickHouse has not deleted the checkpoint of slot \(slot) from \(checkpointLocation) within 60 s",
                    hint: "See system.mutations for the DELETE on that table; once it is done, run forager reset --yes again.")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    public func checkpoint() async throws -> LSN? {
        guard try await client.system.execute("EXISTS TABLE \(checkpointLocation)").hasPrefix("1") else { return nil }
        let text = try await client.execute(
            "SELECT lsn_text FROM \(checkpointLocation) WHERE slot = \(ClickHouseClient.literal(slot)) ORDER BY lsn DESC LIMIT 1 FORMAT TabSeparated"
        )
        return LSN(string: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func nonEmptyTables(_ tables: [MappedTable]) async throws -> [TableName] {
        var result: [TableName] = []
        for table in tables {
            guard try await client.system.execute("EXISTS TABLE \(name(table.target))").hasPrefix("1") else { continue }
            if try await client.execute("SELECT count() > 0 FROM \(name(table.target))").hasPrefix("1") { result.append(table.target) }
        }
        return result
    }

    public func rowCounts(_ targets: [TableName]) async throws -> [TableName: Int] {
        var counts: [TableName: Int] = [:]
        for target in targets {
            guard try await client.system.execute("EXISTS TABLE \(viewName(target))").hasPrefix("1") else { continue }
            let text = try await client.execute("SELECT count() FROM \(viewName(target))")
            counts[target] = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return counts
    }

    // MARK: Registry

    nonisolated var registry: String { "\(ClickHouseClient.quote(database)).`_forager_tables`" }

    public func tableStates() async throws -> [TableName: TableState] {
        guard try await client.system.execute("EXISTS TABLE \(registry)").hasPrefix("1") else { return [:] }
        let text = try await client.execute(
            """
            SELECT source_schema, source_table, argMax(state, version), argMax(synced_lsn, version), argMax(reason, version)
            FROM \(registry) WHERE slot = \(ClickHouseClient.literal(slot)) GROUP BY source_schema, source_table FORMAT TabSeparated
            """)
        var states: [TableName: TableState] = [:]
        for row in TabSeparated.rows(text) where row.count == 5 {
            let field = { (index: Int) in String(decoding: row[index] ?? [], as: UTF8.self) }
            guard let phase = TableState.Phase(rawValue: field(2)) else { continue }
            states[TableName(schema: field(0), name: field(1))] = TableState(
                phase: phase, syncedAt: LSN(string: field(3)), reason: field(4).isEmpty ? nil : field(4))
        }
        return states
    }

    public func record(_ table: TableName, _ state: TableState) async throws {
        lastRegistryVersion = max(lastRegistryVersion + 1, UInt64(max(0, PostgresTimestamp.now.microseconds)))
        var row: [UInt8] = []
        for (index, field) in [
            slot, table.schema, table.name, state.phase.rawValue, state.syncedAt?.description ?? "", state.reason ?? "",
            String(lastRegistryVersion),
        ].enumerated() {
            if index > 0 { row.append(0x09) }
            CopyTextEscapes.escape(ArraySlice(field.utf8), into: &row)
        }
        row.append(0x0A)
        try await client.insert(
            "INSERT INTO \(registry) (slot, source_schema, source_table, state, synced_lsn, reason, version) FORMAT TabSeparated", rows: row
        )
    }

    public func requestResync(_ tables: [TableName]) async throws {
        for table in tables { try await record(table, TableState(phase: .resync)) }
    }

    public func replaceTable(_ table: MappedTable) async throws {
        logger.notice("replacing the ClickHouse table for a resync", metadata: ["forager.table": "\(table.target)"])
        try await client.execute("DROP TABLE IF EXISTS \(viewName(table.target))\(topology.onCluster)")
        try await client.execute("DROP TABLE IF EXISTS \(name(table.target))\(topology.onCluster)")
        if topology.isSharded { try await client.execute("DROP TABLE IF EXISTS \(name(storageTable(table.target)))\(topology.onCluster)") }
        try await createTable(table)
    }
}
