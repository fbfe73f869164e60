/// Log levels, numbered as Python's logging module numbers them (and as suprsend.h does).
public enum LogLevel: Int32, Sendable, Comparable {
    case debug = 10
    case info = 20
    case warning = 30
    case error = 40

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Where log lines go. The closure is called on the thread that logs, maybe from many
/// threads at once; a line that is below the minimum level is never formatted.
public struct Logger: Sendable {
    public var minimumLevel: Int32
    let sink: (@Sendable (LogLevel, String) -> Void)?

    public static let off = Logger(minimumLevel: Int32.max, sink: nil)

    public init(minimumLevel: Int32, sink: (@Sendable (LogLevel, String) -> Void)?) {
        self.minimumLevel = minimumLevel
        self.sink = sink
    }

    @inline(__always)
    public func isEnabled(_ level: LogLevel) -> Bool {
        sink != nil && level.rawValue >= minimumLevel
    }

    /// Formats the line now and writes it now, or, inside a section that fork() waits for,
    /// right after this thread leaves it: the sink may be the host's callback, which must not
    /// run where it could deadlock a fork (see `ForkGeneration.afterSection`).
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard isEnabled(level), let sink else { return }
        let line = message()
        ForkGeneration.afterSection { sink(level, line) }
    }
}
