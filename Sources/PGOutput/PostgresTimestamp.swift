/// A PostgreSQL `TimestampTz` on the wire: microseconds since 2000-01-01 00:00:00 UTC.
///
/// See [Streaming Replication Protocol](https://www.postgresql.org/docs/15/protocol-replication.html).
public struct PostgresTimestamp: Hashable, Comparable, Sendable {
    /// Microseconds since 2000-01-01 00:00:00 UTC (the PostgreSQL epoch).
    public var microseconds: Int64

    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    /// Seconds between 1970-01-01 and 2000-01-01.
    public static let postgresEpochSecondsSince1970: Int64 = 946_684_800

    /// The same instant as seconds since 1970-01-01 00:00:00 UTC (Unix time).
    public var secondsSince1970: Double {
        Double(microseconds) / 1_000_000 + Double(Self.postgresEpochSecondsSince1970)
    }

    /// Converts Unix time to the PostgreSQL epoch, rounding to the microsecond.
    /// Values outside the representable range are clamped; NaN becomes the PostgreSQL epoch.
    public init(secondsSince1970: Double) {
        let micros = ((secondsSince1970 - Double(Self.postgresEpochSecondsSince1970)) * 1_000_000).rounded()
        if micros.isNaN {
            self.microseconds = 0
        } else if micros >= 9_223_372_036_854_775_807.0 {
            self.microseconds = .max
        } else if micros <= -9_223_372_036_854_775_808.0 {
            self.microseconds = .min
        } else {
            self.microseconds = Int64(micros)
        }
    }

    public static func < (lhs: PostgresTimestamp, rhs: PostgresTimestamp) -> Bool {
        lhs.microseconds < rhs.microseconds
    }
}
