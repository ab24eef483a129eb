import ClickHouseWarehouse
import ForagerConfig
import ForagerCore
import ForagerPipeline
import LibPQ
import Logging
import PostgresWarehouse

extension Pipeline {
    /// A pipeline for `configuration` into the warehouse it configures.
    init(configuration: ForagerConfiguration, logger: Logger, stop: StopSignal) {
        self.init(configuration: configuration, logger: logger, stop: stop, warehouses: .configured(configuration, logger: logger))
    }
}

extension WarehouseConnector {
    /// The warehouse of `configuration` (`warehouse.type`) and its comparator.
    static func configured(_ configuration: ForagerConfiguration, logger: Logger) -> WarehouseConnector {
        let warehouse = configuration.warehouse, slot = configuration.source.slot
        switch warehouse.type {
        case .postgres:
            return WarehouseConnector(
                connect: {
                    try await PostgresWarehouse.connect(
                        ConnectionString(warehouse.url), schema: warehouse.schema, slot: slot, logger: logger)
                },
                connectComparator: {
                    .checksums(
                        try await PostgresChunkComparator.connect(
                            ConnectionString(warehouse.url), schema: warehouse.schema, slot: slot, logger: logger))
                })
        case .clickhouse:
            let connect = { @Sendable in
                try await ClickHouseWarehouse.connect(
                    url: warehouse.url, database: warehouse.schema, user: warehouse.user, password: warehouse.password,
                    compress: warehouse.compress, caFile: warehouse.caFile, cluster: warehouse.cluster,
                    insertQuorum: warehouse.insertQuorum, insertQuorumTimeout: warehouse.insertQuorumTimeout,
                    sharding: warehouse.sharding, slot: slot, logger: logger)
            }
            return WarehouseConnector(connect: { try await connect() }, connectComparator: { .twin(try await connect()) })
        }
    }
}
