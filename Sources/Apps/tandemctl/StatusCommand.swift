import ArgumentParser
import Syscall
import DaemonAPI
import Foundation

/// `tandemctl status [--member SERVICE/MEMBER]...`: what `tandemd` sees, for people (or `--json`
/// for machines); with `--member`, a monitoring check that exits 1 when a member is not up.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show tandemd's services, members, check states and last transitions.",
        discussion: """
            With --member SERVICE/MEMBER (repeatable), print only those members and exit 1 when one \
            is not up (down, not checked yet, or unknown); a drained member that is up counts as up. \
            Exit 3 when tandemd cannot be reached.
            """)

    @OptionGroup var daemon: DaemonAddress
    @Option(name: .customLong("member"), help: "SERVICE/MEMBER to check (repeatable); exit 1 when it is not up.")
    var members: [String] = []
    @Flag(help: "Print tandemd's JSON report.") var json = false

    func validate() throws {
        for m in members where m.split(separator: "/", omittingEmptySubsequences: false).count != 2 || m.hasPrefix("/") || m.hasSuffix("/") {
            throw ValidationError("--member \(m): want SERVICE/MEMBER, e.g. gums/fg5x2")
        }
    }

    func run() async throws {
        let client = daemon.client
        let answer = try await client.get("status")
        guard answer.status == 200 else {
            throw fail("tandemctl: \(client.endpoint("status")) answered HTTP \(answer.status): \(answer.text.prefix(200))", Exit.unreachable)
        }
        let report = try client.decode(StatusReport.self, from: answer, "status")
        if json {
            print(answer.text)
        } else if members.isEmpty {
            print(report.rendered(), terminator: "")
        }
        let verdicts = members.map { report.verdict(for: $0) }
        if !json { for v in verdicts { print(v.line) } }
        if verdicts.contains(where: { !$0.up }) { throw Exit.problem }
    }
}

/// `SERVICE MEMBER`, as tandemd's API takes them.
struct MemberArguments: ParsableArguments {
    @Argument(help: "Service name.") var service: String
    @Argument(help: "Member VM name.") var member: String
}

/// `tandemctl drain SERVICE MEMBER --token-file FILE`: tandemd sets the member's weight to 0 (its
/// connections finish) and answers once the kernel holds it.
struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Ask tandemd to drain a member (weight 0, destination kept); prints how long the kernel took.",
        discussion: "Exit 1 when tandemd refuses (wrong token, unknown member) or the kernel has not taken the weight within 5 s; 3 when tandemd cannot be reached.")
    @OptionGroup var target: MemberArguments
    @OptionGroup var request: DrainRequest
    func run() async throws { try await request.send(drain: true, target) }
}

/// `tandemctl undrain SERVICE MEMBER --token-file FILE`: back to the member's health weight.
struct UndrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undrain",
        abstract: "Ask tandemd to undrain a member (back to its health weight); prints how long the kernel took.",
        discussion: DrainCommand.configuration.discussion)
    @OptionGroup var target: MemberArguments
    @OptionGroup var request: DrainRequest
    func run() async throws { try await request.send(drain: false, target) }
}

/// The options of `drain` and `undrain`, and the request they make.
struct DrainRequest: ParsableArguments {
    @OptionGroup var daemon: DaemonAddress
    @Option(help: "File holding tandemd's bearer token (its --token-file; mode 0600).") var tokenFile: String
    @Flag(help: "Print tandemd's JSON answer.") var json = false

    /// `POST /drain` or `/undrain`; prints tandemd's answer. Exit 0 when the kernel holds the new
    /// weight, 1 when tandemd refused or the kernel has not taken it yet.
    func send(drain: Bool, _ target: MemberArguments) async throws {
        let token: String
        do { token = try SecretFile.text(tokenFile, what: "token file") } catch { throw fail("tandemctl: \(error)") }
        let path = drain ? "drain" : "undrain"
        let client = daemon.client
        // tandemd waits up to 5 s for the kernel before it answers.
        let answer = try await client.post(path, query: [URLQueryItem(name: "service", value: target.service),
                                                         URLQueryItem(name: "member", value: target.member)],
                                           token: token, timeout: 15)
        switch answer.status {
        case 200, 202:
            let result = try client.decode(DrainResult.self, from: answer, path)
            print(json ? answer.text : result.rendered())
            if !result.applied { throw Exit.problem }
        case 400..<500:
            let problem = try client.decode(APIProblem.self, from: answer, path)
            if json { print(answer.text) }
            throw fail("tandemctl: tandemd refused to \(path) \(target.service)/\(target.member): \(problem.message)")
        default:
            throw fail("tandemctl: \(client.endpoint(path)) answered HTTP \(answer.status): \(answer.text.prefix(200))", Exit.unreachable)
        }
    }
}
