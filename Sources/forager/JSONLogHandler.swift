import Foundation
import Logging

/// Writes each log record as one JSON object per line on standard error, for log shippers:
/// `{"time":"…","level":"info","label":"forager","message":"…","forager.table":"…"}`.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [
            "time": Self.timestamp(), "level": "\(event.level)", "label": label, "message": "\(event.message)",
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
            fields[key] = "\(value)"
        }
        let object =
            "{"
            + fields.sorted { Self.order($0.key, $1.key) }.map { "\(Self.quote($0.key)):\(Self.quote($0.value))" }.joined(separator: ",")
            + "}\n"
        FileHandle.standardError.write(Data(object.utf8))
    }

    /// time, level, label and message first, then the metadata by name.
    private static func order(_ a: String, _ b: String) -> Bool {
        let first = ["time", "level", "label", "message"]
        switch (first.firstIndex(of: a), first.firstIndex(of: b)) {
        case let (x?, y?): return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return a < b
        }
    }

    /// A JSON string literal.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
