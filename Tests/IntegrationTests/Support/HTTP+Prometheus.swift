import AsyncHTTPClient
import Foundation

/// GETs `http://127.0.0.1:<port><path>`; nil when nothing answers.
func httpGet(port: Int, _ path: String) async -> (status: Int, body: String)? {
    let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
    guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(5)),
        let body = try? await response.body.collect(upTo: 16 << 20)
    else { return nil }
    return (Int(response.status.code), String(buffer: body))
}

/// Prometheus text exposition format, parsed strictly enough that a malformed line fails a test.
struct PrometheusText {
    /// Every sample: `name{labels}` exactly as written, to its value.
    var samples: [String: Double] = [:]
    /// Declared types by metric name.
    var types: [String: String] = [:]

    struct Malformed: Error, CustomStringConvertible {
        var line: String
        var description: String { "not Prometheus text: \(line)" }
    }

    init(_ text: String) throws {
        let name = "[a-zA-Z_:][a-zA-Z0-9_:]*"
        let labels = #"(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*,?\})?"#
        let sample = try Regex("^(\(name)\(labels)) ([-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN))( -?[0-9]+)?$")
        let type = try Regex("^# TYPE (\(name)) (counter|gauge|histogram|summary|untyped)$")
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if line.hasPrefix("# HELP ") { continue }
            if let match = try type.wholeMatch(in: line) {
                types[String(match.output[1].substring ?? "")] = String(match.output[2].substring ?? "")
                continue
            }
            guard let match = try sample.wholeMatch(in: line), let key = match.output[1].substring,
                let valueText = match.output[7].substring
            else { throw Malformed(line: line) }
            let value: Double =
                switch valueText {
                case "Inf", "+Inf": .infinity
                case "-Inf": -.infinity
                case "NaN": .nan
                default: Double(valueText) ?? .nan
                }
            samples[String(key)] = value
        }
    }

    /// The value of `name` (with exactly these labels, in the order the exporter writes them).
    subscript(_ series: String) -> Double? { samples[series] }

    /// The first sample whose series starts with `prefix`.
    func first(_ prefix: String) -> Double? {
        samples.first { $0.key == prefix || $0.key.hasPrefix(prefix + "{") }?.value
    }
}
