/// Just enough XML reading for S3's answers: the text of simple elements such as `<Key>` and
/// `<Code>`, with entities decoded.
///
/// S3's response documents are flat and machine-written (no comments, no attributes on the
/// elements read here, no CDATA), so a scan for `<Name>`…`</Name>` is exact for them; it is not
/// a general XML parser.
enum S3XML {
    /// The decoded text of every `<name>` element, in document order.
    static func values(of name: String, in document: String) -> [String] {
        let open = Array("<\(name)>".utf8), close = Array("</\(name)>".utf8)
        let bytes = Array(document.utf8)
        var values: [String] = []
        var index = 0
        while let start = find(open, in: bytes, from: index) {
            let contentStart = start + open.count
            guard let end = find(close, in: bytes, from: contentStart) else { break }
            values.append(decodeEntities(String(decoding: bytes[contentStart..<end], as: UTF8.self)))
            index = end + close.count
        }
        return values
    }

    /// The decoded text of the first `<name>` element.
    static func value(of name: String, in document: String) -> String? {
        values(of: name, in: document).first
    }

    /// Replaces `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` and numeric references (`&#13;`,
    /// `&#x1F600;`); leaves anything else as it is.
    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var result = ""
        var rest = Substring(text)
        while let ampersand = rest.firstIndex(of: "&") {
            result += rest[..<ampersand]
            let afterAmpersand = rest.index(after: ampersand)
            guard let semicolon = rest[afterAmpersand...].prefix(12).firstIndex(of: ";"),
                let decoded = entity(rest[afterAmpersand..<semicolon])
            else {
                result.append("&")
                rest = rest[afterAmpersand...]
                continue
            }
            result += decoded
            rest = rest[rest.index(after: semicolon)...]
        }
        return result + rest
    }

    private static func entity(_ name: Substring) -> String? {
        switch name {
        case "lt": return "<"
        case "gt": return ">"
        case "amp": return "&"
        case "quot": return "\""
        case "apos": return "'"
        default:
            guard name.hasPrefix("#") else { return nil }
            let digits = name.dropFirst()
            let code = digits.hasPrefix("x") || digits.hasPrefix("X") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
            return code.flatMap(Unicode.Scalar.init).map { String(Character($0)) }
        }
    }

    /// Escapes `&`, `<`, `>`, `"` and `'` for an element's text.
    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0] && haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
