import ArgumentParser
import Topology

/// `tandemctl schema [--output FILE]`: the topology file's JSON Schema, generated from the loader's
/// own tables; docs/topology.schema.json is its output, and a test fails when that file is stale.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the topology file's JSON Schema (draft-07), generated from the loader's tables.",
        discussion: """
            Editors check and complete topology files against it when a file's first line names it: \
            `# yaml-language-server: $schema=../docs/topology.schema.json`. Regenerate the published \
            copy with `tandemctl schema --output docs/topology.schema.json`.
            """)

    @Option(name: .shortAndLong, help: "Write the schema to this file instead of standard output.")
    var output: String?

    func run() throws {
        try emit(TopologyJSONSchema.text(), to: output)
    }
}
