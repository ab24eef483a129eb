/// One piece of the initial copy: a whole table, or a range of its heap pages (by `ctid`, which
/// PostgreSQL 14+ scans by range without reading the other pages).
public struct CopyPiece: Sendable, Equatable {
    public var table: TableName
    /// The first page of the range; 0 for a whole table.
    public var firstPage: Int64
    /// The page the range ends before; nil when it runs to the end of the table.
    public var endPage: Int64?

    public init(table: TableName, firstPage: Int64 = 0, endPage: Int64? = nil) {
        self.table = table
        self.firstPage = firstPage
        self.endPage = endPage
    }

    /// The `WHERE` condition selecting the piece's rows; nil for a whole table.
    public var condition: String? {
        guard firstPage > 0 || endPage != nil else { return nil }
        var parts = ["ctid >= '(\(firstPage),0)'::tid"]
        if let endPage { parts.append("ctid < '(\(endPage),0)'::tid") }
        return parts.joined(separator: " AND ")
    }
}

/// How the initial copy is divided among `parallelism` connections that share one snapshot: the
/// largest tables first, each split into ranges of pages when it is large and the warehouse can
/// load parts of one table at once. Ranges are at least ``minimumPages`` (1 MiB) and about a
/// quarter of a connection's share of the table, so connections finish close together; the last
/// range of a table is open-ended, in case the table grew since its size was read.
public enum SnapshotPlan {
    public static let minimumPages: Int64 = 128

    public static func pieces(tables: [(name: TableName, pages: Int64)], parallelism: Int, splitTables: Bool) -> [CopyPiece] {
        let ordered = tables.enumerated().sorted { ($0.element.pages, $1.offset) > ($1.element.pages, $0.offset) }.map(\.element)
        var pieces: [CopyPiece] = []
        for (name, pages) in ordered {
            guard splitTables, parallelism > 1, pages >= 2 * minimumPages else {
                pieces.append(CopyPiece(table: name))
                continue
            }
            let share = (pages + Int64(parallelism) * 4 - 1) / (Int64(parallelism) * 4)
            let size = max(minimumPages, share)
            var first: Int64 = 0
            while first + size < pages {
                pieces.append(CopyPiece(table: name, firstPage: first, endPage: first + size))
                first += size
            }
            pieces.append(CopyPiece(table: name, firstPage: first, endPage: nil))
        }
        return pieces
    }
}
