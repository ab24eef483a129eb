internal import Glibc
public import PGOutput

extension PostgresTimestamp {
    /// The current wall-clock time.
    public static var now: PostgresTimestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let microsecondsSince1970 = Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
        return PostgresTimestamp(microseconds: microsecondsSince1970 - postgresEpochSecondsSince1970 * 1_000_000)
    }
}

/// Wall-clock time as seconds since 1970, for metrics and status.
public enum UnixTime {
    /// Now, in seconds since 1970-01-01 UTC.
    public static var now: Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
