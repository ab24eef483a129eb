import ForagerConfig
import Foundation
import Testing

/// A configuration file with its mapping files in a fresh temporary directory, removed afterwards.
struct Fixture {
    let directory: String

    var configPath: String { directory + "/forager.yaml" }

    func path(_ relative: String) -> String { directory + "/" + relative }

    func write(_ relative: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path(relative))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func load(environment: [String: String] = [:]) throws(ConfigurationError) -> ForagerConfiguration {
        try ForagerConfiguration.load(path: configPath, environment: environment)
    }

    /// The problems of loading, or none (recording an issue) when it loads.
    func problems(environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigurationError.Problem] {
        do {
            let configuration = try load(environment: environment)
            Issue.record("expected problems, loaded \(configuration)", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.problems
        }
    }

    /// The single problem of loading.
    func problem(environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) throws
        -> ConfigurationError.Problem
    {
        let problems = problems(environment: environment, sourceLocation: sourceLocation)
        #expect(problems.count == 1, "\(problems)", sourceLocation: sourceLocation)
        return try #require(problems.first, sourceLocation: sourceLocation)
    }
}

/// Runs `body` with a fixture holding `config` as forager.yaml (unless nil) and `files`.
func withFixture(
    config: String?, files: [String: String] = ["mappings/app.yaml": minimalMapping],
    _ body: (Fixture) throws -> Void
) throws {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("forager-config-tests-\(UUID().uuidString)").standardizedFileURL.path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let fixture = Fixture(directory: directory)
    if let config { try fixture.write("forager.yaml", config) }
    for (name, text) in files { try fixture.write(name, text) }
    try body(fixture)
}

let sourceURL = "postgresql://user:s3cret@127.0.0.1:5432/app"
let warehouseURL = "postgresql://user:s3cret@127.0.0.1:5433/wh"

/// The smallest valid configuration; line 2 is source.url, line 4 warehouse.url, line 5 mappings.
let minimalConfig = """
    source:
      url: "\(sourceURL)"
    warehouse:
      url: "\(warehouseURL)"
    mappings: mappings/app.yaml
    """

/// The smallest valid mapping file.
let minimalMapping = """
    tables:
      - source: public.samples
    """

extension ConfigurationError.Problem {
    /// No connection URL, nor its password, leaks into a message.
    var hidesSecrets: Bool {
        !description.contains("s3cret") && !description.contains("127.0.0.1")
    }
}
