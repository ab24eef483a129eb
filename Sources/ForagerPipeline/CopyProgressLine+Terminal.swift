import Glibc

extension CopyProgressLine {
    /// On a terminal, redraws the copy's progress (as `progress` tells it) on one line of stderr
    /// twice a second until the task is cancelled; nil when stderr is no terminal (the metrics and
    /// /status carry the same numbers).
    static func drawOnTerminal(_ progress: @escaping @Sendable () -> [Table]) -> Task<Void, Never>? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        return Task {
            var drawn = false
            while !Task.isCancelled {
                writeToTerminal("\r\u{1B}[K" + render(progress()))
                drawn = true
                try? await Task.sleep(for: .milliseconds(500))
            }
            if drawn { writeToTerminal("\r\u{1B}[K" + render(progress()) + "\n") }
        }
    }

    private static func writeToTerminal(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
