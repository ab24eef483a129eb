import ForagerCore
import Testing

@testable import ForagerPipeline

@Suite struct CopyProgressLineTests {
    @Test func oneLineWithTheTotalsAndEachTableInFlight() {
        let line = CopyProgressLine.render([
            .init(name: "public.samples", copied: 30 << 20, size: 100 << 20, done: false),
            .init(name: "public.hives", copied: 5 << 20, size: 4 << 20, done: true),
            .init(name: "public.yards", copied: 0, size: 1 << 30, done: false),
            .init(name: "public.alerts", copied: 900, size: 800, done: false),
        ])
        #expect(line == "copying: 1 of 4 tables done, 34.0 MiB of 1.1 GiB (3%); public.alerts 99%, public.samples 30%")
    }

    @Test func finishedAndEmptyCopies() {
        #expect(
            CopyProgressLine.render([.init(name: "t", copied: 0, size: 0, done: true)])
                == "copying: 1 of 1 table done, 0.0 MiB of 0.0 MiB (100%)")
        #expect(
            CopyProgressLine.render([.init(name: "t", copied: 512 << 10, size: nil, done: false)])
                == "copying: 0 of 1 table done, 0.5 MiB of 0.0 MiB (0%); t 0%")
    }
}
