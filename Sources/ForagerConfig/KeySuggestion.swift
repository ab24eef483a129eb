/// "Did you mean" suggestions for unknown keys.
enum KeySuggestion {
    /// The message for an unknown key: names the closest valid key when it is close, else lists
    /// them all. `place` reads after "in", such as `source` or `the top level`.
    static func unknownKeyMessage(_ key: String, place: String, valid: [String]) -> String {
        if let suggestion = closest(to: key, among: valid) {
            return "unknown key '\(key)' \(place); did you mean '\(suggestion)'?"
        }
        let list = valid.map { "'\($0)'" }.joined(separator: ", ")
        return "unknown key '\(key)' \(place); remove it, or use one of the valid keys: \(list)"
    }

    /// The candidate nearest to `key`, if it is near enough to be the intended one: the same up to
    /// case and `_`/`-`, one a prefix of the other, or few edits apart for its length.
    static func closest(to key: String, among candidates: [String]) -> String? {
        let folded = normalized(key)
        guard !folded.isEmpty else { return nil }
        if let same = candidates.first(where: { normalized($0) == folded }) { return same }
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(folded, normalized(candidate))
            if distance < best?.distance ?? .max { best = (candidate, distance) }
        }
        if let best, best.distance <= max(1, min(folded.count, best.candidate.count) / 3) {
            return best.candidate
        }
        if folded.count >= 3,
            let prefixed = candidates.first(where: {
                let other = normalized($0)
                return other.hasPrefix(folded) || folded.hasPrefix(other)
            })
        {
            return prefixed
        }
        return nil
    }

    private static func normalized(_ text: String) -> String {
        String(text.lowercased().filter { $0 != "_" && $0 != "-" && $0 != " " })
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
    /// neighbours each cost 1, so `slto` is one edit from `slot`.
    static func editDistance(_ lhs: String, _ rhs: String) -> Int {
        let a = Array(lhs), b = Array(rhs)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previousRow: [Int] = []
        var row = Array(0...b.count)
        for i in 1...a.count {
            let beforeRow = previousRow
            previousRow = row
            row = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                row[j] = min(previousRow[j] + 1, row[j - 1] + 1, previousRow[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    row[j] = min(row[j], beforeRow[j - 2] + 1)
                }
            }
        }
        return row[b.count]
    }
}
