public import ForagerCore

/// How the pipeline reaches its warehouse: the executable builds it from the configuration, so
/// that the pipeline depends on no warehouse target.
public struct WarehouseConnector: Sendable {
    /// Opens a connection to the warehouse.
    public var connect: @Sendable () async throws -> any Warehouse
    /// Opens the warehouse's comparator for `forager validate`.
    public var connectComparator: @Sendable () async throws -> ChunkComparator

    /// A connector that opens warehouses with `connect` and comparators with `connectComparator`.
    public init(
        connect: @escaping @Sendable () async throws -> any Warehouse,
        connectComparator: @escaping @Sendable () async throws -> ChunkComparator
    ) {
        self.connect = connect
        self.connectComparator = connectComparator
    }
}
