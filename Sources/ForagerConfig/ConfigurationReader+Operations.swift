import ForagerCore

/// The operational sections of the configuration file: `metrics`, `alerts`, `shutdown` and
/// `snapshot`.
extension ConfigurationReader {
    static let metricsKeys = ["listen", "ready_max_lag_s"]
    static let alertKeys = ["retained_wal_mb", "lag_s", "slot_inactive_s"]
    static let shutdownKeys = ["grace_s"]
    static let snapshotKeys = ["parallelism"]

    mutating func readMetrics(_ top: YAMLSection) -> ForagerConfiguration.Metrics {
        let file = configFile
        let metrics = topLevelSection(
            "metrics", of: top, allowed: Self.metricsKeys, expected: "a mapping with the keys listen and ready_max_lag_s")
        var result = ForagerConfiguration.Metrics()
        let fix = "write host:port, such as listen: \"\(ForagerConfiguration.Metrics.defaultListen)\", or listen: off"
        if let field = metrics["listen"], let text = text(field, file: file, expected: "host:port or off", fix: fix) {
            if text == "off" {
                result.listen = nil
            } else if let address = Self.hostAndPort(text) {
                result.listen = address
            } else {
                report(.invalidValue, file, field.line, field.key, "'\(text)' is not host:port with a port from 1 to 65535; \(fix)")
            }
        }
        if let field = metrics["ready_max_lag_s"],
            let seconds = positiveInteger(
                field, file: file, fix: "write the most lag, in seconds, at which /readyz still answers ready, e.g. ready_max_lag_s: 300")
        {
            result.readyMaxLag = .seconds(seconds)
        }
        return result
    }

    mutating func readAlerts(_ top: YAMLSection) -> AlertRules.Thresholds {
        let file = configFile
        let alerts = topLevelSection(
            "alerts", of: top, allowed: Self.alertKeys, expected: "a mapping with the keys retained_wal_mb, lag_s and slot_inactive_s")
        var result = AlertRules.Thresholds()
        if let field = alerts["retained_wal_mb"],
            let megabytes = positiveInteger(
                field, file: file, fix: "write the WAL the slot may retain before a warning, in MB, e.g. retained_wal_mb: 10240")
        {
            result.retainedWALBytes = Int64(megabytes) << 20
        }
        if let field = alerts["lag_s"],
            let seconds = positiveInteger(field, file: file, fix: "write the lag before a warning, in seconds, e.g. lag_s: 300")
        {
            result.lag = .seconds(seconds)
        }
        if let field = alerts["slot_inactive_s"],
            let seconds = positiveInteger(
                field, file: file, fix: "write how long the slot may go unread before a warning, in seconds, e.g. slot_inactive_s: 300")
        {
            result.slotInactive = .seconds(seconds)
        }
        return result
    }

    mutating func readShutdown(_ top: YAMLSection) -> Duration {
        let file = configFile
        let shutdown = topLevelSection("shutdown", of: top, allowed: Self.shutdownKeys, expected: "a mapping with the key grace_s")
        guard let field = shutdown["grace_s"],
            let seconds = positiveInteger(field, file: file, fix: "write how long a stop may take, in seconds, e.g. grace_s: 30")
        else { return .seconds(30) }
        return .seconds(seconds)
    }

    mutating func readSnapshotParallelism(_ top: YAMLSection) -> Int {
        let file = configFile
        let snapshot = topLevelSection("snapshot", of: top, allowed: Self.snapshotKeys, expected: "a mapping with the key parallelism")
        guard let field = snapshot["parallelism"],
            let count = positiveInteger(
                field, file: file, fix: "write how many connections copy tables at once, e.g. parallelism: 4", atLeast: 1)
        else { return ForagerConfiguration.defaultSnapshotParallelism }
        return count
    }

    /// `host:port` or `[v6 address]:port`, with a port from 1 to 65535.
    static func hostAndPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        return (host, port)
    }
}
