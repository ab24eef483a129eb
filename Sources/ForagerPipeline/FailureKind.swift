import ForagerCore
import LibPQ

/// The label of a failure in `forager_errors_total{kind}`, the status and the last-run record:
/// where it happened (`source`, `warehouse`) for database errors, what it is about for Forager's
/// own errors.
public enum FailureKind {
    /// The kind of `error`. A PostgreSQL error names the server it came from at the end of its
    /// context; `warehouseEndpoint` is the Postgres warehouse's (nil for a warehouse that raises no
    /// PostgreSQL errors), so that any other server is the source.
    public static func of(_ error: any Error, warehouseEndpoint: String?) -> String {
        switch error {
        case let error as PGError:
            return warehouseEndpoint.map { error.context.hasSuffix($0) } == true ? "warehouse" : "source"
        case let error as ForagerError:
            return error.code.description.replacingOccurrences(of: " ", with: "_")
        case is Problems:
            return "setup"
        default:
            return "other"
        }
    }
}
