import ForagerCore
import PGOutput
import Testing

@Suite struct RowKeyTests {
    private func text(_ value: String) -> TupleColumn { .text(ArraySlice(value.utf8)) }

    @Test func aOneColumnKeyIsItsValueWhereverItsSliceStarts() {
        let message = Array("xx42".utf8)
        let inMessage = RowKey([.text(message[2...])])
        #expect(inMessage == RowKey([text("42")]))
        #expect(inMessage.hashValue == RowKey([text("42")]).hashValue)
        #expect(inMessage != RowKey([text("4")]))
        #expect(RowKey([.binary([0, 0, 0, 42])]) == RowKey([.binary(ArraySlice([9, 0, 0, 0, 42])[1...])]))
        #expect(RowKey([.binary([0, 0, 0, 42])]) != RowKey([.binary([0, 0, 0, 43])]))
    }

    @Test func aLongerKeyTellsWhereEachValueEnds() {
        #expect(RowKey([text("ab"), text("c")]) != RowKey([text("a"), text("bc")]))
        #expect(RowKey([text("a"), text("bc")]) == RowKey([text("a"), text("bc")]))
        #expect(RowKey([text("a"), .null]) != RowKey([text("a"), text("")]))
        #expect(RowKey([text("ab")]) != RowKey([text("ab"), .null]))
    }
}
