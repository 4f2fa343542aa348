// What every executable says to `--version`, and what `/metrics` exports as tandem_build_info.
import CBuildInfo

/// The version and commit this binary was built as.
///
/// The version is written here, once; the commit comes from the build (scripts/build-deb writes
/// `git rev-parse` into CBuildInfo's `commit.h`), so a plain `swift build` says `unknown` rather than a guess.
public enum TandemBuild {
    /// The release version (the Debian package's upstream version).
    public static let version = "0.1.0"

    /// The commit the binary was built from, or `unknown`.
    public static var commit: String { String(cString: tandem_build_commit()) }

    /// The `--version` text of `tool`: `tandemd 0.1.0 (commit 1a2b3c4d5e6f)`.
    public static func versionText(_ tool: String) -> String { "\(tool) \(version) (commit \(commit))" }
}
