public import ForagerCore
import Gzip
import S3Staging

/// A table's snapshot load in progress: COPY text from the source turned into CSV parts, each
/// uploaded once it is `partSize` bytes, all loaded by one COPY at the end.
struct SnapshotLoad {
    let table: MappedTable
    let staging: Staging
    var converter: CopyTextToCSV
    var part: [UInt8] = []
    var parts: [String] = []
}

/// The snapshot: rows copied from the source, staged in S3 in large parts, one COPY per table into
/// its staging table and one `INSERT ... SELECT` from there, in the snapshot's transaction.
extension RedshiftWarehouse {
    public nonisolated var acceptsBinaryCopy: Bool { false }
    /// One connection, one staging folder: a table loads in one piece.
    public nonisolated var loadsPartsOfATableAtOnce: Bool { false }

    public func freeConnections() async throws -> Int { Int.max }

    public func startLoad(_ table: MappedTable, binary: Bool) async throws {
        guard !binary else { throw ForagerError(.warehouse, "the Redshift warehouse loads COPY text, not binary") }
        try await beginIfNeeded()
        replayable = false
        let keyIndexes = table.keyColumns.compactMap { key in table.columns.firstIndex { $0.name == key } }
        let staging = Staging(table: table, number: stagingNumbers[table.target] ?? 0)
        let converter = CopyTextToCSV(kinds: staging.kinds, keyIndexes: keyIndexes, fromCount: staging.keyKinds.count)
        loading = SnapshotLoad(table: table, staging: staging, converter: converter)
    }

    public func load(_ chunk: [UInt8]) async throws {
        guard var load = loading else { throw ForagerError(.warehouse, "load without startLoad") }
        loading = nil
        do {
            try load.converter.convert(chunk, to: &load.part)
        } catch {
            throw Self.unstorable(error.problem, table: load.table, key: error.key)
        }
        if load.part.count >= configuration.partSize {
            try await uploadPart(&load)
        }
        loading = load
    }

    public func endLoad() async throws -> Int {
        guard var load = loading else { throw ForagerError(.warehouse, "endLoad without startLoad") }
        loading = nil
        do {
            try load.converter.finish()
        } catch {
            throw Self.unstorable(error.problem, table: load.table, key: error.key)
        }
        guard load.converter.rows > 0 else { return 0 }
        if !load.part.isEmpty { try await uploadPart(&load) }
        let manifest = try await uploadManifest(load.parts)
        let staging = load.staging
        try await lock([load.table.target.sql])
        try await connection.execute(staging.create())
        try await copy(
            into: staging.name, columns: staging.columns, manifestURL: manifest, expected: load.converter.rows,
            what: "the snapshot of \(load.table.source)")
        if !load.converter.emptyPositions.isEmpty {
            try await connection.execute(staging.fillEmpty(positions: load.converter.emptyPositions.sorted()))
        }
        try await connection.execute(staging.insertSelect())
        try await connection.execute(staging.drop())
        noteTruncations(load.converter.truncated, of: load.table)
        return load.converter.rows
    }

    public func replaceTable(_ table: MappedTable) async throws {
        try await beginIfNeeded()
        try await lock([table.target.sql])
        logger.notice("replacing the warehouse table for a new copy", metadata: ["forager.table": "\(table.target)"])
        try await connection.execute("DROP TABLE IF EXISTS \(table.target.sql)")
        try await connection.execute(RedshiftSQL.createTable(table))
    }

    private func uploadPart(_ load: inout SnapshotLoad) async throws {
        if load.parts.isEmpty { uploadNumber += 1 }
        let key = slotFolder + "\(run)-\(batchNumber)/\(uploadNumber)-\(load.parts.count).csv.gz"
        try await s3.put(key, body: try Gzip.compress(load.part), contentType: "application/gzip")
        stagedKeys.append(key)
        load.parts.append(key)
        load.part = []
    }
}
