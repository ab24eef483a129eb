internal import CLibPQ

extension PGConnection {
    /// Starts `COPY ... TO STDOUT`; read the data with `readCopyChunk(maxBytes:)` until it returns nil.
    public func startCopyOut(_ sql: String) async throws {
        let endpoint = self.endpoint
        try await withHandle { handle in
            try Self.startCopy(handle, sql: sql, status: PGRES_COPY_OUT, context: "COPY TO STDOUT on \(endpoint)")
            self.copyOutFinished = false
        }
    }

    /// Returns the next rows of a `COPY ... TO STDOUT`, concatenated up to about `maxBytes`
    /// (whole rows only), or nil once the copy has finished successfully.
    public func readCopyChunk(maxBytes: Int) async throws -> [UInt8]? {
        let endpoint = self.endpoint
        return try await withHandle { handle -> [UInt8]? in
            if self.copyOutFinished { return nil }
            var chunk: [UInt8] = []
            chunk.reserveCapacity(maxBytes + 4096)
            while chunk.count < maxBytes {
                var buffer: UnsafeMutablePointer<CChar>?
                let length = PQgetCopyData(handle, &buffer, 0)
                if length > 0, let buffer {
                    buffer.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
                        chunk.append(contentsOf: UnsafeBufferPointer(start: $0, count: Int(length)))
                    }
                    PQfreemem(buffer)
                } else if length == -1 {
                    self.copyOutFinished = true
                    try Self.finishCommand(handle, context: "COPY TO STDOUT on \(endpoint)")
                    return chunk.isEmpty ? nil : chunk
                } else {
                    throw Self.connectionError(handle, context: "COPY TO STDOUT on \(endpoint)")
                }
            }
            return chunk
        }
    }

    /// Starts `COPY ... FROM STDIN`; send data with `putCopyData(_:)`, then `endCopyIn()`.
    public func startCopyIn(_ sql: String) async throws {
        let endpoint = self.endpoint
        try await withHandle { handle in
            try Self.startCopy(handle, sql: sql, status: PGRES_COPY_IN, context: "COPY FROM STDIN on \(endpoint)")
        }
    }

    /// Sends bytes of COPY data; rows may span calls.
    public func putCopyData(_ bytes: [UInt8]) async throws {
        try await putCopyData(bytes[...])
    }

    /// Sends bytes of COPY data from wherever they are (a slice of a received message, say),
    /// without copying them first; rows may span calls.
    public func putCopyData(_ bytes: ArraySlice<UInt8>) async throws {
        guard !bytes.isEmpty else { return }
        let endpoint = self.endpoint
        try await withHandle { handle in
            try Self.put(handle, bytes, context: "COPY FROM STDIN on \(endpoint)")
        }
    }

    /// Ends `COPY ... FROM STDIN` and returns the number of rows the server stored.
    @discardableResult
    public func endCopyIn() async throws -> Int {
        let endpoint = self.endpoint
        return try await withHandle { handle in
            let context = "COPY FROM STDIN on \(endpoint)"
            guard PQputCopyEnd(handle, nil) == 1 else { throw Self.connectionError(handle, context: context) }
            return try Self.finishCommand(handle, context: context)
        }
    }

    static func startCopy(_ handle: OpaquePointer, sql: String, status: ExecStatusType, context: String) throws {
        guard let result = PQexec(handle, sql) else { throw connectionError(handle, context: context) }
        defer { PQclear(result) }
        let actual = PQresultStatus(result)
        guard actual == status else { throw resultError(result, handle: handle, context: context, status: actual) }
    }

    static func put(_ handle: OpaquePointer, _ bytes: ArraySlice<UInt8>, context: String) throws {
        let sent = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                PQputCopyData(handle, $0.baseAddress, Int32(buffer.count))
            }
        }
        guard sent == 1 else { throw connectionError(handle, context: context) }
    }

    /// Collects the results that end a command; throws the first error. Returns the affected row count.
    @discardableResult
    static func finishCommand(_ handle: OpaquePointer, context: String) throws -> Int {
        var affected = 0
        var failure: PGError?
        while let result = PQgetResult(handle) {
            let status = PQresultStatus(result)
            if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK {
                affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            } else if failure == nil {
                failure = resultError(result, handle: handle, context: context, status: status)
            }
            PQclear(result)
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH { break }
        }
        if let failure { throw failure }
        if PQstatus(handle) != CONNECTION_OK { throw connectionError(handle, context: context) }
        return affected
    }
}
