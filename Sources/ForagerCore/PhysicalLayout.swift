/// How a columnar warehouse lays a table out on disk, from the mapping (`clickhouse:`, `redshift:`).
/// Each sink reads its own part; the others are validated but otherwise ignored.
public struct PhysicalLayout: Sendable, Equatable {
    /// ClickHouse: `ORDER BY` columns (the primary key first, then any others) and `PARTITION BY`.
    public struct ClickHouse: Sendable, Equatable {
        /// Warehouse column names; empty means the primary key alone.
        public var orderBy: [String]
        /// A ClickHouse expression, such as `toYYYYMM(ts)`; nil for no partitioning.
        public var partitionBy: String?

        public init(orderBy: [String] = [], partitionBy: String? = nil) {
            self.orderBy = orderBy
            self.partitionBy = partitionBy
        }
    }

    /// Redshift: `SORTKEY` columns, the `DISTKEY` column and the `DISTSTYLE`.
    public struct Redshift: Sendable, Equatable {
        /// How Redshift spreads a table's rows over its nodes.
        public enum DistStyle: String, Sendable, CaseIterable {
            /// Redshift chooses, and changes its choice as the table grows.
            case auto
            /// Round robin.
            case even
            /// A copy on every node: small tables joined often.
            case all
            /// By the `distkey` column's value.
            case key
        }

        /// What becomes of a text value longer than its VARCHAR holds.
        public enum OversizedText: String, Sendable, CaseIterable {
            /// The table stops, naming the row (the default: nothing is changed silently).
            case stop
            /// The value is cut to what the VARCHAR holds, at a character's boundary, and counted.
            /// Key columns are never cut (two keys could become one): they stop the table.
            case truncate
        }

        public var sortKey: [String]
        public var distKey: String?
        /// Nil: `key` when there is a `distKey`, else `auto`.
        public var distStyle: DistStyle?
        /// `oversized_text`; default `stop`.
        public var oversizedText: OversizedText

        public init(sortKey: [String] = [], distKey: String? = nil, distStyle: DistStyle? = nil, oversizedText: OversizedText = .stop) {
            self.sortKey = sortKey
            self.distKey = distKey
            self.distStyle = distStyle
            self.oversizedText = oversizedText
        }

        /// The style the table is made with.
        public var effectiveDistStyle: DistStyle { distStyle ?? (distKey == nil ? .auto : .key) }
    }

    public var clickHouse: ClickHouse?
    public var redshift: Redshift?

    public init(clickHouse: ClickHouse? = nil, redshift: Redshift? = nil) {
        self.clickHouse = clickHouse
        self.redshift = redshift
    }

    /// Problems with the layout for a table whose warehouse columns are `columns` and whose key is
    /// `key` (warehouse names, in key order); each says what to change.
    public func problems(columns: [String], key: [String]) -> [String] {
        var problems: [String] = []
        func unknown(_ name: String, in option: String) -> String {
            "\(option) names \(SQL.quoteIdentifier(name)), which is not a warehouse column of the table (columns: \(columns.joined(separator: ", "))); use the warehouse name, after rename_columns"
        }
        if let clickHouse {
            for name in clickHouse.orderBy where !columns.contains(name) {
                problems.append(unknown(name, in: "clickhouse.order_by"))
            }
            if !clickHouse.orderBy.isEmpty, !key.isEmpty, Array(clickHouse.orderBy.prefix(key.count)) != key {
                problems.append(
                    "clickhouse.order_by is \(clickHouse.orderBy.joined(separator: ", ")), which does not start with the primary key (\(key.joined(separator: ", "))): ReplacingMergeTree keeps one row per sort key, so a sort key that does not begin with the primary key would merge different rows; write order_by: [\((key + clickHouse.orderBy.filter { !key.contains($0) }).joined(separator: ", "))]"
                )
            }
            if let partitionBy = clickHouse.partitionBy, partitionBy.contains(";") {
                problems.append(
                    "clickhouse.partition_by '\(partitionBy)' contains a semicolon; write one ClickHouse expression, such as toYYYYMM(ts)")
            }
        }
        if let redshift {
            for name in redshift.sortKey where !columns.contains(name) {
                problems.append(unknown(name, in: "redshift.sortkey"))
            }
            if let distKey = redshift.distKey, !columns.contains(distKey) {
                problems.append(unknown(distKey, in: "redshift.distkey"))
            }
            if redshift.distStyle == .key, redshift.distKey == nil {
                problems.append(
                    "redshift.diststyle is key, but no distkey names the column; add distkey: <column>, or choose auto, even or all")
            }
            if let style = redshift.distStyle, style != .key, redshift.distKey != nil {
                problems.append(
                    "redshift.diststyle is \(style.rawValue), but a distkey is set, which needs diststyle key; remove one of the two")
            }
        }
        return problems
    }
}
