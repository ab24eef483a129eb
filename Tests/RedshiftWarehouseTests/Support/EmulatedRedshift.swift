import ForagerCore
import LibPQ
import Logging
import RedshiftTestSupport
import S3Staging
import Testing

@testable import RedshiftWarehouse

extension EmulatedRedshift {
    /// A warehouse over the emulator in `schema`, staging under `prefix`.
    func warehouse(
        schema: String, slot: String = "slot_a", authorization: CopyAuthorization? = nil, uploadCredentials: AWSCredentials? = nil,
        logger: Logger = Logger(label: "test"), configure: (inout RedshiftWarehouse.Configuration) -> Void = { _ in }
    ) async throws -> RedshiftWarehouse {
        var configuration = RedshiftWarehouse.Configuration(
            schema: schema, slot: slot, staging: s3.location(prefix: "cdc/\(schema)"),
            uploadCredentials: uploadCredentials ?? s3.credentials,
            authorization: authorization ?? .keys(s3.credentials))
        configuration.retryDelay = .milliseconds(20)
        configure(&configuration)
        return try await RedshiftWarehouse.connect(ConnectionString(url), configuration: configuration, logger: logger)
    }

    /// A warehouse over the emulator in `schema` with `tables` prepared (created), expecting no problem.
    func prepared(
        _ schema: String, _ tables: [MappedTable], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> RedshiftWarehouse {
        let warehouse = try await warehouse(schema: schema)
        let problems = try await warehouse.prepare(tables: tables, create: true)
        #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
        return warehouse
    }

    /// The shared emulation, and a warehouse over it in `schema` with `tables` prepared, expecting no problem.
    static func prepared(
        _ schema: String, _ tables: [MappedTable], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (EmulatedRedshift, RedshiftWarehouse) {
        let redshift = try await shared()
        return (redshift, try await redshift.prepared(schema, tables, sourceLocation: sourceLocation))
    }

    /// A client of the staging bucket with the server's keys.
    func s3Client() -> S3Client {
        S3Client(location: s3.location(), credentials: s3.credentials, logger: Logger(label: "test"))
    }
}
