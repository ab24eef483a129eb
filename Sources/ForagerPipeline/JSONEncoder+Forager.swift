public import Foundation

extension JSONEncoder {
    /// The encoder of every JSON document Forager prints or serves: snake_case keys, sorted.
    public static var forager: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return encoder
    }
}
