import ForagerCore
import Testing

@Suite("Type widening")
struct TypeWideningTests {
    @Test(arguments: [
        ("smallint", "integer"), ("integer", "bigint"), ("smallint", "bigint"), ("integer", "numeric"),
        ("integer", "numeric(12,2)"), ("bigint", "numeric(19,0)"), ("real", "double precision"),
        ("character varying(40)", "character varying(80)"), ("character varying(40)", "character varying"),
        ("character varying(40)", "text"), ("text", "character varying"), ("numeric(8,3)", "numeric(12,3)"),
        ("numeric(8,3)", "numeric(10,5)"), ("numeric(8,3)", "numeric"), ("integer[]", "bigint[]"),
        ("timestamp(3) without time zone", "timestamp without time zone"), ("bit varying(4)", "bit varying(8)"),
        ("time(0) with time zone", "time(3) with time zone"),
    ])
    func widens(from old: String, to new: String) {
        #expect(TypeWidening.allows(from: old, to: new))
    }

    @Test(arguments: [
        ("bigint", "integer"), ("integer", "numeric(9,0)"), ("integer", "double precision"), ("integer", "text"),
        ("double precision", "real"), ("character varying(80)", "character varying(40)"), ("text", "character varying(10)"),
        ("numeric(8,3)", "numeric(8,2)"), ("numeric(8,3)", "numeric(9,5)"), ("numeric", "numeric(30,10)"),
        ("timestamp without time zone", "timestamp with time zone"), ("character(4)", "text"), ("integer[]", "bigint"),
        ("timestamp without time zone", "timestamp(3) without time zone"), ("text", "jsonb"),
    ])
    func refuses(from old: String, to new: String) {
        #expect(!TypeWidening.allows(from: old, to: new))
    }

    @Test(arguments: [
        ("0.1", "0.10000000149011612"), ("1", "1"), ("-2.5", "-2.5"), ("3.4028235e+38", "3.4028234663852886e+38"),
        ("1e-05", "9.999999747378752e-06"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("NaN", "NaN"),
    ])
    func realValuesWidenAsTheSourceCastsThem(real: String, double: String) {
        #expect(TypeWidening.realAsDouble(ArraySlice(real.utf8)).map { String(decoding: $0, as: UTF8.self) } == double)
    }

    @Test func realArraysWidenElementByElement() {
        let widened = TypeWidening.realArrayAsDoubleArray(ArraySlice("{{0.1,NULL},{Infinity,2}}".utf8))
        #expect(widened.map { String(decoding: $0, as: UTF8.self) } == "{{0.10000000149011612,NULL},{Infinity,2}}")
        #expect(TypeWidening.realAsDouble(ArraySlice("abc".utf8)) == nil)
        #expect(TypeWidening.realArrayAsDoubleArray(ArraySlice("{1,x}".utf8)) == nil)
    }
}
