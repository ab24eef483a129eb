public import ForagerCore
import Foundation
import Glibc
public import PGOutput

/// Keeps the changes of transactions that PostgreSQL streams before they commit (protocol 2,
/// `streaming 'on'`) in local files, one per transaction, until Stream Commit replays them in
/// order or Stream Abort drops them: memory holds one write buffer per open transaction, whatever
/// its size.
///
/// A record is the position of the message (8 bytes), its length (4 bytes) and the raw pgoutput
/// message, transaction id included. A subtransaction's changes start at a known offset of its
/// transaction's file and everything after it belongs to it or to its own subtransactions (a
/// session works in one subtransaction at a time), so a subtransaction abort truncates the file
/// there, as PostgreSQL's own apply worker does.
///
/// Nothing is fsynced: after a crash the source streams every uncommitted transaction again, and
/// the directory is emptied when a spill opens it.
public struct StreamSpill: TransactionSpill {
    private struct Spilled: Sendable {
        var descriptor: Int32
        /// Bytes written to the file, and bytes waiting in `buffer`.
        var written: Int
        var buffer: [UInt8] = []
        /// The offset of each subtransaction's first change, in the order they started.
        var subtransactions: [(xid: UInt32, offset: Int)] = []
        var size: Int { written + buffer.count }
    }

    /// The directory the files live in.
    public let directory: String
    private var open: [UInt32: Spilled] = [:]
    /// The transaction whose block is being received, between Stream Start and Stream Stop.
    public private(set) var current: UInt32?
    static let bufferLimit = 1 << 20

    /// Opens (creating it if needed) `directory` and removes what an earlier run left there.
    public init(directory: String) throws(ForagerError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".spill") {
                try FileManager.default.removeItem(atPath: directory + "/" + name)
            }
        } catch {
            throw ForagerError(
                .configuration, "cannot use \(directory) for the changes of large transactions: \(error)",
                hint: "Make the directory writable by Forager, or set source.spill_dir to one that is (on disk, not tmpfs).")
        }
    }

    /// Bytes kept for transactions not yet committed or aborted.
    public var bytes: Int { open.values.reduce(0) { $0 + $1.size } }

    /// How many transactions are open.
    public var transactions: Int { open.count }

    private func path(_ xid: UInt32) -> String { "\(directory)/\(xid).spill" }

    /// A block of `start.xid`'s changes begins.
    public mutating func start(_ start: StreamStart) throws(ForagerError) {
        guard current == nil else {
            throw ForagerError(
                .protocolViolation, "Stream Start of transaction \(start.xid) arrived inside the block of transaction \(current!)")
        }
        if open[start.xid] == nil {
            let descriptor = Glibc.open(path(start.xid), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw failure("create", path(start.xid)) }
            open[start.xid] = Spilled(descriptor: descriptor, written: 0)
        }
        current = start.xid
    }

    /// The block ends; its buffered changes are written out.
    public mutating func stop() throws(ForagerError) {
        guard let xid = current else { throw ForagerError(.protocolViolation, "Stream Stop arrived outside a stream block") }
        current = nil
        try flush(xid)
    }

    /// Keeps one message of the current block: `subxid` is the (sub)transaction it names, `lsn`
    /// its position, `message` its raw bytes.
    public mutating func append(subxid: UInt32, lsn: LSN, message: ArraySlice<UInt8>) throws(ForagerError) {
        guard let xid = current, open[xid] != nil else {
            throw ForagerError(.protocolViolation, "a streamed change of transaction \(subxid) arrived outside a stream block")
        }
        if subxid != xid, !open[xid]!.subtransactions.contains(where: { $0.xid == subxid }) {
            open[xid]!.subtransactions.append((subxid, open[xid]!.size))
        }
        // The header straight into the buffer: no allocation per change.
        for shift in stride(from: 56, through: 0, by: -8) {
            open[xid]!.buffer.append(UInt8(truncatingIfNeeded: lsn.value >> UInt64(shift)))
        }
        for shift in stride(from: 24, through: 0, by: -8) {
            open[xid]!.buffer.append(UInt8(truncatingIfNeeded: UInt32(message.count) >> UInt32(shift)))
        }
        open[xid]!.buffer.append(contentsOf: message)
        if open[xid]!.buffer.count >= Self.bufferLimit { try flush(xid) }
    }

    /// Drops an aborted transaction, or the changes of an aborted subtransaction and of those
    /// that started after it.
    public mutating func abort(_ abort: StreamAbort) throws(ForagerError) {
        guard var spilled = open[abort.xid] else { return }
        if abort.subxid == abort.xid {
            close(abort.xid)
            return
        }
        guard let index = spilled.subtransactions.firstIndex(where: { $0.xid == abort.subxid }) else { return }
        let offset = spilled.subtransactions[index].offset
        spilled.subtransactions.removeSubrange(index...)
        if offset >= spilled.written {
            spilled.buffer.removeSubrange((offset - spilled.written)...)
        } else {
            spilled.buffer = []
            guard ftruncate(spilled.descriptor, off_t(offset)) == 0, lseek(spilled.descriptor, off_t(offset), SEEK_SET) >= 0 else {
                throw failure("truncate", path(abort.xid))
            }
            spilled.written = offset
        }
        open[abort.xid] = spilled
    }

    /// Hands over a committed transaction's file, written out, for ``SpillReader`` to replay; the
    /// spill forgets it. The reader removes the file when done.
    public mutating func commit(_ xid: UInt32) throws(ForagerError) -> SpillReader {
        guard open[xid] != nil else {
            throw ForagerError(.protocolViolation, "Stream Commit of transaction \(xid), of which no change was streamed")
        }
        try flush(xid)
        Glibc.close(open[xid]!.descriptor)
        open[xid] = nil
        return try SpillReader(path: path(xid))
    }

    /// Removes every file, and the directory when nothing else is in it (on shutdown: the source
    /// streams unfinished transactions again).
    public mutating func closeAll() {
        for xid in Array(open.keys) { close(xid) }
        current = nil
        rmdir(directory)
    }

    private mutating func close(_ xid: UInt32) {
        guard let spilled = open.removeValue(forKey: xid) else { return }
        Glibc.close(spilled.descriptor)
        unlink(path(xid))
    }

    private mutating func flush(_ xid: UInt32) throws(ForagerError) {
        guard var spilled = open[xid], !spilled.buffer.isEmpty else { return }
        open[xid] = nil
        defer { open[xid] = spilled }
        var done = 0
        while done < spilled.buffer.count {
            let count = spilled.buffer[done...].withUnsafeBytes { write(spilled.descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else {
                if count < 0 && errno == EINTR { continue }
                throw failure("write", path(xid))
            }
            done += count
        }
        spilled.written += done
        spilled.buffer.removeAll(keepingCapacity: true)
    }

    private func failure(_ what: String, _ path: String) -> ForagerError {
        ForagerError(
            .configuration, "cannot \(what) \(path), which holds a large transaction's changes: \(String(cString: strerror(errno)))",
            hint: "Free space in \(directory) or point source.spill_dir to a disk with room for the largest transaction.")
    }
}

/// Reads a committed transaction's spill file record by record, in bounded memory, and removes the
/// file at the end.
public struct SpillReader: SpilledTransaction, Sendable {
    private let path: String
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var position = 0
    private var finished = false

    init(path: String) throws(ForagerError) {
        self.path = path
        descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ForagerError(.configuration, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The next record (position and raw message), or nil at the end, when the file is removed.
    public mutating func next() throws(ForagerError) -> (lsn: LSN, message: ArraySlice<UInt8>)? {
        guard try fill(12) else {
            Glibc.close(descriptor)
            unlink(path)
            return nil
        }
        var lsn: UInt64 = 0
        for byte in buffer[position..<position + 8] { lsn = lsn << 8 | UInt64(byte) }
        var length = 0
        for byte in buffer[position + 8..<position + 12] { length = length << 8 | Int(byte) }
        guard try fill(12 + length) else { throw ForagerError(.protocolViolation, "\(path) ends inside a record") }
        // A copy of its own, as a message read from the stream is: the decoded rows refer to it,
        // and must not keep the read buffer (or its copies on the next refill) alive.
        let message = Array(buffer[position + 12..<position + 12 + length])
        position += 12 + length
        return (LSN(lsn), message[...])
    }

    /// Makes `count` bytes available from `position`; false at a clean end of file.
    private mutating func fill(_ count: Int) throws(ForagerError) -> Bool {
        while buffer.count - position < count {
            if position > 0 {
                buffer.removeSubrange(0..<position)
                position = 0
            }
            if finished {
                guard buffer.isEmpty else { throw ForagerError(.protocolViolation, "\(path) ends inside a record") }
                return false
            }
            let want = max(count - buffer.count, StreamSpill.bufferLimit)
            let start = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: want))
            let read = buffer[start...].withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, want) }
            guard read >= 0 else { throw ForagerError(.configuration, "cannot read \(path): \(String(cString: strerror(errno)))") }
            buffer.removeSubrange((start + read)...)
            if read == 0 { finished = true }
        }
        return true
    }

    /// Stops early and removes the file.
    public func discard() {
        Glibc.close(descriptor)
        unlink(path)
    }
}
