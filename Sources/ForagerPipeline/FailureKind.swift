import ForagerCore
import LibPQ

/// The label of a failure in `forager_errors_total{kind}`, the status and the last-run record:
/// where it happened (`source`, `warehouse`) for database errors, what it is about for Forager's
/// own errors.
public enum FailureKind {
    /// The kind of `error`. A PostgreSQL error carries the part its connection plays (`source`,
    /// `warehouse`), which Forager names when it connects; `other` for a connection opened without.
    public static func of(_ error: any Error) -> String {
        switch error {
        case let error as PGError:
            return error.origin ?? "other"
        case let error as ForagerError:
            return error.code.description.replacingOccurrences(of: " ", with: "_")
        case is Problems:
            return "setup"
        default:
            return "other"
        }
    }
}
