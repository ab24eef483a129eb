import ForagerCore
import Testing

/// The one COPY text / TabSeparated escaping the Postgres and ClickHouse warehouses and Redshift's
/// validate lines share.
@Suite struct CopyTextEscapesTests {
    private func escaped(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        CopyTextEscapes.escape(bytes[...], into: &output)
        return output
    }

    @Test("bytes that would end a field or a row, backslash and NUL are escaped; others stand for themselves")
    func escapes() {
        #expect(escaped(Array("plain é 🐝".utf8)) == Array("plain é 🐝".utf8))
        #expect(escaped([0x61, 0x5C, 0x09, 0x0A, 0x0D, 0x00, 0x62]) == Array(#"a\\\t\n\r\0b"#.utf8))
    }

    @Test("unescape gives back every byte escape wrote")
    func roundTrip() {
        let value: [UInt8] = Array(0...255)
        var back: [UInt8] = []
        CopyTextEscapes.unescape(escaped(value)[...], into: &back)
        #expect(back == value)
    }
}
