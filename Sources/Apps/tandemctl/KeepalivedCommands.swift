import ArgumentParser
import Foundation
import Keepalived
import Net
import Syscall
import Topology
import TopologyFiles

/// `tandemctl import keepalived FILE`.
struct ImportGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Turn another load balancer's configuration into a Tandem topology.",
        subcommands: [ImportKeepalived.self])
}

/// `tandemctl export keepalived TOPOLOGY --node NAME`.
struct ExportGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a Tandem topology as another load balancer's configuration.",
        subcommands: [ExportKeepalived.self])
}

struct ImportKeepalived: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keepalived",
        abstract: "Turn keepalived.conf (and its include files) into a Tandem topology.",
        discussion: """
            The topology goes to standard output (or --output), with the file's comments where they \
            stood; every keyword Tandem cannot map one to one is listed on standard error as \
            FILE:LINE: KEYWORD: what Tandem does instead, and at the end of the topology. The result \
            is checked as `tandemctl validate` checks it. Exit status: 0 when the topology is valid, \
            1 when it is not (or FILE cannot be read).
            """)

    @Argument(help: "keepalived.conf")
    var file: String

    @Option(help: "The site's name (default: router_id).")
    var site: String?

    @Option(help: "keepalived's -i ID: which @ID lines apply.")
    var configID: String?

    @Option(help: ArgumentHelp("A director machine as NAME=ADDRESS: this node first, then its peer (keepalived.conf names neither unless it sends unicast adverts).",
                               valueName: "NAME=ADDRESS"))
    var director: [String] = []

    @Option(name: .shortAndLong, help: "Write the topology to this file instead of standard output.")
    var output: String?

    func validate() throws {
        guard director.isEmpty || director.count == 2 else { throw ValidationError("--director: give both directors, this node then its peer (found \(director.count))") }
        for d in director where parseDirector(d) == nil {
            throw ValidationError("--director \(d): want NAME=ADDRESS, for example lb1=192.0.2.11")
        }
    }

    private func parseDirector(_ text: String) -> KeepalivedDirector? {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, let a = IPAddress(parts[1]) else { return nil }
        return KeepalivedDirector(name: parts[0], address: a)
    }

    func run() throws {
        let config: KeepalivedConfig
        do {
            config = try KeepalivedReader(configID: configID, read: { String(decoding: try readWholeFile($0, limit: 16 << 20), as: UTF8.self) },
                                          glob: globPaths).read(file)
        } catch {
            throw fail("\(file): cannot read: \(error)")
        }
        let result = KeepalivedImporter.convert(config, options: .init(site: site, directors: director.compactMap(parseDirector)))
        for p in config.problems { printError("\(p)") }
        for n in result.notes { printError("\(n)") }
        printError("\(file): \(config.files.count) file\(config.files.count == 1 ? "" : "s") read; \(result.services) service\(result.services == 1 ? "" : "s"), "
                   + "\(result.members) member\(result.members == 1 ? "" : "s")\(result.directorPair ? ", a director pair" : ""); "
                   + "\(result.mappedCount) statements mapped, \(result.notes.count) noted above")
        try emit(result.yaml, to: output)
        if let invalid = result.invalid {
            throw fail("the imported topology is not valid (a bug in the import, or a configuration keepalived itself would refuse):\n\(invalid)")
        }
    }
}

struct ExportKeepalived: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keepalived",
        abstract: "Write one director's keepalived.conf (VRRP and checkers) from a Tandem topology.",
        discussion: """
            For a cautious site, or a lab that runs keepalived beside tandemd from the same file. \
            What keepalived cannot do as Tandem does is said in `!` comments at the top of the file \
            and on standard error. `keepalived -t -f FILE` accepts the result.
            """)

    @Argument(help: "Topology file (YAML).")
    var topology: String

    @Option(help: "The director this configuration is for (a member of a director pair).")
    var node: String

    @Option(help: "VRRP interface (default: the pair's `interface`).")
    var vrrpInterface: String?

    @Option(help: "Interface the VIPs go on (default: the VRRP interface).")
    var vipInterface: String?

    @Option(help: "Interface of the IPVS sync daemons, or `none` for no lvs_sync_daemon (default: the VRRP interface).")
    var syncInterface: String?

    @Option(help: "Advert interval in milliseconds (default: the pair's advert_interval).")
    var advertIntervalMs: Int?

    @Option(help: "keepalived's router_id (default: the node's name).")
    var routerID: String?

    @Option(name: .shortAndLong, help: "Write the configuration to this file instead of standard output.")
    var output: String?

    func run() throws {
        let t: Topology
        do { t = try TopologyLoader.load(path: topology) } catch { throw fail(error.description) }
        var o = KeepalivedExportOptions(node: node)
        o.vrrpInterface = vrrpInterface; o.vipInterface = vipInterface; o.routerID = routerID
        o.advertIntervalMs = advertIntervalMs
        if let s = syncInterface { o.syncInterface = s == "none" ? .none : .interface(s) }
        let result: KeepalivedExport
        do { result = try KeepalivedExporter.config(t, options: o) } catch { throw fail("\(topology): \(error)") }
        for n in result.notes { printError("\(topology): \(n)") }
        try emit(result.text, to: output)
    }
}
