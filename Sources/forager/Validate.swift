import ArgumentParser
import ForagerCore
import ForagerPipeline

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare source and warehouse, table by table and key range by key range.",
        discussion: """
            Counts and checksums the mapped columns in chunks of the primary key, in bounded memory. \
            A chunk that differs is compared again once the warehouse has passed the source position \
            it was read at, so rows written meanwhile raise no false alarm. Exits 0 when every \
            compared table is equal, 3 with the differing key ranges, and 4 when nothing differs \
            but some rows kept changing in every round of comparing them, with their key ranges: \
            validate those tables again when writes to them are quieter. 1 is an error that kept \
            it from comparing, 2 a configuration it cannot read.
            """)

    @OptionGroup var options: PipelineOptions

    @Option(name: .customLong("table"), help: "A mapped source table (schema.table); repeat for more. Default: all.")
    var tables: [String] = []

    @Option(help: "Rows per chunk.")
    var chunkRows = 10_000

    @Option(help: "Seconds to wait for the warehouse to pass the source position of a differing chunk.")
    var wait = 60

    func validate() throws {
        guard chunkRows >= 1 else { throw ValidationError("--chunk-rows must be at least 1") }
        guard wait >= 0 else { throw ValidationError("--wait must be 0 or more seconds") }
    }

    func run() async throws {
        let tables = self.tables, chunkRows = self.chunkRows, wait = self.wait
        try await options.runPipeline { pipeline, _ in
            let results = try await pipeline.validate(only: tables, chunkRows: chunkRows, wait: .seconds(wait))
            for result in results { print(result.line) }
            let verdict = ValidationVerdict(results)
            if verdict != .equal { throw ExitCode(verdict.rawValue) }
        }
    }
}
