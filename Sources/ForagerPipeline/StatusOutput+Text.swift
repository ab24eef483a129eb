import Foundation

extension StatusOutput {
    /// The report for people.
    public var text: String {
        var lines: [String] = []
        if let slot {
            if slot.exists {
                let active = slot.active == true ? "active (pid \(slot.activePid.map(String.init) ?? "?") on the source)" : "inactive"
                lines.append(
                    "slot \(slot.name): \(active), wal_status \(slot.walStatus ?? "unknown"), retains \(Self.bytes(slot.retainedWalBytes)) of WAL, confirmed flush \(slot.confirmedFlushLsn ?? "none")"
                )
            } else {
                lines.append("slot \(slot.name): does not exist")
            }
        }
        if let sourceError { lines.append("source: unreadable: \(sourceError)") }
        if let sourceLsn { lines.append("source WAL position: \(sourceLsn)") }
        if let warehouseError { lines.append("warehouse: unreadable: \(warehouseError)") }
        lines.append("warehouse checkpoint: \(checkpointLsn ?? "none")")
        let lagSeconds =
            self.lagSeconds.map { String(format: "%.1f s", $0) } ?? "unknown (no running process answered, or heartbeats are off)"
        lines.append("lag: \(Self.bytes(lagBytes)) of WAL, \(lagSeconds)")
        if let processEndpoint {
            if let process {
                lines.append(
                    "process at \(processEndpoint): \(process.phase.rawValue), \(process.ready ? "ready" : "not ready (\(process.readyReason))")"
                )
            } else {
                lines.append("process at \(processEndpoint): no answer (not running, or running elsewhere)")
            }
        }
        if let lastRun {
            let ended =
                lastRun.endedAt.map { "ended \(Self.time($0))" }
                ?? (lastRunAlive == true ? "still running (set metrics.listen to see its state)" : "recorded no end (killed)")
            lines.append("last run: pid \(lastRun.pid), started \(Self.time(lastRun.startedAt)), \(ended)")
        }
        if let lastError {
            lines.append("last error (\(lastError.kind), \(lastError.transient ? "retrying" : "stopped")): \(lastError.message)")
        }
        lines.append("tables:")
        for table in tables {
            lines.append(
                "  \(table.source) -> \(table.target): \(table.state), \(table.rows.map { "\($0) rows" } ?? "no table yet")\(table.reason.map { " (\($0))" } ?? "")"
            )
        }
        if !attention.isEmpty {
            lines.append("needs attention:")
            lines += attention.map { "  - \($0)" }
        }
        return lines.joined(separator: "\n")
    }

    /// A Unix time as ISO 8601, UTC.
    public static func time(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(.iso8601)
    }

    /// A byte count for people: bytes, KiB, MiB or GiB; `unknown` for nil.
    public static func bytes(_ value: Int64?) -> String {
        guard let value else { return "unknown" }
        if value >= 1 << 30 { return String(format: "%.1f GiB", Double(value) / Double(1 << 30)) }
        if value >= 1 << 20 { return String(format: "%.1f MiB", Double(value) / Double(1 << 20)) }
        if value >= 1 << 10 { return String(format: "%.1f KiB", Double(value) / Double(1 << 10)) }
        return "\(value) bytes"
    }
}
