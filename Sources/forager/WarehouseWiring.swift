import ClickHouseWarehouse
import ForagerConfig
import ForagerCore
import ForagerPipeline
import Foundation
import LibPQ
import Logging
import PostgresWarehouse
import RedshiftWarehouse
import S3Staging

extension Pipeline {
    /// A pipeline for `configuration` into the warehouse it configures.
    init(configuration: ForagerConfiguration, logger: Logger, stop: StopSignal) {
        self.init(configuration: configuration, logger: logger, stop: stop, warehouses: .configured(configuration, logger: logger))
    }
}

extension WarehouseConnector {
    /// The warehouse of `configuration` (`warehouse.type`) and its comparator; a Redshift warehouse
    /// finds its keys in `environment` (or the shared credentials file it names).
    static func configured(
        _ configuration: ForagerConfiguration, logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> WarehouseConnector {
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
        case .redshift:
            // The comparator is a warehouse of its own, on a session of its own (its twins are
            // session temporary tables).
            return WarehouseConnector(
                connect: {
                    try await RedshiftWarehouse.connect(
                        ConnectionString(warehouse.url), configuration: try redshift(warehouse, slot: slot, environment: environment),
                        logger: logger)
                },
                connectComparator: {
                    .twin(
                        try await RedshiftWarehouse.connectComparator(
                            ConnectionString(warehouse.url), configuration: try redshift(warehouse, slot: slot, environment: environment),
                            logger: logger))
                })
        }
    }

    /// The Redshift warehouse's settings: the staging bucket, the keys from the environment (or the
    /// shared credentials file) that sign uploads, and the IAM role or those keys for COPY.
    private static func redshift(
        _ warehouse: ForagerConfiguration.Warehouse, slot: String, environment: [String: String]
    ) throws -> RedshiftWarehouse.Configuration {
        guard let staging = warehouse.redshift else {
            throw ForagerError(
                .configuration, "warehouse.s3 is missing", hint: "Redshift loads only from S3: set warehouse.s3.bucket and region.")
        }
        let credentials = try AWSCredentials.resolve(environment: environment)
        return RedshiftWarehouse.Configuration(
            schema: warehouse.schema, slot: slot,
            staging: S3Location(bucket: staging.bucket, prefix: staging.prefix, region: staging.region, endpoint: staging.endpoint),
            uploadCredentials: credentials, authorization: staging.iamRole.map { .iamRole($0) } ?? .keys(credentials))
    }
}
