/// A ClickHouse server's version as `SELECT version()` prints it (`18.16.1`, `26.9.1.1`), and the
/// features Forager uses that came with a version.
struct ClickHouseServerVersion: Sendable, Comparable {
    let major: Int
    let minor: Int

    init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// The version in `text`; 0.0 when it does not read as one (no feature is taken for granted).
    init(_ text: String) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").map { Int($0) ?? 0 }
        self.init(major: parts.first ?? 0, minor: parts.count > 1 ? parts[1] : 0)
    }

    static func < (lhs: ClickHouseServerVersion, rhs: ClickHouseServerVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    /// `DateTime64` (20.1 and later), which then holds timestamps.
    var hasDateTime64: Bool { self >= Self(major: 20, minor: 1) }

    /// The types Forager makes on this server.
    var typeGeneration: ClickHouseTypeGeneration {
        if self >= Self(major: 22, minor: 8) { return .modern }
        return hasDateTime64 ? .dateTime64 : .classic
    }

    /// `ReplacingMergeTree(version, is_deleted)`, whose FINAL leaves out rows whose last version
    /// is deleted (from 23.2; taken from 23.8, the first long-term release with it).
    var hasIsDeleted: Bool { self >= Self(major: 23, minor: 8) }

    /// Lightweight `DELETE FROM` (from 22.8 behind a setting, generally available in 23.3).
    var hasLightweightDelete: Bool { self >= Self(major: 23, minor: 3) }

    /// The `async_insert` setting (21.11 and later; on by default from 26.2). Forager turns it off
    /// on every insert: an asynchronous insert delays each batch until the server's buffer is
    /// flushed, or, where a profile sets `wait_for_async_insert = 0`, returns before the rows are
    /// stored, and the checkpoint must never pass rows that are not.
    var hasAsyncInsert: Bool { self >= Self(major: 21, minor: 11) }

    /// The settings Forager sends with every insert on this server.
    var insertSettings: [(String, String)] { hasAsyncInsert ? [("async_insert", "0")] : [] }
}

/// The types Forager makes on a server, in the order servers gained them: dates, timestamps and
/// booleans. A table keeps the types it was made with when the server is upgraded (see
/// ``ClickHouseWarehouse``).
public enum ClickHouseTypeGeneration: Int, Sendable, Comparable, CaseIterable {
    /// Servers before 20.1 (Debian's 18.16): `Date` (1970 to 2105), timestamps as `Int64`
    /// microseconds since 1970 (any timestamp PostgreSQL has), booleans as `UInt8`.
    case classic
    /// 20.1 to 22.7: timestamps as `DateTime64(6, 'UTC')`, 1925 to 2283; dates as `Date`,
    /// booleans as `UInt8`.
    case dateTime64
    /// 22.8 and later: `Date32` and `DateTime64(6, 'UTC')`, both 1900 to 2299, and `Bool`.
    case modern

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
