import PGOutput
import Testing

@Suite("LSN")
struct LSNTests {
    @Test(
        "formats like PostgreSQL",
        arguments: [
            (UInt64(0), "0/0"),
            (0x16_B374_D848, "16/B374D848"),
            (0x0000_0000_016B_3748, "0/16B3748"),
            (0x0000_0001_0000_0000, "1/0"),
            (UInt64.max, "FFFFFFFF/FFFFFFFF"),
        ])
    func format(value: UInt64, text: String) {
        #expect(LSN(value).description == text)
        #expect(LSN(string: text) == LSN(value))
    }

    @Test("parses case-insensitively and with leading zeros")
    func parseVariants() {
        #expect(LSN(string: "16/b374d848") == LSN(0x16_B374_D848))
        #expect(LSN(string: "00000016/0B374D84") == LSN(0x16_0B37_4D84))
        #expect(LSN(string: "00000000/00000000") == .zero)
        #expect(LSN(string: "aBc/DeF") == LSN(0xABC_0000_0DEF))
    }

    @Test(
        "rejects malformed text",
        arguments: [
            "", "1", "1/", "/1", "/", "G/1", "1/G", "1/2/3", "123456789/0", "0/123456789", " 1/2", "1/2 ", "1 /2",
            "-1/2", "+1/2", "0x1/2", "１/2", "1//2",
        ])
    func rejectsMalformed(_ text: String) {
        #expect(LSN(string: text) == nil)
    }

    @Test("round trips through its description")
    func roundTrip() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<1000 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            let lsn = LSN(state)
            #expect(LSN(string: lsn.description) == lsn)
        }
    }

    @Test("orders by position")
    func ordering() {
        #expect(LSN.zero < LSN(1))
        #expect(LSN(string: "0/FFFFFFFF")! < LSN(string: "1/0")!)
        #expect(LSN(string: "16/B374D848")! > LSN(string: "16/B374D847")!)
        #expect([LSN(3), LSN(1), LSN(2)].sorted() == [LSN(1), LSN(2), LSN(3)])
        #expect(LSN(.max) == LSN(string: "ffffffff/ffffffff"))
    }
}
