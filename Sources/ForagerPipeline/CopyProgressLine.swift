/// The one-line picture of an initial copy that a terminal shows and redraws in place.
///
/// Progress is the bytes read from the source (COPY text or binary) against the table's size on
/// disk: the two differ, so a table in flight shows at most 99 % until it is done.
public enum CopyProgressLine {
    public struct Table: Sendable {
        public var name: String
        public var copied: Int64
        public var size: Int64?
        public var done: Bool

        var percent: Int {
            if done { return 100 }
            guard let size, size > 0 else { return 0 }
            return min(99, Int(copied * 100 / size))
        }
    }

    /// `copying: 1 of 3 tables done, 40.0 MiB of 120.5 MiB (33%); public.samples 21%, public.hives 80%`
    public static func render(_ tables: [Table]) -> String {
        let done = tables.filter(\.done).count
        let size = tables.reduce(Int64(0)) { $0 + ($1.size ?? 0) }
        let copied = tables.reduce(Int64(0)) { $0 + ($1.done ? ($1.size ?? 0) : min($1.copied, $1.size ?? $1.copied)) }
        let overall = size > 0 ? min(done == tables.count ? 100 : 99, Int(copied * 100 / size)) : (done == tables.count ? 100 : 0)
        var line =
            "copying: \(done) of \(tables.count) table\(tables.count == 1 ? "" : "s") done, \(bytes(copied)) of \(bytes(size)) (\(overall)%)"
        let inFlight = tables.filter { !$0.done && $0.copied > 0 }.sorted { $0.name < $1.name }
        if !inFlight.isEmpty { line += "; " + inFlight.map { "\($0.name) \($0.percent)%" }.joined(separator: ", ") }
        return line
    }

    static func bytes(_ count: Int64) -> String {
        let mebibytes = Double(count) / 1_048_576
        if mebibytes >= 1024 { return String(Int(mebibytes / 1024 * 10)).inserting(".", fromEnd: 1) + " GiB" }
        return String(Int(mebibytes * 10)).inserting(".", fromEnd: 1) + " MiB"
    }
}

extension String {
    /// The text with `separator` before its last `fromEnd` characters (`"5"` becomes `"0.5"`).
    fileprivate func inserting(_ separator: Character, fromEnd: Int) -> String {
        let padded = count <= fromEnd ? String(repeating: "0", count: fromEnd + 1 - count) + self : self
        var result = padded
        result.insert(separator, at: result.index(result.endIndex, offsetBy: -fromEnd))
        return result
    }
}
