import ForagerDemo
import Glibc
import Testing

extension ChildProcess {
    /// Sends SIGTERM and expects the process to exit 0 within `timeout`.
    func expectCleanStop(timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        signal(SIGTERM)
        let status = try await wait(timeout: timeout)
        #expect(status == 0, "\(output)", sourceLocation: sourceLocation)
    }
}

extension Scenario {
    /// Runs `forager <arguments>` to completion, expecting it to exit `status` with an output that
    /// contains each of `fragments`; returns the output.
    @discardableResult
    func expectOutput(
        of arguments: [String], status: Int32 = 0, containing fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let output = try await forager(arguments, expectStatus: status)
        for fragment in fragments {
            #expect(output.contains(fragment), "\(output)", sourceLocation: sourceLocation)
        }
        return output
    }

    /// Replaces the mapping file with `mapping` and expects `forager check` to refuse it (exit 1)
    /// with an output that contains each of `fragments`; returns the output.
    @discardableResult
    func expectCheckRefuses(
        mapping: String, containing fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        try writeMapping(mapping)
        return try await expectOutput(of: ["check"], status: 1, containing: fragments, sourceLocation: sourceLocation)
    }

    /// Runs `forager validate` and expects each of `tables` (`schema.table`) reported equal.
    func expectValidatedEqual(_ tables: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await expectOutput(of: ["validate"], containing: tables.map { "\($0): equal" }, sourceLocation: sourceLocation)
    }
}
