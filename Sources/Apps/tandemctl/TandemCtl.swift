import ArgumentParser

/// `tandemctl`: the operator's command line. Thin: each subcommand parses flags and calls a library.
@main
struct TandemCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandemctl",
        abstract: "Validate, plan and apply a Tandem site topology; inspect and drain the running site.",
        subcommands: [Validate.self, Plan.self, IPVSGroup.self, IPVSApply.self, IPVSDrain.self, IPVSUndrain.self, StatusCommand.self, RingCommand.self])
}
