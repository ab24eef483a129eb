import ForagerCore

/// Making a mapped table's ClickHouse table and its `_current` view, and asking the server whether
/// it takes the mapping's layout (`partition_by`, `order_by`).
extension ClickHouseWarehouse {
    func createTable(_ table: MappedTable) async throws {
        olderTypes[table.target] = nil
        do {
            try await client.execute(try await createStatement(table, named: name(storageTable(table.target)), on: topology))
        } catch let error as ForagerError where Self.hasLayout(table) && ClickHouseClient.isLayoutRefusal(error.message) {
            throw layoutRefusal(table, error)
        }
        try await createDistributed(table)
        try await recordSourceTypes(columnSourceTypes(of: table), of: table.target)
        try await recordColumns(of: table.target, try await existingColumns(of: table.target))
        try await createView(table)
    }

    /// `CREATE TABLE IF NOT EXISTS` for `table`'s ClickHouse table under `name` (quoted), on one
    /// server or on a cluster (see ``ClickHouseTopology``).
    func createStatement(_ table: MappedTable, named name: String, on topology: ClickHouseTopology) async throws -> String {
        let sourceTypes = columnSourceTypes(of: table)
        // On a cluster the source types are recorded apart: 18.16's replicated tables refuse comments.
        var definitions = columns(of: table).map { column in
            "\(ClickHouseClient.quote(column.name)) \(column.type)"
                + (topology.isCluster ? "" : " COMMENT \(ClickHouseClient.literal(sourceTypes[column.name] ?? ""))")
        }
        definitions += [
            "\(ClickHouseClient.quote(Self.version)) UInt64", "\(ClickHouseClient.quote(Self.deleted)) UInt8",
            "\(ClickHouseClient.quote(Self.syncedAt)) DateTime DEFAULT now()",
        ]
        if table.identity == .appendOnly { definitions.append("\(ClickHouseClient.quote(Self.place)) UInt64") }
        let key = sortingKey(of: table)
        let partition = table.layout.clickHouse?.partitionBy.map { " PARTITION BY \($0)" } ?? ""
        // A layout over nullable columns: servers that can sort and partition by them (20.x on) are told so.
        var settings = ""
        if Self.hasLayout(table), try await hasMergeTreeSetting("allow_nullable_key") { settings = " SETTINGS allow_nullable_key = 1" }
        // Where the server has it, tombstones mark themselves, so that FINAL hides deleted rows
        // (not with deletes: soft, whose deleted rows FINAL shows with their values).
        var versions = ClickHouseClient.quote(Self.version)
        if server.hasIsDeleted, table.deletes != .soft, !table.warehouseKey.isEmpty {
            versions += ", " + ClickHouseClient.quote(Self.deleted)
        }
        let engine = replacingEngine(version: versions, table: table.target, on: topology)
        return """
            CREATE TABLE IF NOT EXISTS \(name)\(topology.onCluster) (\(definitions.joined(separator: ", ")))
            ENGINE = \(engine)\(partition) ORDER BY (\(key.map(ClickHouseClient.quote).joined(separator: ", ")))\(settings)
            """
    }

    /// Whether the mapping gives `table` a ClickHouse layout (`partition_by`, `order_by`).
    static func hasLayout(_ table: MappedTable) -> Bool {
        guard let layout = table.layout.clickHouse else { return false }
        return layout.partitionBy != nil || !layout.orderBy.isEmpty
    }

    /// Whether the server knows the MergeTree setting `name`.
    func hasMergeTreeSetting(_ name: String) async throws -> Bool {
        let text = try await client.system.execute(
            "SELECT count() FROM system.merge_tree_settings WHERE name = \(ClickHouseClient.literal(name)) FORMAT TabSeparated")
        return !text.hasPrefix("0")
    }

    /// Why the server would refuse to make `table` with its mapping's layout, or nil: for
    /// `forager check`, the table is made under a scratch name (`_forager_check_<table>`) and
    /// dropped again.
    func layoutProblem(_ table: MappedTable) async throws -> ForagerError? {
        guard Self.hasLayout(table) else { return nil }
        let databases = try await client.system.execute(
            "SELECT count() FROM system.databases WHERE name = \(ClickHouseClient.literal(table.target.schema)) FORMAT TabSeparated")
        guard !databases.hasPrefix("0") else { return nil }
        let scratch = ClickHouseClient.quote(table.target.schema) + "." + ClickHouseClient.quote("_forager_check_" + table.target.name)
        try await client.execute("DROP TABLE IF EXISTS \(scratch)")
        do {
            // A plain table on this server: the layout is what is checked.
            try await client.execute(try await createStatement(table, named: scratch, on: ClickHouseTopology(cluster: nil)))
        } catch let error as ForagerError where ClickHouseClient.isLayoutRefusal(error.message) {
            return layoutRefusal(table, error)
        }
        try await client.execute("DROP TABLE IF EXISTS \(scratch)")
        return nil
    }

    /// The server's refusal of the table `table`'s layout, with what the mapping says and the way out.
    func layoutRefusal(_ table: MappedTable, _ error: ForagerError) -> ForagerError {
        let layout = table.layout.clickHouse
        let given = [
            layout?.partitionBy.map { "partition_by: \($0)" },
            layout.flatMap { $0.orderBy.isEmpty ? nil : "order_by: [\($0.orderBy.joined(separator: ", "))]" },
        ]
        .compactMap { $0 }.joined(separator: ", ")
        let timestamps =
            types == .classic
            ? " This server stores timestamps as Int64 microseconds since 1970: partition by toYYYYMM(toDateTime(intDiv(ts, 1000000))), not toYYYYMM(ts)."
            : ""
        return ForagerError(
            .schema,
            "ClickHouse refuses to make table \(table.target) with the mapping's layout of \(table.source) (clickhouse: {\(given)}): \(error.message)",
            hint:
                "Change the table's clickhouse: entry in the mapping: partition and sort by columns that are NOT NULL on the source (servers before 20.x cannot sort or partition by nullable columns).\(timestamps) Check it with forager check."
        )
    }

    /// (Re)creates `<table>_current`: the latest version of every row that is not deleted (after
    /// making the `Distributed` table again when it is stale, on a sharded cluster).
    func createView(_ table: MappedTable) async throws {
        try await refreshDistributed(table)
        let existing = try await existingColumns(of: table.target)
        let names = existing.keys.filter { !Self.hiddenColumns.contains($0) }.sorted()
        let ordered =
            columns(of: table).map(\.name).filter(names.contains)
            + names.filter { name in !columns(of: table).contains { $0.name == name } }
        try await client.execute("DROP TABLE IF EXISTS \(viewName(table.target))\(topology.onCluster)")
        try await client.execute(
            """
            CREATE VIEW \(viewName(table.target))\(topology.onCluster) AS SELECT \(ordered.map(ClickHouseClient.quote).joined(separator: ", "))
            FROM \(name(table.target)) FINAL WHERE \(ClickHouseClient.quote(Self.deleted)) = 0
            """)
    }
}
