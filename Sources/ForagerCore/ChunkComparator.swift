public import PGOutput

/// What `forager validate` needs of a warehouse, the "comparator" role: each kind of warehouse
/// compares its tables with the source in one of two ways. The executable opens the one of the
/// configured warehouse; the pipeline walks the tables' key ranges with it.
public enum ChunkComparator: Sendable {
    /// The warehouse computes the same per-chunk checksums as the source (a Postgres warehouse).
    case checksums(any ChecksumComparator)
    /// The source's rows of a chunk are loaded into a twin of the warehouse table and compared
    /// with it in the warehouse (ClickHouse).
    case twin(any TwinComparator)

    /// The settings both sides of a comparison print values with, so that equal rows print equally.
    public static let serverSettings = SQL.canonicalTextSettings + [("timezone", "UTC")]

    /// Closes the comparator's connections.
    public func close() {
        switch self {
        case .checksums(let comparator): comparator.close()
        case .twin(let comparator): comparator.close()
        }
    }
}

/// The warehouse's checkpoint, which a comparison of a differing chunk waits to pass the source
/// position the chunk was read at.
public protocol CheckpointReader: Sendable {
    /// The stored checkpoint, or nil when there is none.
    func checkpoint() async throws -> LSN?
}

/// A warehouse that runs validate's checksum SQL itself (the SQL that ``ChunkChecksum`` in
/// ForagerPipeline writes for a Postgres warehouse), on a connection of its own that prints values
/// with ``ChunkComparator/serverSettings``.
public protocol ChecksumComparator: CheckpointReader {
    /// The collation the warehouse database orders text by (`datcollate`).
    func collation() async throws -> String?
    /// The rows `sql` returns with `parameters`, each value as text.
    func rows(_ sql: String, _ parameters: [String]) async throws -> [[String?]]
    /// Closes its connections.
    func close()
}

/// Which warehouse rows a twin comparison reads beside the twin's.
public enum TwinComparisonScope: Sendable {
    /// After the previous chunk's last key (unless `first`), through the twin's last key (unless
    /// `last`): for keys both sides order alike.
    case range(first: Bool, last: Bool)
    /// The keys the twin holds.
    case twinKeys
    /// The keys the last ``TwinComparator/unseenKeys(_:after:size:writtenThrough:)`` returned.
    case unseenKeys
}

/// A warehouse that compares in place: each chunk of source rows (COPY text: the columns, then a
/// position) is loaded into a twin of the warehouse table, and the warehouse renders both sides.
public protocol TwinComparator: CheckpointReader {
    /// Why `table` is not compared (a table the warehouse does not hold as the source does); nil
    /// when it is.
    func skipReason(_ table: MappedTable) -> String?
    /// Whether the warehouse orders keys of these source types as the source does, so that chunks
    /// can be bounded by key; `sourceTextBytewise`: the source orders text by bytes (collation C).
    func ordersKeysAlike(_ keyTypes: [String], sourceTextBytewise: Bool) -> Bool
    /// Makes the empty twin of `table`, and the tables the comparison keeps keys in.
    func beginComparison(_ table: MappedTable) async throws
    /// Loads one chunk of source rows into the twin, replacing what it held.
    func loadComparisonChunk(_ table: MappedTable, _ chunks: [[UInt8]]) async throws
    /// The twin's rows and the warehouse's rows in `scope`, as lines in key order (the key fields
    /// first, the row's version last).
    func comparisonRows(_ table: MappedTable, in scope: TwinComparisonScope) async throws -> (source: [String], warehouse: [String])
    /// After a chunk compared by range: its last key bounds the next.
    func advanceComparison(_ table: MappedTable) async throws
    /// After a chunk compared by set: keeps its keys as seen.
    func recordSeenKeys(_ table: MappedTable) async throws
    /// The next page of at most `size` warehouse keys after `after` that no chunk had, among rows
    /// written through `writtenThrough`, and the page's last key; nil after the last page.
    func unseenKeys(_ table: MappedTable, after: [String]?, size: Int, writtenThrough: LSN) async throws -> (
        keys: [[String]], last: [String]
    )?
    /// Drops what ``beginComparison(_:)`` made.
    func endComparison(_ table: MappedTable) async throws
    /// `error`, with what the warehouse knows of its cause where it knows more.
    func explaining(_ error: any Error) -> any Error
    /// Closes its connections.
    func close()
}
