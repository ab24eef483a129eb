import ArgumentParser
import AsyncHTTPClient
import ForagerPipeline
import Foundation
import NIOCore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the slot, the warehouse checkpoint, lag, tables and the running process's state.",
        discussion: """
            Reads only: it never creates, changes or locks anything, so it is safe beside a running \
            forager run (whose own report it fetches from metrics.listen). Exits 1 when something \
            needs attention (listed at the end), 0 otherwise.
            """)

    @OptionGroup var options: PipelineOptions

    @Flag(help: "Print JSON (snake_case keys) instead of text.")
    var json = false

    func run() async throws {
        let output = try await options.pipeline()
            .statusReport { host, port in await Self.fetchProcessReport(host: host, port: port) }
        if json {
            let data = try JSONEncoder.forager.encode(output)
            print(Redaction.apply(String(decoding: data, as: UTF8.self)))
        } else {
            print(Redaction.apply(output.text))
        }
        if !output.attention.isEmpty { throw ExitCode(1) }
    }

    /// The running process's `/status`, or nil when nothing answers there.
    static func fetchProcessReport(host: String, port: Int) async -> PipelineStatus.Report? {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var request = HTTPClientRequest(url: "http://\(hostPart):\(port)/status")
        request.method = .GET
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(3)), response.status == .ok,
            let body = try? await response.body.collect(upTo: 4 << 20)
        else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try? decoder.decode(PipelineStatus.Report.self, from: Data(buffer: body))
    }
}
