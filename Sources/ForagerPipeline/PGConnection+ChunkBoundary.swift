import LibPQ

extension PGConnection {
    /// The last key of the `size` rows after `after`, as text; nil when fewer remain.
    func chunkBoundary(_ checksum: ChunkChecksum, after: [String]?, size: Int) async throws -> [String]? {
        try await query(checksum.boundaryQuery(after: after != nil, size: size), after ?? []).rows.first.map { $0.map { $0 ?? "" } }
    }
}
