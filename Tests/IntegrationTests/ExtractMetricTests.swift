import ForagerCore
import LibPQ
import Logging
import Metrics
import MetricsTestKit
import PGOutput
import PostgresWarehouse
import Testing

/// Bootstrapped once per process: metrics have one global backend.
private let metrics: TestMetrics = {
    let metrics = TestMetrics()
    MetricsSystem.bootstrap(metrics)
    return metrics
}()

@Suite("Extract metrics", .cleansUpScenarios)
struct ExtractMetricTests {
    @Test("NULLs from missing and ill-typed fields are counted per table, column and kind")
    func nullsAreCounted() async throws {
        let metrics = metrics
        let clusters = try await SharedClusters.shared.get()
        let database = "wh_metric_\(await SharedClusters.shared.nextID())"
        try await clusters.warehouse.execute("CREATE DATABASE \(database)", database: "postgres")
        let warehouse = try await PostgresWarehouse.connect(
            ConnectionString(clusters.warehouse.url(database)), schema: "analytics", slot: "metric", logger: Logger(label: "test"))
        defer { warehouse.connection.close() }
        var table = MappedTable(
            source: TableName(schema: "public", name: "samples"), target: TableName(schema: "analytics", name: "samples"),
            columns: [
                SourceColumn(name: "id", sqlType: "integer", notNull: true),
                SourceColumn(name: "payload", sqlType: "jsonb", notNull: false),
            ],
            keyColumns: ["id"])
        table.extracts = [JSONExtract(column: "temp", from: "payload", path: ["temp"], type: .integer)]
        #expect(try await warehouse.prepare(tables: [table]).isEmpty)
        try await warehouse.beginSnapshot()
        try await warehouse.startLoad(table, binary: false)
        let rows = ["1\t{\"temp\": 20}", "2\t{\"temp\": \"warm\"}", "3\t{\"temp\": 1.5}", "4\t{}", "5\t\\N"]
        try await warehouse.load(Array(rows.map { $0 + "\t0/10\n" }.joined().utf8))
        #expect(try await warehouse.endLoad() == 5)
        try await warehouse.commit(checkpoint: LSN(0x10))
        let dimensions = [("table", "analytics.samples"), ("column", "temp")]
        #expect(try metrics.expectCounter(PostgresWarehouse.extractNullsMetric, dimensions + [("kind", "wrong_kind")]).totalValue == 2)
        #expect(try metrics.expectCounter(PostgresWarehouse.extractNullsMetric, dimensions + [("kind", "missing")]).totalValue == 2)
    }
}
