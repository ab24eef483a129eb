/// What `forager validate` found for one table: its key ranges that differ, and those with rows
/// that kept changing while they were compared, so that they could be shown neither equal nor
/// different.
public struct TableValidation: Sendable {
    /// A key range whose rows differ.
    public struct Difference: Sendable {
        /// The range, as `(after, through]` in key order; nil bounds are open.
        public var after: [String]?
        public var through: [String]?
        public var sourceRows: Int
        public var warehouseRows: Int
        /// Set for warehouse keys that no source chunk had (keys the two sides order differently).
        public var unmatched: Bool
        /// Set when the warehouse never reached the source position the chunk was read at.
        public var behind: String?
        /// How many rows differ, and some of them (key, and how), when known.
        public var differingRows: Int?
        public var samples: [(key: String, how: String)] = []

        public init(
            after: [String]? = nil, through: [String]? = nil, sourceRows: Int = 0, warehouseRows: Int = 0, unmatched: Bool = false,
            behind: String? = nil
        ) {
            self.after = after
            self.through = through
            self.sourceRows = sourceRows
            self.warehouseRows = warehouseRows
            self.unmatched = unmatched
            self.behind = behind
        }
    }

    /// A key range with rows that the warehouse wrote anew in every round of comparing them (the
    /// source kept changing them), so that they were compared in none.
    public struct Undecided: Sendable {
        /// The range, as `(after, through]` in key order; nil bounds are open.
        public var after: [String]?
        public var through: [String]?
        /// Set for warehouse keys that no source chunk had.
        public var unmatched: Bool
        /// How many rows kept changing.
        public var rows: Int
        /// Some of their keys, in key order.
        public var samples: [String]
    }

    public var table: TableName
    /// Source rows compared.
    public var rows = 0
    public var chunks = 0
    public var differences: [Difference] = []
    public var undecided: [Undecided] = []
    /// Why the table was not compared, when it was not.
    public var skipped: String?

    public init(table: TableName) {
        self.table = table
    }

    /// Rows that changed during every comparison round, so could not be compared.
    public var unverified: Int { undecided.reduce(0) { $0 + $1.rows } }

    /// The report for people: `equal`, `DIFFERS` with the ranges, or `UNDECIDED` with the ranges
    /// that kept changing and what to do.
    public var line: String {
        if let skipped { return "\(table): not compared: \(skipped)" }
        let counted = "\(rows) rows in \(chunks) chunk\(chunks == 1 ? "" : "s")"
        var lines: [String] = []
        if !differences.isEmpty {
            lines.append("\(table): DIFFERS in \(differences.count) of \(chunks) chunk\(chunks == 1 ? "" : "s"):")
            for difference in differences {
                let counts =
                    difference.sourceRows == difference.warehouseRows
                    ? "\(difference.sourceRows) rows on both sides, different content"
                    : "source \(difference.sourceRows) rows, warehouse \(difference.warehouseRows)"
                let rows = difference.differingRows.map { "; \($0) \($0 == 1 ? "row differs" : "rows differ")" } ?? ""
                let samples =
                    difference.samples.isEmpty
                    ? ""
                    : ": " + difference.samples.map { "\($0.key) \($0.how)" }.joined(separator: ", ")
                        + (difference.samples.count < (difference.differingRows ?? 0) ? ", ..." : "")
                let range = Self.range(after: difference.after, through: difference.through, unmatched: difference.unmatched)
                lines.append("  \(range): \(counts)\(rows)\(samples)\(difference.behind.map { " (\($0))" } ?? "")")
            }
        }
        if !undecided.isEmpty {
            let count = unverified
            let heading = "\(count) row\(count == 1 ? "" : "s") kept changing in every round of comparing, so could not be compared"
            lines.append(differences.isEmpty ? "\(table): UNDECIDED: \(heading) (\(counted); the rest equal):" : "  and \(heading):")
            for range in undecided {
                let samples = range.samples.joined(separator: ", ") + (range.samples.count < range.rows ? ", ..." : "")
                lines.append(
                    "  \(Self.range(after: range.after, through: range.through, unmatched: range.unmatched)): \(range.rows) row\(range.rows == 1 ? "" : "s"): \(samples)"
                )
            }
            lines.append("  Validate \(table) again when writes to it are quieter: forager validate --table \(table)")
        }
        return lines.isEmpty ? "\(table): equal (\(counted))" : lines.joined(separator: "\n")
    }

    /// A range as the report prints it.
    static func range(after: [String]?, through: [String]?, unmatched: Bool) -> String {
        unmatched ? "warehouse keys outside every source chunk" : "keys (\(key(after) ?? "start"), \(key(through) ?? "end")]"
    }

    /// A key as the report prints it: one column's value, or a composite key's values in parentheses.
    public static func key(_ values: [String]?) -> String? {
        guard let values else { return nil }
        return values.count == 1 ? values[0] : "(" + values.joined(separator: ", ") + ")"
    }

    /// Counts a compared chunk in.
    public mutating func add(_ chunk: ComparedChunk) {
        rows += chunk.rows
        // A range past the last key, or keys no source chunk had, count only when they differ.
        if chunk.rows > 0 || chunk.difference != nil || chunk.undecided != nil { chunks += 1 }
        if let difference = chunk.difference { differences.append(difference) }
        if let range = chunk.undecided { undecided.append(range) }
    }
}

/// What comparing one chunk found.
public struct ComparedChunk: Sendable {
    /// Source rows in the chunk.
    public var rows: Int
    public var difference: TableValidation.Difference?
    /// The chunk's rows that kept changing, so could not be compared.
    public var undecided: TableValidation.Undecided?

    public init(rows: Int, difference: TableValidation.Difference? = nil, undecided: TableValidation.Undecided? = nil) {
        self.rows = rows
        self.difference = difference
        self.undecided = undecided
    }
}

/// How `forager validate` ends, as its exit status: a difference outweighs rows that could not be
/// decided, which outweigh equality. Statuses 1 (validate could not run) and 2 (the configuration
/// cannot be read) keep the meaning they have for every command, so a script tells a difference
/// from a failure to compare.
public enum ValidationVerdict: Int32, Sendable {
    /// Every compared table is equal.
    case equal = 0
    /// Some key range differs.
    case differs = 3
    /// Nothing differs, but some rows kept changing while they were compared.
    case undecided = 4

    public init(_ results: [TableValidation]) {
        if results.contains(where: { !$0.differences.isEmpty }) {
            self = .differs
        } else if results.contains(where: { !$0.undecided.isEmpty }) {
            self = .undecided
        } else {
            self = .equal
        }
    }
}
