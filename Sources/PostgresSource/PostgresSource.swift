public import ForagerCore
public import LibPQ
public import Logging
public import PGOutput
import WallClock

/// The source database: checks, catalog, publication and slot management over an ordinary
/// connection. Streaming goes over a separate `ReplicationConnection`.
public final class PostgresSource: Sendable {
    public let connection: PGConnection
    public let publication: String
    public let slot: String
    let logger: Logger

    public init(connection: PGConnection, publication: String, slot: String, logger: Logger) {
        self.connection = connection
        self.publication = publication
        self.slot = slot
        self.logger = logger
    }

    /// Opens an ordinary connection to the source.
    public static func connect(
        _ url: ConnectionString, publication: String, slot: String, logger: Logger
    ) async throws -> PostgresSource {
        let connection = try await PGConnection.connect(url, serverSettings: SQL.canonicalTextSettings, origin: "source")
        return PostgresSource(connection: connection, publication: publication, slot: slot, logger: logger)
    }

    /// Problems with the server's setup for logical replication: `wal_level`, the role's privileges
    /// and free slots. Empty when all is well.
    public func setupProblems() async throws -> [ForagerError] {
        var problems: [ForagerError] = []
        let rows = try await connection.query(
            """
            SELECT current_setting('wal_level'),
                   r.rolreplication OR r.rolsuper,
                   current_user,
                   current_setting('max_replication_slots')::int,
                   (SELECT count(*) FROM pg_replication_slots)::int,
                   current_setting('server_version_num')::int
            FROM pg_roles r WHERE r.rolname = current_user
            """)
        guard let row = rows.rows.first else { return problems }
        if row[0] != "logical" {
            problems.append(
                ForagerError(
                    .sourceSetup, "the source server has wal_level = \(row[0] ?? "?"); logical replication needs wal_level = logical",
                    hint:
                        "Run ALTER SYSTEM SET wal_level = logical; on the source and restart it (on RDS: set rds.logical_replication = 1 in the parameter group)."
                ))
        }
        if row[1] != "t" {
            problems.append(
                ForagerError(
                    .sourceSetup, "the source role \(SQL.quoteIdentifier(row[2] ?? "?")) has no REPLICATION privilege",
                    hint:
                        "Run ALTER ROLE \(SQL.quoteIdentifier(row[2] ?? "?")) WITH REPLICATION; as a superuser (on RDS: GRANT rds_replication TO the role)."
                ))
        }
        if let versionText = row[5], let version = Int(versionText), version < 100_000 {
            problems.append(
                ForagerError(.sourceSetup, "the source server is version \(version); Forager needs PostgreSQL 10 or later for pgoutput"))
        }
        return problems
    }

    /// What works but should not be so: a superuser as the source role. Empty when all is well.
    public func setupWarnings() async throws -> [String] {
        let row = try await connection.query("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").rows.first
        guard let row, row[1] == "t" else { return [] }
        return [
            "the source role \(SQL.quoteIdentifier(row[0] ?? "?")) is a superuser; Forager needs only REPLICATION and SELECT on the mapped tables. Use a role with just those (docs/operations.md, 'The source role'), so that a leaked password cannot do more."
        ]
    }

    /// A table to describe, as the mapping names it.
    public struct TableRequest: Sendable {
        public var source: TableName
        public var target: TableName
        /// The mapping entry's `file:line`, prefixed to problems.
        public var location: String?
        /// `append_only: true`: rows need no identity.
        public var appendOnly: Bool

        public init(source: TableName, target: TableName, location: String?, appendOnly: Bool) {
            self.source = source
            self.target = target
            self.location = location
            self.appendOnly = appendOnly
        }
    }

    /// Reads the published shape of each table: columns in order (generated columns left out, as
    /// pgoutput leaves them out) and how its rows are identified: the primary key, the replica
    /// identity index, or the whole row (`REPLICA IDENTITY FULL` without a key). Every problem is
    /// collected; each names the mapping's `location` (file:line), when given, so the user knows
    /// which entry to fix.
    public func describe(_ mappings: [TableRequest]) async throws -> (tables: [MappedTable], problems: [ForagerError]) {
        var tables: [MappedTable] = []
        var problems: [ForagerError] = []
        for mapping in mappings {
            let oid = try await connection.query(
                """
                SELECT to_regclass($1)::oid, (SELECT relkind FROM pg_class WHERE oid = to_regclass($1)),
                       (SELECT relreplident FROM pg_class WHERE oid = to_regclass($1)),
                       (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND attisdropped)
                """, [mapping.source.sql])
            guard let oidText = oid.scalar else {
                problems.append(
                    located(
                        mapping.location,
                        ForagerError(
                            .schema, "mapped table \(mapping.source) does not exist on the source",
                            hint:
                                "Check the name in the mapping file (schema.table, quoted where needed) and that the source role can see it."
                        )))
                continue
            }
            let relkind = oid.rows[0][1]
            guard relkind == "r" || relkind == "p" else {
                problems.append(
                    located(
                        mapping.location,
                        ForagerError(
                            .schema,
                            "mapped relation \(mapping.source) is not a table (relkind \(relkind ?? "?")); only tables can be replicated")))
                continue
            }
            let columns = try await publishedColumns(oidText)
            let identity = oid.rows[0][2] ?? "d"
            let keyColumns = try await identityColumns(oidText, identity: identity)
            var table = MappedTable(
                source: mapping.source, target: mapping.target, columns: columns, keyColumns: keyColumns)
            table.replicaIdentityFull = identity == "f"
            table.relationID = UInt32(oidText)
            table.droppedColumnCount = oid.rows[0][3].flatMap { Int($0) } ?? 0
            if mapping.appendOnly {
                table.identity = .appendOnly
                table.keyColumns = []
            } else if identity == "n" || table.keyColumns.isEmpty && identity != "f" {
                let what = identity == "n" ? "has REPLICA IDENTITY NOTHING" : "has no primary key and no replica identity"
                problems.append(
                    located(
                        mapping.location,
                        ForagerError(
                            .schema,
                            "mapped table \(mapping.source) \(what), so its updates and deletes cannot be matched to warehouse rows (and while it is published, UPDATE and DELETE on it fail on the source)",
                            hint:
                                "Give it a primary key; or run ALTER TABLE \(mapping.source.sql) REPLICA IDENTITY FULL on the source (updates and deletes then carry the whole old row, and the warehouse matches rows by all their values); or set append_only: true in the mapping to keep every insert and not replicate updates and deletes."
                        )))
                continue
            } else if table.keyColumns.isEmpty {
                table.identity = .fullRow
            }
            tables.append(table)
        }
        return (tables, problems)
    }

    /// The columns of the table `relationOID` as pgoutput publishes them, in order: generated
    /// columns left out; types outside pg_catalog (enums, composites) as text.
    private func publishedColumns(_ relationOID: String) async throws -> [SourceColumn] {
        let columnRows = try await connection.query(
            """
            SELECT a.attname,
                   CASE WHEN tn.nspname = 'pg_catalog' THEN format_type(a.atttypid, a.atttypmod)
                        WHEN t.typtype = 'd' AND bn.nspname = 'pg_catalog' THEN format_type(t.typbasetype, t.typtypmod)
                        ELSE 'text' END,
                   a.attnotnull,
                   CASE WHEN a.atthasmissing THEN a.attmissingval::text END,
                   tn.nspname = 'pg_catalog' OR (t.typtype = 'd' AND bn.nspname = 'pg_catalog'),
                   a.atttypid, a.atttypmod, a.atthasdef
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            JOIN pg_namespace tn ON tn.oid = t.typnamespace
            LEFT JOIN pg_type b ON b.oid = t.typbasetype
            LEFT JOIN pg_namespace bn ON bn.oid = b.typnamespace
            WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, [relationOID])
        return columnRows.rows.map { row -> SourceColumn in
            let oid = row[5].flatMap { UInt32($0) }, modifier = row[6].flatMap { Int32($0) }
            var column = SourceColumn(
                name: row[0] ?? "", sqlType: row[1] ?? "text", notNull: row[2] == "t", missingValue: row[3],
                binaryCompatible: row[4] == "t", sourceType: oid.flatMap { oid in modifier.map { (oid, $0) } })
            column.hasDefault = row[7] == "t"
            return column
        }
    }

    /// The columns that identify a row of the table `relationOID`: its replica identity index's when
    /// `identity` is `i`, else its primary key's; empty when there is none.
    private func identityColumns(_ relationOID: String, identity: String) async throws -> [String] {
        let keyRows = try await connection.query(
            """
            SELECT a.attname
            FROM pg_index i
            CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = $1::oid AND CASE WHEN $2 = 'i' THEN i.indisreplident ELSE i.indisprimary END
            ORDER BY k.position
            """, [relationOID, identity])
        return keyRows.rows.compactMap { $0[0] }
    }

    /// The tables that can be mapped: ordinary and partitioned tables outside the system schemas,
    /// without partitions (their changes arrive as changes to the partitioned table).
    public func tableNames() async throws -> [TableName] {
        let rows = try await connection.query(
            """
            SELECT n.nspname, c.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
            ORDER BY 1, 2
            """)
        return rows.rows.map { TableName(schema: $0[0] ?? "", name: $0[1] ?? "") }
    }

    private func located(_ location: String?, _ error: ForagerError) -> ForagerError {
        guard let location else { return error }
        var located = error
        located.message = "\(location): " + error.message
        return located
    }

    /// The publication for append-only tables (`append_only: true`): it publishes inserts only, so
    /// that a table without a replica identity can be published without making UPDATE and DELETE
    /// on it fail on the source.
    public var appendPublication: String { publication + "_append" }

    /// The publications that stream `tables`.
    public func publications(for tables: [MappedTable]) -> [String] {
        tables.contains { $0.identity == .appendOnly } ? [publication, appendPublication] : [publication]
    }

    /// The columns a publication currently publishes, per table, or nil when it does not exist.
    public func publishedColumns(in name: String) async throws -> [TableName: Set<String>]? {
        let exists = try await connection.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [name])
        guard !exists.rows.isEmpty else { return nil }
        let rows = try await connection.query(
            """
            SELECT schemaname, tablename, column_name
            FROM pg_publication_tables CROSS JOIN LATERAL unnest(attnames) AS column_name
            WHERE pubname = $1
            """, [name])
        var result: [TableName: Set<String>] = [:]
        for row in rows.rows {
            result[TableName(schema: row[0] ?? "", name: row[1] ?? ""), default: []].insert(row[2] ?? "")
        }
        return result
    }

    /// The tables whose publication entries do not publish what they need: missing, in the other
    /// publication, or with other columns than the mapping asks for (all columns, or all but
    /// `exclude_columns`).
    public func publicationMismatches(for tables: [MappedTable]) async throws -> [MappedTable] {
        let main = try await publishedColumns(in: publication) ?? [:]
        let append = try await publishedColumns(in: appendPublication) ?? [:]
        return tables.filter { table in
            let (wanted, other) = table.identity == .appendOnly ? (append, main) : (main, append)
            guard other[table.source] == nil, let columns = wanted[table.source] else { return true }
            let names = Set(table.columns.map(\.name))
            return table.excludedColumns.isEmpty ? !names.isSubset(of: columns) : columns != names
        }
    }

    /// Creates the publications for `tables`, or makes their entries publish what the tables need.
    /// Only safe before the slot is created: changing a publication under a running slot would
    /// leave a gap.
    public func ensurePublication(for tables: [MappedTable]) async throws {
        guard appendPublication.utf8.count <= 63 || !tables.contains(where: { $0.identity == .appendOnly }) else {
            throw ForagerError(
                .sourceSetup,
                "append-only tables go into a second publication named after source.publication plus _append, which would be longer than 63 bytes",
                hint: "Shorten source.publication to at most 56 bytes.")
        }
        func entry(_ table: MappedTable) -> String {
            guard !table.excludedColumns.isEmpty else { return table.source.sql }
            return table.source.sql + " (" + table.columns.map { SQL.quoteIdentifier($0.name) }.joined(separator: ", ") + ")"
        }
        let mismatched = try await publicationMismatches(for: tables)
        let targets: [(name: String, publish: String, tables: [MappedTable], mismatched: [MappedTable])] = [
            (
                publication, "insert, update, delete, truncate", tables.filter { $0.identity != .appendOnly },
                mismatched.filter { $0.identity != .appendOnly }
            ),
            (appendPublication, "insert", tables.filter { $0.identity == .appendOnly }, mismatched.filter { $0.identity == .appendOnly }),
        ]
        try await connection.execute("BEGIN")
        for target in targets {
            let name = SQL.quoteIdentifier(target.name)
            let published = try await publishedColumns(in: target.name)
            if published == nil, target.name == publication || !target.tables.isEmpty {
                logger.info(
                    "creating publication", metadata: ["forager.publication": "\(target.name)", "forager.publish": "\(target.publish)"])
                // Changes to a partition arrive as changes to the partitioned table that is mapped.
                try await connection.execute(
                    "CREATE PUBLICATION \(name) WITH (publish = \(SQL.quoteLiteral(target.publish)), publish_via_partition_root = true)")
            }
            for other in mismatched where (published ?? [:])[other.source] != nil {
                try await connection.execute("ALTER PUBLICATION \(name) DROP TABLE \(other.source.sql)")
            }
            guard !target.mismatched.isEmpty else { continue }
            logger.info(
                "setting publication tables",
                metadata: [
                    "forager.publication": "\(target.name)", "forager.tables": "\(target.mismatched.map(\.source.description))",
                ])
            try await connection.execute("ALTER PUBLICATION \(name) ADD TABLE \(target.mismatched.map(entry).joined(separator: ", "))")
        }
        try await connection.execute("COMMIT")
    }

    /// The slot's state on the server.
    public struct SlotState: Sendable {
        public var plugin: String
        public var activePID: Int?
        public var confirmedFlush: LSN?
        public var database: String
        public var walStatus: String?
        /// WAL the slot keeps on the source (current position minus the slot's restart point).
        public var retainedBytes: Int64?
        /// The source's current WAL position when the state was read.
        public var sourcePosition: LSN?
    }

    /// The slot's state, or nil when there is no such slot.
    public func slotState() async throws -> SlotState? {
        let rows = try await connection.query(
            """
            SELECT plugin, active_pid, confirmed_flush_lsn, database, wal_status,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, pg_current_wal_lsn()
            FROM pg_replication_slots WHERE slot_name = $1
            """, [slot])
        guard let row = rows.rows.first else { return nil }
        return SlotState(
            plugin: row[0] ?? "", activePID: row[1].flatMap { Int($0) },
            confirmedFlush: row[2].flatMap { LSN(string: $0) }, database: row[3] ?? "", walStatus: row[4],
            retainedBytes: row[5].flatMap { Int64($0) }, sourcePosition: row[6].flatMap { LSN(string: $0) })
    }

    /// The prefix of Forager's heartbeat messages.
    public static let heartbeatPrefix = "forager"

    /// Writes a heartbeat: a non-transactional logical message in the WAL of this database, which
    /// the slot's stream passes on (no table is written). Returns its WAL position.
    public func emitHeartbeat() async throws -> LSN {
        // Slot names are [a-z0-9_] only, so they need no escaping in JSON.
        let content = "{\"slot\":\"\(slot)\",\"at\":\(Int64(UnixTime.now * 1000))}"
        let text =
            try await connection.query(
                "SELECT pg_logical_emit_message(false, $1, $2)::text", [Self.heartbeatPrefix, content]
            ).scalar ?? ""
        guard let lsn = LSN(string: text) else {
            throw ForagerError(.protocolViolation, "the source returned an unreadable WAL position '\(text)' for a heartbeat")
        }
        return lsn
    }

    /// Drops the slot (it must not be active).
    public func dropSlot() async throws {
        try await connection.query("SELECT pg_drop_replication_slot($1)", [slot])
    }

    /// The pipeline's publications that exist (the main one and the append-only one).
    public func existingPublications() async throws -> [String] {
        try await connection.query(
            "SELECT pubname FROM pg_publication WHERE pubname IN ($1, $2) ORDER BY pubname", [publication, appendPublication]
        ).rows.compactMap { $0[0] }
    }

    /// Drops the pipeline's publications, where they exist.
    public func dropPublications() async throws {
        for name in try await existingPublications() {
            try await connection.execute("DROP PUBLICATION IF EXISTS \(SQL.quoteIdentifier(name))")
        }
    }

    /// The server's WAL write position (`pg_current_wal_lsn()`): cheap, for reports. A transaction
    /// committed with `synchronous_commit = off` may end past it, so it is no target to stream to.
    public func currentWALWritePosition() async throws -> LSN {
        try readLSN(try await connection.query("SELECT pg_current_wal_lsn()").scalar)
    }

    /// A WAL position at or after the end of every transaction committed before the call, whatever
    /// the source's `synchronous_commit`, and one the stream is certain to reach.
    ///
    /// The insert position lies past every commit record already inserted. The walsender sends
    /// only flushed WAL, and the WAL writer may leave a partial page unflushed, so a transaction
    /// then writes a transactional logical message (an xid and WAL) and commits synchronously,
    /// which flushes past that position; the batcher ignores the message. Where the role may not
    /// write messages, a bare xid commits instead: the WAL writer flushes that commit within
    /// `wal_writer_delay`.
    public func committedWALPosition() async throws -> LSN {
        do {
            return try await readInsertPosition(
                thenCommit: "SELECT pg_logical_emit_message(true, '\(Self.heartbeatPrefix)', 'sync target')")
        } catch let error as PGError where error.sqlState == "42501" {
            return try await readInsertPosition(thenCommit: "SELECT txid_current()")
        }
    }

    /// Reads the insert position in a read-write transaction that runs `statement` after it and
    /// commits synchronously.
    private func readInsertPosition(thenCommit statement: String) async throws -> LSN {
        try await connection.execute("BEGIN READ WRITE")
        do {
            try await connection.execute("SET LOCAL synchronous_commit = on")
            let lsn = try readLSN(try await connection.query("SELECT pg_current_wal_insert_lsn()").scalar)
            try await connection.query(statement)
            try await connection.execute("COMMIT")
            return lsn
        } catch {
            _ = try? await connection.execute("ROLLBACK")
            throw error
        }
    }

    private func readLSN(_ text: String?) throws -> LSN {
        guard let text, let lsn = LSN(string: text) else {
            throw ForagerError(.protocolViolation, "the source returned an unreadable WAL position '\(text ?? "NULL")'")
        }
        return lsn
    }
}
