public import ForagerCore
import Metrics

/// Text values cut to fit their VARCHAR, for tables mapped `redshift: {oversized_text: truncate}`:
/// never silent, each is counted in ``truncatedValuesMetric`` and logged, once the transaction
/// that stored it commits (a batch run again after error 1023 counts once).
extension RedshiftWarehouse {
    /// The counter of text values cut to fit, by `table` and `column`.
    public static let truncatedValuesMetric = "forager_truncated_values_total"

    /// Adds the values staged rows of `table` had cut, by column position, to the open transaction's.
    func noteTruncations(_ counts: [Int: Int], of table: MappedTable) {
        for (position, count) in counts where position < table.columns.count {
            truncations[table.target, default: [:]][table.warehouseName(of: table.columns[position].name), default: 0] += count
        }
    }

    /// Counts and logs the open transaction's cut values, after it committed.
    func reportTruncations() {
        defer { truncations = [:] }
        for (table, columns) in truncations.sorted(by: { $0.key.description < $1.key.description }) {
            for (column, count) in columns.sorted(by: { $0.key < $1.key }) {
                Counter(label: Self.truncatedValuesMetric, dimensions: [("table", table.description), ("column", column)]).increment(
                    by: count)
                logger.notice(
                    "text values longer than their Redshift VARCHAR were cut to fit, as the mapping asks (oversized_text: truncate)",
                    metadata: ["forager.table": "\(table)", "forager.column": "\(column)", "forager.values": "\(count)"])
            }
        }
    }
}
