// tandem-vrrp: one director's VRRPv3 instance, configured from the topology's director pair.
// Thin: parse flags, check privileges, wire VRRP + VRRPTransport, run. Logic lives in the libraries.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import BuildInfo
import LogOutput
import Logging
import Synchronization
import Topology
import UnixSignals
import VRRP
import VRRPTransport
import TopologyFiles

@main
struct TandemVRRP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem-vrrp",
        abstract: "Run one director's VRRPv3 instance from the topology's director pair.",
        discussion: "The director settings come from the topology (`directors`, and `directors.nodes.NODE` for this node); each flag below wins over them. Prints each state transition with its reason on stdout. SIGTERM/SIGINT stop cleanly: a master sends priority 0 and removes its VIPs. SIGHUP re-reads the topology and applies what can change live (priority, interval, preempt, VIPs, witness, fast detector); a change that needs a restart (VRID, interface, primary address) is refused with a message and nothing changes.",
        version: TandemBuild.versionText("tandem-vrrp"))

    @Option(help: "Topology file (YAML).") var topology: String
    @Option(help: "This director's VM name (a member of the director pair).") var node: String
    @Option(help: "Interface for adverts and VIPs (overrides the pair's `interface`).") var interface: String?
    @Option(help: "Interface for the VIPs when the heartbeat runs on its own link (default: --interface).") var vipInterface: String?
    @Option(help: "Primary address (IP source of adverts, the tie-breaker); default: the node's primary_address, else the VM's first address.") var primaryAddress: String?
    @Option(help: "The peer's heartbeat address, when --primary-address moves the heartbeat off the topology addresses (fast detector probes go there).") var peerPrimaryAddress: String?
    @Option(help: "Key file (mode 0600) for authenticated adverts and probes; both directors must use it (default: the topology's key_file).") var authKeyFile: String?
    @Option(help: "JSON status file, rewritten on every transition.") var statusFile: String?
    @Option(help: "Unicast peer address (repeatable); default: the node's unicast_peers, else multicast 224.0.0.18 / ff02::12.") var unicastPeer: [String] = []
    @Flag(help: "Disable preemption (RFC 5798 Preempt_Mode false).") var noPreempt = false
    @Option(help: "Preempt delay in milliseconds.") var preemptDelayMs: Int?
    @Option(help: "Delay before repeating gratuitous ARP / NA after takeover, ms (0: no repeat).") var announceRepeatMs: Int = 2000
    @Option(help: "Enable the fast detector: probe interval in milliseconds.") var fastDetectorMs: Int?
    @Option(help: "Fast detector: missed probes before the peer is declared down (default 3).") var fastDetectorMisses: Int?
    @Option(help: "Fast detector: SCHED_FIFO priority of its probe thread (1-99; 0 = normal priority; default 10). Falls back to normal priority, with a log line, where not permitted.")
    var fastDetectorPriority: Int?
    @Option(help: "Override the pair's priority for this node (1-255; testing).") var priority: Int?
    @Option(help: "Override the pair's advert interval in milliseconds (testing).") var advertIntervalMs: Int?
    @OptionGroup var log: LogOptions

    func run() async throws {
        guard geteuid() == 0 else {
            throw ValidationError("tandem-vrrp needs root: raw sockets (IP protocol 112), rtnetlink and AF_PACKET")
        }
        let topo: Topology
        do { topo = try TopologyLoader.load(path: topology) } catch { throw ValidationError("\(error)") }
        var o = DirectorOverrides()
        o.interface = interface
        o.vipInterface = vipInterface
        o.primaryAddress = primaryAddress
        o.peerPrimaryAddress = peerPrimaryAddress
        o.unicastPeers = unicastPeer
        o.preempt = noPreempt ? false : nil
        o.preemptDelay = preemptDelayMs.map { .milliseconds($0) }
        o.announceRepeat = announceRepeatMs > 0 ? .milliseconds(announceRepeatMs) : nil
        o.fastDetectorInterval = fastDetectorMs.map { .milliseconds($0) }
        o.fastDetectorMisses = fastDetectorMisses
        o.fastDetectorRealtimePriority = fastDetectorPriority.map { Int32(clamping: $0) }
        o.priority = priority
        o.advertInterval = advertIntervalMs.map { .milliseconds($0) }
        o.statusFile = statusFile
        o.authKeyFile = authKeyFile
        let key: [UInt8]?
        do { key = try DirectorSetup.loadKey(topology: topo, node: node, overrides: o) } catch { throw ValidationError(error.description) }
        let setup: DirectorSetup
        do { setup = try DirectorSetup.make(topology: topo, node: node, overrides: o, authKey: key) } catch {
            throw ValidationError("\(topology): \(error.description)")
        }
        let logger = log.bootstrap(label: "tandem-vrrp")
        let options = setup.options
        let instance: VRRPInstance
        do {
            instance = try VRRPInstance(options: options, logger: logger) { rec in
                print(rec.description)
                fflush(nil)  // nil flushes every stream; `stdout` is a C global Swift 6 refuses to touch
            }
        } catch { throw ValidationError("\(error)") }
        print("tandem-vrrp: \(setup.summary)")
        fflush(nil)  // nil flushes every stream; `stdout` is a C global Swift 6 refuses to touch
        // Signals: one mechanism, swift-service-lifecycle's UnixSignals (as tandemd's service group), one
        // sequence for all of them, registered before the loop starts and kept until exit. A second
        // source for SIGTERM, or one torn down early, can leave the signal blocked and unread: a drill
        // once found tandemd ignoring SIGTERM that way (docs/director.md).
        // SIGPIPE is trapped and dropped, so a reader that closed our stdout cannot kill a master
        // before it resigns.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup, .sigpipe)
        let reload = Reloader(path: topology, node: node, overrides: o, authKey: key, running: setup, instance: instance)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await instance.runOnDedicatedThread() }
            for await signal in signals {
                if signal == .sighup {
                    print(reload.apply())
                    fflush(nil)
                } else if signal == .sigterm || signal == .sigint {
                    instance.shutdown()  // the loop resigns (priority 0 if master, VIPs off) and returns
                    break
                }
            }
            await group.waitForAll()
        }
        print("tandem-vrrp: stopped (state \(instance.state))")
        fflush(nil)  // nil flushes every stream; `stdout` is a C global Swift 6 refuses to touch
    }
}

/// SIGHUP: the same live reload as tandemd's (``DirectorSetup/liveChanges(from:to:)``,
/// ``VRRPInstance/reconfigure(_:)``): re-read the topology, refuse what needs a restart.
final class Reloader: Sendable {
    let path: String
    let node: String
    let overrides: DirectorOverrides
    let authKey: [UInt8]?
    let running: Mutex<DirectorSetup>
    let instance: VRRPInstance

    init(path: String, node: String, overrides: DirectorOverrides, authKey: [UInt8]?, running: DirectorSetup, instance: VRRPInstance) {
        self.path = path; self.node = node; self.overrides = overrides; self.authKey = authKey
        self.running = Mutex(running); self.instance = instance
    }

    /// Applies the file's changes; returns the line to print.
    func apply() -> String {
        do {
            let topo = try TopologyLoader.load(path: path)
            let next = try DirectorSetup.make(topology: topo, node: node, overrides: overrides, authKey: authKey)
            let changes = try DirectorSetup.liveChanges(from: running.withLock { $0 }, to: next)
            if changes.isEmpty { return "tandem-vrrp: reload: nothing changed" }
            running.withLock { $0 = next }
            instance.reconfigure(next.options)
            return "tandem-vrrp: reload applied: " + changes.joined(separator: ", ")
        } catch {
            return "tandem-vrrp: reload refused, running configuration unchanged: \(error)"
        }
    }
}
