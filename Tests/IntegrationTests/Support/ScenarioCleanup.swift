import Synchronization
import Testing

/// The scenarios made during one test, cleaned up (their slots dropped, their files removed) when
/// the test ends, passed or failed, before the next test starts. Every integration suite carries
/// the `.cleansUpScenarios` trait; `Scenario.make` outside it records an issue.
final class ScenarioCleanup: Sendable {
    @TaskLocal static var current: ScenarioCleanup?

    private let scenarios = Mutex<[Scenario]>([])

    func add(_ scenario: Scenario) {
        scenarios.withLock { $0.append(scenario) }
    }

    func cleanUpAll() async {
        for scenario in scenarios.withLock({ $0 }) { await scenario.cleanUp() }
    }
}

/// Runs each test with a ``ScenarioCleanup`` and awaits it after the test.
struct CleansUpScenarios: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        // Suites are scopes too: only a test (or one of its cases) gets its own clean-up.
        guard !test.isSuite else { return try await function() }
        let cleanup = ScenarioCleanup()
        try await ScenarioCleanup.$current.withValue(cleanup) {
            do {
                try await function()
            } catch {
                await cleanup.cleanUpAll()
                throw error
            }
            await cleanup.cleanUpAll()
        }
    }
}

extension Trait where Self == CleansUpScenarios {
    /// Cleans up the scenarios each test of the suite makes, when the test ends.
    static var cleansUpScenarios: Self { CleansUpScenarios() }
}
