import ForagerCore
import ForagerPipeline
import Testing

@testable import LibPQ

@Suite("The kind of a failure")
struct FailureKindTests {
    private func pgError(origin: String?) -> PGError {
        var error = PGError(kind: .connection, context: "connecting to 127.0.0.1:5433/warehouse", message: "connection refused")
        error.origin = origin
        return error
    }

    @Test func aPostgresErrorIsNamedByThePartItsConnectionPlays() {
        #expect(FailureKind.of(pgError(origin: "warehouse")) == "warehouse")
        #expect(FailureKind.of(pgError(origin: "source")) == "source")
        #expect(FailureKind.of(pgError(origin: nil)) == "other", "a connection opened without a part is not guessed from its text")
    }

    @Test func forageErrorsAreNamedByTheirCode() {
        #expect(FailureKind.of(ForagerError(.replicationState, "slot lost")) == "replication_state")
        #expect(FailureKind.of(ForagerError(.binaryValues, "binary")) == "binary_values")
        #expect(FailureKind.of(ForagerError(.warehouse, "refused")) == "warehouse")
    }

    @Test func problemsFoundAtStartAreSetupAndTheRestOther() {
        #expect(FailureKind.of(Problems(problems: [ForagerError(.schema, "no key")])) == "setup")
        #expect(FailureKind.of(CancellationError()) == "other")
    }

    @Test func problemsPrintOnePerLineWhenThereAreSeveral() {
        let one = Problems(problems: [ForagerError(.schema, "a")])
        let two = Problems(problems: [ForagerError(.schema, "a"), ForagerError(.schema, "b", hint: "fix b")])
        #expect(one.description == "a")
        #expect(two.description == "2 problems:\n- a\n- b\nHINT: fix b")
    }
}
