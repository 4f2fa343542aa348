// `--log-level`, and the one place an executable installs the log handler.
import ArgumentParser
import Foundation
import Logging
import Synchronization

/// `--log-level LEVEL` for every executable that logs; ``bootstrap(label:)`` installs
/// ``LineLogHandler`` as the process's logging backend and returns the executable's logger.
public struct LogOptions: ParsableArguments {
    /// The level names, lowest first, as swift-log spells them.
    public static let levels = Logger.Level.allCases.map(\.rawValue)

    /// Records below this level are dropped.
    @Option(help: ArgumentHelp("Log level: \(LogOptions.levels.joined(separator: ", ")).", valueName: "level"))
    public var logLevel = "info"

    /// Creates the option group with its default.
    public init() {}

    /// A level name that swift-log does not know is a usage error naming the ones it does.
    public func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel): want one of \(Self.levels.joined(separator: ", "))")
        }
    }

    /// The chosen level (validated).
    public var level: Logger.Level { Logger.Level(rawValue: logLevel) ?? .info }

    /// Installs ``LineLogHandler`` (journal form when standard error is the journal) and returns a
    /// logger labelled `label`. Call once, first thing in `run()`.
    public func bootstrap(label: String) -> Logger {
        LogOutput.bootstrap(level: level)
        return Logger(label: label)
    }
}

/// The process-wide logging backend.
public enum LogOutput {
    private static let installed = Mutex(false)

    /// Installs ``LineLogHandler`` at `level` for every logger made from now on, once per process
    /// (swift-log allows one bootstrap; a second call only keeps the first).
    public static func bootstrap(level: Logger.Level) {
        guard installed.withLock({ done in defer { done = true }; return !done }) else { return }
        let destination = LogDestination.detect(environment: ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level, destination: destination) }
    }
}
