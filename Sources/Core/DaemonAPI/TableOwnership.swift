/// Who owns a network namespace's IPVS table (docs/daemon.md, "Who owns the IPVS table").
///
/// tandemd holds an exclusive `flock` on ``lockPath(stateDirectory:networkNamespace:)`` for as long
/// as it runs against the kernel, with an ``Owner`` record in the file; `tandemctl ipvs` writes take
/// a shared lock on the same file for the length of their write and refuse when tandemd has it,
/// because its next repair pass would undo them. The file is per network namespace because each
/// namespace has its own IPVS table (two directors can run in two namespaces of one kernel).
public enum TableOwnership {
    /// `/run/tandem`: tandemd's and tandemctl's `--state-dir` default.
    public static let defaultStateDirectory = "/run/tandem"

    /// `STATE_DIR/ipvs-netns-INODE.lock`, where INODE names the network namespace (its
    /// `/proc/self/ns/net` inode).
    public static func lockPath(stateDirectory: String, networkNamespace: UInt64) -> String {
        let dir = stateDirectory.hasSuffix("/") && stateDirectory.count > 1 ? String(stateDirectory.dropLast()) : stateDirectory
        return "\(dir)/ipvs-netns-\(networkNamespace).lock"
    }

    /// `STATE_DIR/ipvs-netns-INODE.owned.json`: the services Tandem put in this namespace's IPVS table,
    /// so that a service taken out of the topology is removed on the next reload or apply, while a
    /// service Tandem never owned is never touched.
    public static func ownedRecordPath(stateDirectory: String, networkNamespace: UInt64) -> String {
        let lock = lockPath(stateDirectory: stateDirectory, networkNamespace: networkNamespace)
        return String(lock.dropLast(".lock".count)) + ".owned.json"
    }

    /// The tandemd that holds the lock, as it recorded itself in the lock file.
    public struct Owner: Sendable, Equatable, CustomStringConvertible {
        /// Its process id (`nil` when the record is empty: the lock was taken a moment ago).
        public var pid: Int32?
        /// Its `--node`.
        public var node: String?
        /// Its API, e.g. `http://127.0.0.1:9595`.
        public var statusURL: String?

        /// Creates a value.
        public init(pid: Int32? = nil, node: String? = nil, statusURL: String? = nil) {
            self.pid = pid; self.node = node; self.statusURL = statusURL
        }

        /// Reads the `key=value` record (`pid`, `node`, `status`) of a lock file.
        public init(record: [String: String]) {
            self.init(pid: record["pid"].flatMap { Int32($0) }, node: record["node"], statusURL: record["status"])
        }

        /// The fields tandemd writes (the lock itself adds `pid`).
        public var record: [String: String] {
            var r: [String: String] = ["program": "tandemd"]
            if let node { r["node"] = node }
            if let statusURL { r["status"] = statusURL }
            return r
        }

        /// `tandemd (pid 812, node d1, status http://127.0.0.1:9595)`.
        public var description: String {
            let parts = [pid.map { "pid \($0)" }, node.map { "node \($0)" }, statusURL.map { "status \($0)" }].compactMap { $0 }
            return parts.isEmpty ? "tandemd" : "tandemd (\(parts.joined(separator: ", ")))"
        }
    }

    /// What `tandemctl ipvs WRITE` says when `owner` holds the table. `command` is `drain`,
    /// `undrain` or `apply`.
    public static func refusal(owner: Owner, lockPath: String, command: String) -> String {
        let url = owner.statusURL.map { " --url \($0)" } ?? ""
        let instead = switch command {
        case "drain", "undrain": "use `tandemctl \(command) SERVICE MEMBER\(url) --token-file FILE`, which asks tandemd"
        default: "edit the topology file and reload tandemd (kill -HUP \(owner.pid.map(String.init) ?? "PID"))"
        }
        return "\(owner) owns this IPVS table (lock \(lockPath)); its next repair pass would undo a direct write. "
            + "Instead, \(instead), or stop tandemd first. Nothing was written."
    }
}
