import ForagerCore
import Testing

@Suite struct JSONExtractTests {
    @Test(arguments: [
        ("temp", ["temp"]),
        ("climate.temp", ["climate", "temp"]),
        ("readings[0]", ["readings", "0"]),
        ("readings[12].value", ["readings", "12", "value"]),
        ("a[0][1]", ["a", "0", "1"]),
        ("\"odd.key\".x", ["odd.key", "x"]),
    ])
    func parsesPaths(text: String, expected: [String]) {
        #expect(JSONExtract.parsePath(text) == expected)
    }

    @Test(arguments: ["", ".", "a.", ".a", "a..b", "a[", "a[x]", "a[]", "[0]", "a[0]b", "\"\"", "\"open"])
    func rejectsMalformedPaths(text: String) {
        #expect(JSONExtract.parsePath(text) == nil)
    }

    @Test func quotesPathElementsInsideTheLiteral() {
        let extract = JSONExtract(column: "x", from: "payload", path: ["it's", "a\"b"], type: .text)
        let sql = extract.expression(source: "\"payload\"", sourceType: "jsonb")
        #expect(sql.contains(#"'{"it''s","a\"b"}'"#))
    }
}
