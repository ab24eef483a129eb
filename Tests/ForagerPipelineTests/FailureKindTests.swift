import ForagerCore
import ForagerPipeline
import LibPQ
import Testing

@Suite("The kind of a failure")
struct FailureKindTests {
    private let warehouse = "127.0.0.1:5433/warehouse"

    private func pgError(_ context: String) -> PGError {
        PGError(kind: .connection, context: context, message: "connection refused")
    }

    @Test func aPostgresErrorFromTheWarehouseEndpointIsTheWarehouses() {
        #expect(FailureKind.of(pgError("connecting to \(warehouse)"), warehouseEndpoint: warehouse) == "warehouse")
        #expect(FailureKind.of(pgError("query on \(warehouse)"), warehouseEndpoint: warehouse) == "warehouse")
    }

    @Test func anyOtherPostgresErrorIsTheSources() {
        #expect(FailureKind.of(pgError("connecting to 127.0.0.1:5432/app"), warehouseEndpoint: warehouse) == "source")
        #expect(FailureKind.of(pgError("connecting to \(warehouse)"), warehouseEndpoint: nil) == "source")
    }

    @Test func forageErrorsAreNamedByTheirCode() {
        #expect(FailureKind.of(ForagerError(.replicationState, "slot lost"), warehouseEndpoint: warehouse) == "replication_state")
        #expect(FailureKind.of(ForagerError(.binaryValues, "binary"), warehouseEndpoint: nil) == "binary_values")
        #expect(FailureKind.of(ForagerError(.warehouse, "refused"), warehouseEndpoint: nil) == "warehouse")
    }

    @Test func problemsFoundAtStartAreSetupAndTheRestOther() {
        #expect(FailureKind.of(Problems(problems: [ForagerError(.schema, "no key")]), warehouseEndpoint: nil) == "setup")
        #expect(FailureKind.of(CancellationError(), warehouseEndpoint: nil) == "other")
    }

    @Test func problemsPrintOnePerLineWhenThereAreSeveral() {
        let one = Problems(problems: [ForagerError(.schema, "a")])
        let two = Problems(problems: [ForagerError(.schema, "a"), ForagerError(.schema, "b", hint: "fix b")])
        #expect(one.description == "a")
        #expect(two.description == "2 problems:\n- a\n- b\nHINT: fix b")
    }
}
