public import ForagerCore

/// Several problems found at once, printed one per line.
public struct Problems: Error, CustomStringConvertible {
    /// The problems, each saying where and what to do.
    public var problems: [ForagerError]

    /// The problems, in the order found.
    public init(problems: [ForagerError]) {
        self.problems = problems
    }

    public var description: String {
        problems.count == 1
            ? problems[0].description
            : "\(problems.count) problems:\n" + problems.map { "- \($0)" }.joined(separator: "\n")
    }
}
