import Testing

@testable import ForagerConfig

struct KeySuggestionTests {
    @Test(arguments: [
        ("slto", "slot"), ("sl0t", "slot"), ("URL", "url"), ("publicaton", "publication"),
        ("pub", "publication"), ("max-rows", "max_rows"), ("maxRows", "max_rows"),
    ])
    func suggestsCloseKeys(typed: String, expected: String) {
        #expect(KeySuggestion.closest(to: typed, among: ["url", "publication", "slot", "max_rows"]) == expected)
    }

    @Test(arguments: ["host", "x", "password", ""])
    func doesNotSuggestFarKeys(typed: String) {
        #expect(KeySuggestion.closest(to: typed, among: ["url", "publication", "slot"]) == nil)
    }

    @Test func editDistance() {
        #expect(KeySuggestion.editDistance("slto", "slot") == 1)
        #expect(KeySuggestion.editDistance("kitten", "sitting") == 3)
        #expect(KeySuggestion.editDistance("", "abc") == 3)
        #expect(KeySuggestion.editDistance("same", "same") == 0)
    }
}
