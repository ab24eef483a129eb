/// Decides when the log warns about the slot, the lag and stopped tables: when a threshold is crossed, again every
/// `repeatEvery` while it stays crossed, and once more when it is back under (resolved).
///
/// A value type fed with facts read periodically; it says what to log, not how.
public struct AlertRules: Sendable {
    /// When to warn (the configuration's `alerts:`).
    public struct Thresholds: Sendable, Equatable {
        /// Warn when the slot retains more WAL than this (`retained_wal_mb`, default 10240 MB).
        public var retainedWALBytes: Int64 = 10240 << 20
        /// Warn when the end-to-end lag is above this (`lag_s`, default 300 s).
        public var lag: Duration = .seconds(300)
        /// Warn when no process has streamed from the slot for this long (`slot_inactive_s`,
        /// default 300 s), since the slot then retains WAL without bound.
        public var slotInactive: Duration = .seconds(300)

        /// The defaults.
        public init() {}
    }

    /// What was read from the source and the pipeline at one moment.
    public struct Facts: Sendable, Equatable {
        /// False when the source has no slot of this name.
        public var slotExists: Bool
        public var slotActive: Bool
        /// `pg_replication_slots.wal_status`: reserved, extended, unreserved or lost.
        public var walStatus: String?
        public var retainedWALBytes: Int64?
        /// End-to-end lag, when measured.
        public var lag: Duration?
        /// The mapped tables that are stopped, by source name.
        public var stoppedTables: [String]

        public init(
            slotExists: Bool, slotActive: Bool, walStatus: String?, retainedWALBytes: Int64?, lag: Duration?, stoppedTables: [String] = []
        ) {
            self.slotExists = slotExists
            self.slotActive = slotActive
            self.walStatus = walStatus
            self.retainedWALBytes = retainedWALBytes
            self.lag = lag
            self.stoppedTables = stoppedTables
        }
    }

    public enum Kind: String, Sendable, CaseIterable {
        case retainedWAL = "retained_wal"
        case lag
        case slotInactive = "slot_inactive"
        case slotLost = "slot_lost"
        case slotUnreserved = "slot_unreserved"
        case tableStopped = "table_stopped"
    }

    /// One line to log.
    public struct Alert: Sendable, Equatable {
        public var kind: Kind
        /// True while the condition holds; false once, when it ends.
        public var firing: Bool
        public var message: String
        /// What to do; empty for a resolved alert.
        public var fix: String
    }

    public let thresholds: Thresholds
    public let repeatEvery: Duration
    private var lastLogged: [Kind: ContinuousClock.Instant] = [:]
    private var inactiveSince: ContinuousClock.Instant?

    public init(thresholds: Thresholds, repeatEvery: Duration = .seconds(300)) {
        self.thresholds = thresholds
        self.repeatEvery = repeatEvery
    }

    /// The alerts to log now, given the facts.
    public mutating func evaluate(_ facts: Facts, slot: String, now: ContinuousClock.Instant) -> [Alert] {
        if facts.slotExists, !facts.slotActive {
            inactiveSince = inactiveSince ?? now
        } else {
            inactiveSince = nil
        }
        var conditions: [Kind: (message: String, fix: String)] = [:]
        if let retained = facts.retainedWALBytes, retained >= thresholds.retainedWALBytes {
            conditions[.retainedWAL] = (
                "slot \(slot) retains \(Self.megabytes(retained)) of WAL on the source, above alerts.retained_wal_mb (\(Self.megabytes(thresholds.retainedWALBytes)))",
                "The source's disk fills while the slot is behind. Check that forager run is running and not failing, and the warehouse's speed; if the pipeline is retired, run forager drop --yes to release the WAL."
            )
        }
        if let lag = facts.lag, lag >= thresholds.lag {
            conditions[.lag] = (
                "replication lag is \(Int(lag.seconds)) s, above alerts.lag_s (\(Int(thresholds.lag.seconds)) s)",
                "See docs/operations.md, 'Lag grows': check the warehouse (load, locks, disk), the errors in this log, and forager_batch_duration_seconds."
            )
        }
        if let since = inactiveSince, now - since >= thresholds.slotInactive {
            conditions[.slotInactive] = (
                "slot \(slot) has had no reader for \(Int((now - since).seconds)) s; it retains WAL for as long as nothing reads it",
                "Start forager run (or find why it cannot connect: see the errors above); if the pipeline is retired, run forager drop --yes."
            )
        }
        if facts.walStatus == "lost" {
            conditions[.slotLost] = (
                "slot \(slot) was invalidated (wal_status = lost): the source removed WAL it still needed, so changes are gone",
                "The warehouse cannot be caught up from this slot. Drop the slot and the warehouse tables and start again (docs/operations.md, 'Slot lost')."
            )
        } else if facts.walStatus == "unreserved" {
            conditions[.slotUnreserved] = (
                "slot \(slot) is about to lose WAL it needs (wal_status = unreserved: retained WAL is past max_slot_wal_keep_size)",
                "Get forager run streaming now, or raise max_slot_wal_keep_size on the source; once the WAL is removed the slot is lost."
            )
        }
        if !facts.stoppedTables.isEmpty {
            conditions[.tableStopped] = (
                "\(facts.stoppedTables.count == 1 ? "table" : "tables") \(facts.stoppedTables.joined(separator: ", ")) \(facts.stoppedTables.count == 1 ? "is" : "are") stopped: nothing more is applied to \(facts.stoppedTables.count == 1 ? "it" : "them"), while the other tables flow",
                "forager status (or forager check) says why for each; fix the cause, then forager resync --table for each (docs/operations.md, 'Resync a table')."
            )
        }
        var alerts: [Alert] = []
        for kind in Kind.allCases {
            if let condition = conditions[kind] {
                if let last = lastLogged[kind], now - last < repeatEvery { continue }
                lastLogged[kind] = now
                alerts.append(Alert(kind: kind, firing: true, message: condition.message, fix: condition.fix))
            } else if lastLogged.removeValue(forKey: kind) != nil {
                alerts.append(Alert(kind: kind, firing: false, message: Self.resolved(kind, slot: slot), fix: ""))
            }
        }
        return alerts
    }

    private static func resolved(_ kind: Kind, slot: String) -> String {
        switch kind {
        case .retainedWAL: "slot \(slot) retains less WAL than alerts.retained_wal_mb again"
        case .lag: "replication lag is back under alerts.lag_s"
        case .slotInactive: "slot \(slot) is being read again"
        case .slotLost, .slotUnreserved: "slot \(slot) keeps the WAL it needs again"
        case .tableStopped: "no mapped table is stopped any more"
        }
    }

    static func megabytes(_ bytes: Int64) -> String { "\(bytes >> 20) MB" }
}
