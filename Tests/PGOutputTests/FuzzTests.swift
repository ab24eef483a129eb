import PGOutput
import PGOutputTestSupport
import Testing

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
struct XorShift64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
    }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

@Suite("fuzz")
struct FuzzTests {
    /// Bytes that tend to hit edge cases: NUL terminators, sign bits, markers and kinds.
    static let interesting: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x4E, 0x4B, 0x4F, 0x74, 0x62, 0x6E, 0x75]

    static func mutate(_ input: [UInt8], using rng: inout XorShift64) -> [UInt8] {
        var bytes = input
        for _ in 0...Int.random(in: 0...3, using: &rng) {
            let choice = Int.random(in: 0..<7, using: &rng)
            switch choice {
            case 0 where !bytes.isEmpty:  // flip one bit
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !bytes.isEmpty:  // overwrite with an interesting byte
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[at] = interesting.randomElement(using: &rng) ?? 0
            case 2:  // insert a random byte
                let at = Int.random(in: 0...bytes.count, using: &rng)
                bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
            case 3 where !bytes.isEmpty:  // delete a byte
                bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng))
            case 4:  // truncate
                bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
            case 5 where bytes.count >= 4:  // stomp a 4-byte field with 0xFF or 0x7F (negative / huge lengths)
                let at = Int.random(in: 0...(bytes.count - 4), using: &rng)
                let fill: UInt8 = Bool.random(using: &rng) ? 0xFF : 0x7F
                bytes[at] = fill
                for i in (at + 1)..<(at + 4) { bytes[i] = fill == 0x7F ? 0xFF : fill }
            case 6 where bytes.count >= 2:  // duplicate a run
                let start = Int.random(in: 0..<bytes.count, using: &rng)
                let end = Int.random(in: start...bytes.count, using: &rng)
                bytes.insert(contentsOf: bytes[start..<end], at: end)
            default:
                break
            }
        }
        return bytes
    }

    @Test("10,000 mutated fixtures throw or decode, never crash")
    func mutatedFixtures() {
        var rng = XorShift64(seed: 0x00F0_4A6E_5EED)
        let pgOutputFixtures = Fixtures.all.map(\.bytes)
        let framedFixtures =
            Fixtures.replication.map { PGOutputEncoder.encode($0) }
            + pgOutputFixtures.map {
                PGOutputEncoder.encode(.xLogData(XLogData(walStart: .zero, walEnd: .zero, serverTime: Fixtures.time, data: $0[...])))
            }

        var decoded = 0
        var failed = 0
        for iteration in 0..<10_000 {
            if iteration % 2 == 0 {
                let base = pgOutputFixtures[Int.random(in: 0..<pgOutputFixtures.count, using: &rng)]
                let mutated = Self.mutate(base, using: &rng)
                do {
                    let message = try PGOutputMessage.decode(mutated[...])
                    // Whatever decodes must survive a re-encode (unknown flag bits may be dropped,
                    // so compare values, not bytes).
                    let reencoded = PGOutputEncoder.encode(message)
                    #expect(try PGOutputMessage.decode(reencoded[...]) == message)
                    decoded += 1
                } catch {
                    #expect(error.bytes == mutated)
                    #expect(error.messageType == (mutated.first ?? 0))
                    failed += 1
                }
            } else {
                let base = framedFixtures[Int.random(in: 0..<framedFixtures.count, using: &rng)]
                let mutated = Self.mutate(base, using: &rng)
                do {
                    if case .xLogData(let xLogData) = try ReplicationMessage.decode(mutated) {
                        _ = try? PGOutputMessage.decode(xLogData.data)
                    }
                    decoded += 1
                } catch {
                    #expect(error.bytes == mutated)
                    failed += 1
                }
            }
        }
        // The mutations must actually exercise both outcomes.
        #expect(decoded > 100)
        #expect(failed > 1000)
    }

    @Test("random garbage throws an error that carries the bytes and a reason, or decodes to what encodes back the same")
    func randomGarbage() {
        var rng = XorShift64(seed: 42)
        let types: [UInt8] = Array("BCORYIUDTMwk".utf8)
        var refused = 0
        for _ in 0..<2_000 {
            var bytes = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !bytes.isEmpty, Bool.random(using: &rng) {
                bytes[0] = types.randomElement(using: &rng) ?? 0
            }
            do {
                let message = try PGOutputMessage.decode(bytes[...])
                let reencoded = PGOutputEncoder.encode(message)
                #expect(try PGOutputMessage.decode(reencoded[...]) == message)
            } catch {
                #expect(error.bytes == bytes && !error.reason.isEmpty)
                refused += 1
            }
            do {
                _ = try ReplicationMessage.decode(bytes)
            } catch {
                #expect(error.bytes == bytes && !error.reason.isEmpty)
            }
        }
        // Random bytes are almost never a valid message.
        #expect(refused > 1_900)
    }
}
