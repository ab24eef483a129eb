public import ForagerCore
public import PGOutput

/// Encoding of rows into PostgreSQL's binary COPY format, for values that arrived in binary
/// (`binary 'true'`): each value is the type's send format, passed through with no conversion.
///
/// The data is ``header``, then rows (a 16-bit field count, then per field a 32-bit length, -1 for
/// NULL, and the bytes), then ``trailer``; integers are big-endian.
public enum CopyBinary {
    /// The signature `PGCOPY\n\377\r\n\0`, no flags, and an empty header extension.
    public static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    /// The field count -1 that ends the data.
    public static let trailer: [UInt8] = [0xFF, 0xFF]

    /// A value left out of the COPY data being built: it belongs right after the data's first
    /// `offset` bytes, and is sent from the message it arrived in, with no copy in between.
    public struct DeferredValue: Sendable {
        public let offset: Int
        public let bytes: ArraySlice<UInt8>
    }

    /// Appends a row of tuple columns, then, when given, `lsn` as `_forager_lsn` (pg_lsn's send
    /// format is its 64-bit value) and `deleted` as `_forager_deleted` (one byte).
    public static func appendRow(_ columns: [TupleColumn], lsn: LSN?, deleted: Bool?, to output: inout [UInt8]) throws(ForagerError) {
        var none: [DeferredValue] = []
        try appendRow(columns, lsn: lsn, deleted: deleted, to: &output, deferring: &none, atLeast: .max)
    }

    /// Appends a row like ``appendRow(_:lsn:deleted:to:)``, except that a value of `atLeast` bytes
    /// or more is not copied: only its length goes into `output`, and the value into `deferred`.
    public static func appendRow(
        _ columns: [TupleColumn], lsn: LSN?, deleted: Bool?, to output: inout [UInt8], deferring deferred: inout [DeferredValue],
        atLeast size: Int
    ) throws(ForagerError) {
        let count = columns.count + (lsn == nil ? 0 : 1) + (deleted == nil ? 0 : 1)
        appendInteger(UInt16(truncatingIfNeeded: count), to: &output)
        for index in columns.indices {
            try append(columns[index], to: &output, deferring: &deferred, atLeast: size)
        }
        if let lsn {
            appendInteger(UInt32(8), to: &output)
            appendInteger(lsn.value, to: &output)
        }
        if let deleted {
            appendInteger(UInt32(1), to: &output)
            output.append(deleted ? 1 : 0)
        }
    }

    @inline(__always)
    static func append(
        _ column: TupleColumn, to output: inout [UInt8], deferring deferred: inout [DeferredValue], atLeast size: Int
    ) throws(ForagerError) {
        switch column {
        case .null:
            appendInteger(UInt32.max, to: &output)
        case .binary(let bytes):
            appendInteger(UInt32(truncatingIfNeeded: bytes.count), to: &output)
            if bytes.count >= size {
                deferred.append(DeferredValue(offset: output.count, bytes: bytes))
            } else {
                output.append(contentsOf: bytes)
            }
        case .text:
            throw ForagerError(
                .binaryValues, "a value arrived as text in a stream of binary values (its type has no binary send function)",
                hint: "Nothing is lost: Forager starts the stream again from its checkpoint with values in text.")
        case .unchangedToast:
            throw ForagerError(.protocolViolation, "an unchanged TOAST value reached the COPY encoder unresolved")
        }
    }

    @inline(__always)
    static func appendInteger<Integer: FixedWidthInteger>(_ value: Integer, to output: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { output.append(contentsOf: $0) }
    }
}
