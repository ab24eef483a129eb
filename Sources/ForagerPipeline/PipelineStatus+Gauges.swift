import ForagerCore
import Metrics

extension PipelineStatus {
    /// Sets the gauges that describe the present (lag, slot, phase, copies) from this status.
    public func refreshGauges() {
        let report = self.report()
        if let lag = report.lagSeconds { Gauge(label: ForagerMetrics.lagSeconds).record(lag) }
        if let bytes = report.lagBytes { Gauge(label: ForagerMetrics.lagBytes).record(Double(bytes)) }
        if let slot = report.slot {
            if let retained = slot.retainedWalBytes { Gauge(label: ForagerMetrics.retainedWALBytes).record(Double(retained)) }
            Gauge(label: ForagerMetrics.slotActive).record(slot.active == true ? 1 : 0)
        }
        Gauge(label: ForagerMetrics.streaming).record(report.phase == .streaming ? 1 : 0)
        Gauge(label: ForagerMetrics.tablesStopped).record(Double(report.stoppedTables?.count ?? 0))
        for (table, copy) in report.snapshot {
            Gauge(label: ForagerMetrics.snapshotBytesCopied, dimensions: [("table", table)]).record(Double(copy.bytesCopied))
            if let size = copy.tableBytes {
                Gauge(label: ForagerMetrics.snapshotTableBytes, dimensions: [("table", table)]).record(Double(size))
            }
            if let rows = copy.rows { Gauge(label: ForagerMetrics.snapshotRows, dimensions: [("table", table)]).record(Double(rows)) }
        }
    }
}
