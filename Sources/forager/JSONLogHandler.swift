import ForagerCore
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
            + fields.sorted { Self.order($0.key, $1.key) }.map { "\(JSONString.quote($0.key)):\(JSONString.quote($0.value))" }.joined(
                separator: ",")
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

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
