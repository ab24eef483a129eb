public import ForagerCore

/// How a Redshift table is distributed and sorted, as its catalogue shows it: `pg_table_def` for
/// the DISTKEY and SORTKEY columns, `svv_table_info` for the distribution style (which Redshift
/// shows only for tables that hold rows).
public struct RedshiftTableLayout: Sendable, Equatable {
    /// The DISTKEY column, if any.
    public var distKey: String?
    /// The SORTKEY columns, in order.
    public var sortKey: [String]
    /// Whether the sort key is INTERLEAVED rather than COMPOUND.
    public var interleaved: Bool
    /// `svv_table_info.diststyle`: `KEY(id)`, `EVEN`, `ALL`, `AUTO(EVEN)`, ...; nil when Redshift
    /// does not show it.
    public var distStyle: String?

    /// A layout as the catalogue spells it.
    public init(distKey: String? = nil, sortKey: [String] = [], interleaved: Bool = false, distStyle: String? = nil) {
        self.distKey = distKey
        self.sortKey = sortKey
        self.interleaved = interleaved
        self.distStyle = distStyle
    }

    /// A layout from `pg_table_def` rows (column, distkey as `t`/`f`/`true`/`false`, sortkey
    /// position: 0 none, negative for an interleaved key) and `svv_table_info.diststyle`.
    public init(columns: [(name: String, distKey: String, sortKey: Int)], distStyle: String?) {
        let truths: Set = ["t", "true", "1"]
        self.init(
            distKey: columns.first { truths.contains($0.distKey.lowercased()) }?.name,
            sortKey: columns.filter { $0.sortKey != 0 }.sorted { abs($0.sortKey) < abs($1.sortKey) }.map(\.name),
            interleaved: columns.contains { $0.sortKey < 0 }, distStyle: distStyle)
    }

    /// The style `distStyle` names, nil when it is not shown (or not one Forager knows).
    var style: PhysicalLayout.Redshift.DistStyle? {
        guard let distStyle = distStyle?.uppercased() else { return nil }
        return PhysicalLayout.Redshift.DistStyle.allCases.first { distStyle.hasPrefix($0.rawValue.uppercased()) }
    }

    /// Where the table differs from what the mapping's `redshift:` options state (an option the
    /// mapping leaves out is not compared), each with the statement that changes the table; empty
    /// when it matches.
    public func differences(from wanted: PhysicalLayout.Redshift, table: TableName) -> [(difference: String, change: String)] {
        var found: [(String, String)] = []
        let alter = "ALTER TABLE \(table.sql)"
        if let wantedKey = wanted.distKey, wantedKey != distKey {
            found.append(
                (
                    "its DISTKEY is \(distKey.map(SQL.quoteIdentifier) ?? "none"), the mapping's redshift.distkey \(SQL.quoteIdentifier(wantedKey))",
                    "\(alter) ALTER DISTSTYLE KEY DISTKEY \(SQL.quoteIdentifier(wantedKey))"
                ))
        } else if let wantedStyle = wanted.distStyle, wantedStyle != .key, let style, style != wantedStyle {
            found.append(
                (
                    "its DISTSTYLE is \(distStyle ?? style.rawValue.uppercased()), the mapping's redshift.diststyle \(wantedStyle.rawValue)",
                    "\(alter) ALTER DISTSTYLE \(wantedStyle.rawValue.uppercased())"
                ))
        }
        if !wanted.sortKey.isEmpty, wanted.sortKey != sortKey || interleaved {
            let current = sortKey.isEmpty ? "none" : "\(interleaved ? "INTERLEAVED" : "COMPOUND") (\(Self.list(sortKey)))"
            found.append(
                (
                    "its SORTKEY is \(current), the mapping's redshift.sortkey (\(Self.list(wanted.sortKey)))",
                    "\(alter) ALTER COMPOUND SORTKEY (\(Self.list(wanted.sortKey)))"
                ))
        }
        return found
    }

    private static func list(_ names: [String]) -> String { names.map(SQL.quoteIdentifier).joined(separator: ", ") }
}
