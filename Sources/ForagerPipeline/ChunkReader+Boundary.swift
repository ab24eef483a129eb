import PostgresSource

extension ChunkReader {
    /// The last key of the `size` rows after `after`, as text; nil when fewer remain.
    func chunkBoundary(_ checksum: ChunkChecksum, after: [String]?, size: Int) async throws -> [String]? {
        try await rows(checksum.boundaryQuery(after: after != nil, size: size), after ?? []).first.map { $0.map { $0 ?? "" } }
    }
}
