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
