import ForagerCore
import PGOutput

/// Filling in the status from each thing read, with what needs a person in ``StatusOutput/attention``.
extension StatusOutput {
    /// The warehouse's checkpoint and tables; the lag in bytes behind the source's position read
    /// before.
    mutating func add(_ warehouse: WarehouseReading) {
        checkpointLsn = warehouse.checkpointLsn
        tables = warehouse.tables
        warehouseError = warehouse.error
        if let error = warehouse.error {
            attention.append("cannot read the warehouse: \(error)")
        }
        for table in warehouse.tables where table.state == TableState.Phase.stopped.rawValue {
            attention.append(
                "table \(table.source) is stopped: \(table.reason ?? "no reason recorded"); run forager resync --table \(table.source)")
        }
        let checkpoint = warehouse.checkpointLsn.flatMap { LSN(string: $0) }
        lagBytes = PipelineStatus.lagBytes(source: sourceLsn.flatMap { LSN(string: $0) }, checkpoint: checkpoint)
    }

    /// The slot `name` as the source reports it: missing or invalidated needs a person.
    mutating func noteSlot(exists: Bool, walStatus: String?, named name: String) {
        if !exists {
            attention.append(
                "the source has no slot \(name): nothing is retained for this pipeline; the next forager run creates it and copies every table"
            )
        } else if walStatus == "lost" {
            attention.append("slot \(name) was invalidated (wal_status = lost); see docs/operations.md, 'Slot lost'")
        }
    }

    /// What the process at `endpoint` answered (nil: nothing did), unless it runs the pipeline of
    /// another slot than `slot`.
    mutating func add(process report: PipelineStatus.Report?, endpoint: String, slot: String) {
        processEndpoint = endpoint
        if let report, report.pipelineSlot != slot {
            attention.append(
                "the process answering at \(endpoint) runs the pipeline of slot \(report.pipelineSlot), not \(slot): give each pipeline its own metrics.listen"
            )
        } else {
            process = report
            lagSeconds = report?.lagSeconds
            lastError = report?.lastError
        }
    }

    /// What the last `forager run` recorded; `alive` tells whether its process still runs (nil
    /// when it recorded its end).
    mutating func add(lastRun run: LastRunRecord.Run, alive: Bool?) {
        lastRun = run
        lastError = run.error
        if run.endedAt == nil {
            lastRunAlive = alive
            if alive == false {
                attention.append(
                    "the last forager run (pid \(run.pid)) recorded no end: it was killed; look at its log, then start forager run again")
            }
        } else if run.error != nil {
            attention.append(
                "the last forager run stopped with the error shown as its last error; fix its cause and start forager run again")
        }
    }
}
