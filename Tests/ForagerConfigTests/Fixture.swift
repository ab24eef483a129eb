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

/// Runs `body` with a fixture holding `config` as forager.yaml (unless nil) and `files`, and
/// returns what `body` returns.
@discardableResult
func withFixture<Result>(
    config: String?, files: [String: String] = ["mappings/app.yaml": minimalMapping],
    _ body: (Fixture) throws -> Result
) throws -> Result {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("forager-config-tests-\(UUID().uuidString)").standardizedFileURL.path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let fixture = Fixture(directory: directory)
    if let config { try fixture.write("forager.yaml", config) }
    for (name, text) in files { try fixture.write(name, text) }
    return try body(fixture)
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

/// Runs `body` with a fixture holding the minimal configuration and `mapping` as its mapping file,
/// and returns what `body` returns.
func withMapping<Result>(_ mapping: String, _ body: (Fixture) throws -> Result) throws -> Result {
    try withFixture(config: minimalConfig, files: ["mappings/app.yaml": mapping], body)
}

/// The tables `mapping` gives under the minimal configuration.
func mappedTables(_ mapping: String) throws -> [ForagerConfiguration.TableMapping] {
    try withMapping(mapping) { try $0.load().tables }
}

/// The problems of loading `mapping` under the minimal configuration (an issue when it loads).
func mappingProblems(_ mapping: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [ConfigurationError.Problem] {
    try withMapping(mapping) { $0.problems(sourceLocation: sourceLocation) }
}

/// The single problem of loading `mapping` under the minimal configuration.
func mappingProblem(_ mapping: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ConfigurationError.Problem {
    try withMapping(mapping) { try $0.problem(sourceLocation: sourceLocation) }
}

/// Expects `problem` of `code` in `file` (each where given) on `line` under `key`, its message
/// containing each of `fragments`.
func expectProblem(
    _ problem: ConfigurationError.Problem, code: ConfigurationError.Code? = nil, file: String? = nil, line: Int?, key: String,
    containing fragments: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
) {
    if let code { #expect(problem.code == code, "\(problem)", sourceLocation: sourceLocation) }
    if let file { #expect(problem.file == file, "\(problem)", sourceLocation: sourceLocation) }
    #expect(problem.line == line, "\(problem)", sourceLocation: sourceLocation)
    expectProblem(problem, key: key, containing: fragments, sourceLocation: sourceLocation)
}

/// Expects `problem` under `key`, its message containing each of `fragments`; its line is not checked.
func expectProblem(
    _ problem: ConfigurationError.Problem, key: String, containing fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(problem.key == key, "\(problem)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(problem.message.contains(fragment), "\(problem.message)", sourceLocation: sourceLocation)
    }
}

/// A configuration whose warehouse section holds `warehouse` (lines indented by two spaces).
func configuration(warehouse: String) -> String {
    "source:\n  url: \"\(sourceURL)\"\nwarehouse:\n\(warehouse)\nmappings: mappings/app.yaml\n"
}

/// A configuration with a ClickHouse warehouse at http://127.0.0.1:8123 and more warehouse `keys`.
func clickHouseConfiguration(_ keys: String) -> String {
    configuration(warehouse: "  type: clickhouse\n  url: http://127.0.0.1:8123\n" + keys)
}

/// A configuration with a Postgres warehouse and more warehouse `keys`.
func postgresConfiguration(_ keys: String) -> String {
    configuration(warehouse: "  url: \"\(warehouseURL)\"\n" + keys)
}

/// `config` loaded, with the mapping file of ``withFixture``.
func loaded(_ config: String) throws -> ForagerConfiguration {
    try withFixture(config: config) { try $0.load() }
}

/// The single problem of loading `config`, with the mapping file of ``withFixture``; expects it in
/// the configuration file.
func configurationProblem(_ config: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ConfigurationError.Problem {
    try withFixture(config: config) { fixture in
        let problem = try fixture.problem(sourceLocation: sourceLocation)
        #expect(problem.file == fixture.configPath, sourceLocation: sourceLocation)
        return problem
    }
}

/// Expects `problems`, in order, of `codes` (where given) on `lines` under `keys`.
func expectProblems(
    _ problems: [ConfigurationError.Problem], codes: [ConfigurationError.Code]? = nil, lines: [Int?], keys: [String],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    if let codes { #expect(problems.map(\.code) == codes, "\(problems)", sourceLocation: sourceLocation) }
    #expect(problems.map(\.line) == lines, "\(problems)", sourceLocation: sourceLocation)
    #expect(problems.map(\.key) == keys, "\(problems)", sourceLocation: sourceLocation)
}
