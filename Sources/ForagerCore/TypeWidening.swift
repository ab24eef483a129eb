/// Which source type changes a warehouse column can follow in place: changes after which every
/// value the old type held is still held, with the same meaning and the same text.
public enum TypeWidening {
    /// True when a column of type `old` may become `new` (both as `format_type` prints them, such
    /// as `character varying(40)` or `numeric(10,2)`) without losing or changing any value.
    public static func allows(from old: String, to new: String) -> Bool {
        if old == new { return true }
        if old.hasSuffix("[]") || new.hasSuffix("[]") {
            guard old.hasSuffix("[]"), new.hasSuffix("[]") else { return false }
            return allows(from: String(old.dropLast(2)), to: String(new.dropLast(2)))
        }
        let (oldBase, oldModifiers) = split(old)
        let (newBase, newModifiers) = split(new)
        if let oldRank = integerRank[old] {
            if let newRank = integerRank[new] { return newRank > oldRank }
            guard newBase == "numeric" else { return false }
            guard let precision = newModifiers.first else { return true }
            return precision - (newModifiers.count > 1 ? newModifiers[1] : 0) >= integerDigits[oldRank]
        }
        switch (oldBase, newBase) {
        case ("real", "double precision"):
            return true
        case ("character varying", "character varying"), ("bit varying", "bit varying"):
            return wider(oldModifiers.first, newModifiers.first)
        case ("character varying", "text"):
            return true
        case ("text", "character varying"):
            return newModifiers.isEmpty
        case ("numeric", "numeric"):
            guard let newPrecision = newModifiers.first else { return true }
            guard let oldPrecision = oldModifiers.first else { return false }
            let oldScale = oldModifiers.count > 1 ? oldModifiers[1] : 0
            let newScale = newModifiers.count > 1 ? newModifiers[1] : 0
            return newScale >= oldScale && newPrecision - newScale >= oldPrecision - oldScale
        case ("timestamp without time zone", "timestamp without time zone"),
            ("timestamp with time zone", "timestamp with time zone"),
            ("time without time zone", "time without time zone"),
            ("time with time zone", "time with time zone"),
            ("interval", "interval"):
            // Fractional-second precision; none means 6, the most.
            return (newModifiers.first ?? 6) >= (oldModifiers.first ?? 6)
        default:
            return false
        }
    }

    /// A `real` value in PostgreSQL's text output as the source's cast to `double precision`
    /// stores it (`0.1` becomes `0.10000000149011612`), for a change older than the widening of its
    /// column; nil when the text is not a `real`. Every other widening keeps a value's text.
    public static func realAsDouble(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard let value = Float(String(decoding: text, as: UTF8.self)) else { return nil }
        let widened = Double(value)
        let printed: String =
            switch widened {
            case .infinity: "Infinity"
            case -.infinity: "-Infinity"
            default: widened.isNaN ? "NaN" : widened.description.droppingSuffix(".0")
            }
        return Array(printed.utf8)
    }

    /// A `real[]` value in PostgreSQL's text output (any dimensions) with each element as
    /// ``realAsDouble(_:)`` turns it; nil when an element is not a `real`.
    public static func realArrayAsDoubleArray(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(text.count * 2)
        var element: [UInt8] = []
        func flush() -> Bool {
            defer { element.removeAll(keepingCapacity: true) }
            guard !element.isEmpty else { return true }
            if element == Array("NULL".utf8) {
                result += element
                return true
            }
            guard let widened = realAsDouble(element[...]) else { return false }
            result += widened
            return true
        }
        for byte in text {
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: ","):
                guard flush() else { return nil }
                result.append(byte)
            default:
                element.append(byte)
            }
        }
        return flush() ? result : nil
    }

    private static let integerRank = ["smallint": 0, "integer": 1, "bigint": 2]
    /// The decimal digits each integer type needs, by rank.
    private static let integerDigits = [5, 10, 19]

    /// A length limit: none is unlimited.
    private static func wider(_ old: Int?, _ new: Int?) -> Bool {
        guard let new else { return true }
        guard let old else { return false }
        return new >= old
    }

    /// `numeric(10,2)` → ("numeric", [10, 2]); `timestamp(3) with time zone` →
    /// ("timestamp with time zone", [3]).
    static func split(_ type: String) -> (base: String, modifiers: [Int]) {
        guard let open = type.firstIndex(of: "("), let close = type[open...].firstIndex(of: ")") else { return (type, []) }
        let modifiers = type[type.index(after: open)..<close].split(separator: ",").compactMap { Int($0.filter { $0 != " " }) }
        let base = (type[..<open] + type[type.index(after: close)...]).split(separator: " ").joined(separator: " ")
        return (base, modifiers)
    }
}

extension String {
    /// The string without `suffix` at its end (PostgreSQL prints `1`, not Swift's `1.0`).
    fileprivate func droppingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
