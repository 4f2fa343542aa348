import Foundation

/// The package's executables as built beside the test bundle (`.build/debug/tandemd`, …).
public enum BuildProducts {
    /// The executable `name` (tandemd, tandemctl) next to the running test bundle, or up to four
    /// directories above it; `nil` when it was not built.
    public static func path(_ name: String) -> URL? {
        var binary = directory.appendingPathComponent(name)
        for _ in 0..<4 where !FileManager.default.isExecutableFile(atPath: binary.path) {
            binary = binary.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(name)
        }
        return FileManager.default.isExecutableFile(atPath: binary.path) ? binary : nil
    }

    /// The directory that holds the running test bundle.
    public static var directory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }
}
