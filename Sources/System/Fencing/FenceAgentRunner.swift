import Hosts
import Logging
import Net
import Syscall

/// A fence device: which agent to run for a host and with what options (any agent speaking the
/// standard protocol: `fence_ipmilan`, `fence_redfish`, `fence_xenapi`, `fence_virsh`, the lab's
/// `fence_tandemlab`…).
public struct FenceDevice: Sendable, Equatable {
    /// The agent: an absolute path, or a name found on `PATH`.
    public var agent: String
    /// Options passed as `key=value` lines on stdin (`ipaddr`, `login`, `plug`, …). Never secrets:
    /// these appear in logs.
    public var options: [String: String]
    /// Secret options, read from files at every run (key → path, e.g. `passwd` →
    /// `/etc/tandem/fence-h1.password`) through ``SecretFile`` (which refuses files others can read).
    /// Their values travel on the agent's stdin only: never in its arguments, never in a log.
    public var secretFiles: [String: String]
    /// Bound on one run; past it the agent's process group is killed and the run fails ("a timeout
    /// is a failure, not success": FenceAgentAPI.md). `fence_ipmilan`'s own power_timeout is 20 s.
    public var timeout: Duration

    /// Creates a device.
    public init(agent: String, options: [String: String] = [:], secretFiles: [String: String] = [:], timeout: Duration = .seconds(30)) {
        self.agent = agent; self.options = options; self.secretFiles = secretFiles; self.timeout = timeout
    }
}

/// One run of a fence agent.
public struct FenceRun: Sendable, Equatable {
    /// What it means for the controller.
    public var outcome: FenceOutcome
    /// How the agent process ended (nil when it was not started).
    public var termination: Subprocess.Termination?
    /// Its output (stdout and stderr), with every secret value replaced by `***`.
    public var output: String
    /// How long it ran.
    public var elapsed: Duration
}

/// Runs fence agents with the standard protocol (ClusterLabs fence-agents, doc/FenceAgentAPI.md):
/// `key=value` lines on stdin (`action`, the device's options, `nodename`, secrets), no arguments;
/// the exit status says what happened (off/on/reboot: 0 done, 1 not; status: 0 on, 2 off, 1
/// unknown). Bounded in time; a timeout is a failure.
public struct FenceAgentRunner: Sendable {
    private let logger: Logger

    /// Creates a runner that logs each run (options without secrets, outcome, time).
    public init(logger: Logger) { self.logger = logger }

    /// Runs `device`'s agent with `action` for `host` (sent as `nodename`).
    public func run(_ action: FenceAction, device: FenceDevice, host: String) async -> FenceRun {
        var log = logger
        log[metadataKey: "host"] = "\(host)"
        log[metadataKey: "fence_action"] = "\(action.rawValue)"
        log[metadataKey: "agent"] = "\(device.agent)"
        let input: [UInt8]
        let secrets: [String]
        switch Self.input(action, device: device, host: host) {
        case .refused(let reason):
            log.error("fence agent not run", metadata: ["reason": "\(reason)"])
            return FenceRun(outcome: .failed(reason: reason), termination: nil, output: "", elapsed: .zero)
        case .ready(let bytes, let values):
            input = bytes; secrets = values
        }
        log.info("fence agent started", metadata: [
            "options": "\(device.options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))",
            "secrets": "\(device.secretFiles.keys.sorted().map { "\($0)=<\(device.secretFiles[$0]!)>" }.joined(separator: " "))",
        ])
        let outcome: Subprocess.Outcome
        do {
            outcome = try await Subprocess.run([device.agent], input: input, timeout: device.timeout)
        } catch {
            let reason = "cannot run fence agent \(device.agent): \(error)"
            log.error("fence agent not run", metadata: ["reason": "\(reason)"])
            return FenceRun(outcome: .failed(reason: reason), termination: nil, output: "", elapsed: .zero)
        }
        var output = String(decoding: outcome.output, as: UTF8.self)
        for s in secrets where !s.isEmpty { output = output.replacing(s, with: "***") }
        let result = Self.meaning(action, outcome.termination, output: output, timeout: device.timeout)
        let level: Logger.Level = if case .failed = result { .warning } else if case .timedOut = result { .warning } else { .info }
        log.log(level: level, "fence agent finished", metadata: [
            "outcome": "\(result)", "elapsed": "\(outcome.elapsed.humanReadable)", "exit": "\(outcome.termination)",
        ])
        return FenceRun(outcome: result, termination: outcome.termination, output: output, elapsed: outcome.elapsed)
    }

    /// The agent's stdin, and the secret values (to redact from its output); or why it cannot run.
    enum AgentInput: Equatable {
        /// The stdin bytes, and the secret values in them.
        case ready([UInt8], secrets: [String])
        /// Why the agent cannot be run.
        case refused(String)
    }

    static func input(_ action: FenceAction, device: FenceDevice, host: String) -> AgentInput {
        var lines = ["action=\(action.rawValue)"]
        var options = device.options
        if options["nodename"] == nil { options["nodename"] = host }
        var secrets: [String] = []
        for (key, path) in device.secretFiles.sorted(by: { $0.key < $1.key }) {
            do {
                let value = try SecretFile.text(path, what: "fence device secret '\(key)' of host \(host)")
                options[key] = value
                secrets.append(value)
            } catch {
                return .refused(error.description)
            }
        }
        for (key, value) in options.sorted(by: { $0.key < $1.key }) where key != "action" {
            // The protocol has one argument per line: a newline would smuggle in another one.
            guard !key.isEmpty, !key.contains("="), !key.contains(where: \.isWhitespace) else {
                return .refused("fence option name '\(key)' of host \(host) is not a valid name (no '=', no white space)")
            }
            guard !value.contains(where: \.isNewline) else {
                return .refused("fence option '\(key)' of host \(host) contains a line break, which the fence-agent protocol cannot carry")
            }
            lines.append("\(key)=\(value)")
        }
        return .ready(Array((lines.joined(separator: "\n") + "\n").utf8), secrets: secrets)
    }

    /// What an agent's exit means for `action` (FenceAgentAPI.md, "Agent Operations and Return Values").
    static func meaning(_ action: FenceAction, _ termination: Subprocess.Termination, output: String, timeout: Duration) -> FenceOutcome {
        let said = output.split(whereSeparator: \.isNewline).last.map { ": \($0)" } ?? ""
        switch (action, termination) {
        case (_, .timedOut): return .timedOut(after: timeout)
        case (_, .cancelled): return .failed(reason: "cancelled before the agent finished")
        case (_, .signalled(let s)): return .failed(reason: "agent killed by signal \(s)\(said)")
        case (.status, .exited(0)): return .power(.on)
        case (.status, .exited(2)): return .power(.off)
        case (.status, .exited(1)): return .failed(reason: "status unknown: the device could not be reached (exit status 1)\(said)")
        case (.status, .exited(let s)): return .failed(reason: "status answered exit status \(s), which the protocol does not define\(said)")
        case (_, .exited(0)): return .succeeded
        case (_, .exited(let s)): return .failed(reason: "\(action.rawValue) failed (exit status \(s))\(said)")
        }
    }
}
