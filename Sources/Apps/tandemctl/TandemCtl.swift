import ArgumentParser
import BuildInfo

/// `tandemctl`: the operator's command line. Thin: each subcommand parses flags and calls a library.
@main
struct TandemCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandemctl",
        abstract: "Validate and plan a Tandem site topology; ask the running tandemd for its status and to drain members; program IPVS directly where no tandemd runs.",
        discussion: """
            Exit status, for every command: 0 ok; 1 a problem found (an invalid file, a member down, \
            an operation refused); 2 a usage error; 3 tandemd cannot be reached.
            """,
        version: TandemBuild.versionText("tandemctl"),
        subcommands: [Validate.self, Plan.self, StatusCommand.self, DrainCommand.self, UndrainCommand.self,
                      IPVSGroup.self, IPVSApply.self, RingCommand.self, SchemaCommand.self,
                      ImportGroup.self, ExportGroup.self, DrillGroup.self, AcceptanceCommand.self, HostsGroup.self, PlaceCommand.self])

    /// Parses and runs the command. argument-parser ends a usage error with 64 (EX_USAGE); tandemctl's
    /// scripts contract says 2, so those are caught here. Every other error keeps its status.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                exit(withError: Exit.usage)
            }
            exit(withError: error)
        }
    }
}
