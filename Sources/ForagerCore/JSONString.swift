/// JSON string literals, for the JSON that Forager writes without an encoder: log lines and
/// Redshift's COPY manifests.
public enum JSONString {
    /// `text` as a JSON string literal: quote and backslash escaped, newline, carriage return and
    /// tab as `\n`, `\r` and `\t`, the other control characters as `\u00XX`.
    @inlinable
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u00" + String(scalar.value >> 4, radix: 16) + String(scalar.value & 0xF, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
