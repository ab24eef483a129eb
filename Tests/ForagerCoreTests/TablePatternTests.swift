import ForagerCore
import Testing

@Suite("Table patterns")
struct TablePatternTests {
    private func matches(_ pattern: String, _ schema: String, _ name: String) throws -> Bool {
        try TablePattern(parsing: pattern).matches(TableName(schema: schema, name: name))
    }

    @Test func starAndQuestionMarkMatchInUnquotedParts() throws {
        #expect(try matches("public.*", "public", "samples"))
        #expect(try matches("public.*", "public", "Weird Table"))
        #expect(try !matches("public.*", "sensors", "samples"))
        #expect(try matches("*.events", "sensors", "events"))
        #expect(try matches("sensors.reading_?", "sensors", "reading_1"))
        #expect(try !matches("sensors.reading_?", "sensors", "reading_10"))
        #expect(try matches("sensors.r*g*1", "sensors", "reading_1"))
        #expect(try !matches("sensors.r*g*1", "sensors", "reading_12"))
        #expect(try matches("s*", "public", "samples"))
    }

    @Test func quotedPartsMatchLiterallyAndUnquotedLettersFold() throws {
        #expect(try matches(#"public."Weird*""#, "public", "Weird*"))
        #expect(try !matches(#"public."Weird*""#, "public", "Weird Table"))
        #expect(try matches("PUBLIC.Sample*", "public", "samples"))
        #expect(try !matches("public.Sample*", "public", "Samples"))
        #expect(try matches(#""Sensors".*"#, "Sensors", "x"))
    }

    @Test func wildcardDetectionIgnoresQuotedStars() {
        #expect(TablePattern.hasWildcard("public.*"))
        #expect(TablePattern.hasWildcard("reading_?"))
        #expect(!TablePattern.hasWildcard(#"public."a*b""#))
        #expect(!TablePattern.hasWildcard("public.samples"))
    }

    @Test func malformedPatternsAreRefusedWithAReason() {
        #expect(throws: TableNameError.self) { try TablePattern(parsing: "a.b.*") }
        #expect(throws: TableNameError.self) { try TablePattern(parsing: #"public."open*"#) }
    }
}
