public import ForagerCore

extension PostgresSource {
    /// The source's catalogue for the mapped tables `requests`, read while the stream runs (see
    /// ``SourceCatalogue``): a column's definition as ``describe(_:)`` gives it.
    public struct Catalogue: SourceCatalogue {
        let source: PostgresSource
        let requests: [TableRequest]

        public func columns(_ names: [String], of table: TableName) async throws -> [SourceColumn] {
            let described = try await source.describe(requests.filter { $0.source == table }).tables.first
            return described?.columns.filter { names.contains($0.name) } ?? []
        }
    }

    /// The catalogue of the tables `requests` map.
    public func catalogue(for requests: [TableRequest]) -> Catalogue {
        Catalogue(source: self, requests: requests)
    }
}
