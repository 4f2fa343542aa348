import Syscall
import Topology

/// What `tandemctl validate` checks of the fence devices' secret files.
public enum FenceSecrets {
    /// Every fence secret file of the topology that would be refused when the agent runs (missing,
    /// not a regular file, readable by others, owned by someone else), one line each with its key
    /// path, e.g. `hosts[0].fence.secret_files.passwd: …`. The secrets are not read.
    public static func problems(in topology: Topology) -> [(keyPath: String, problem: String)] {
        var out: [(keyPath: String, problem: String)] = []
        for (i, host) in topology.hosts.enumerated() {
            for (option, path) in (host.fence?.secretFiles ?? [:]).sorted(by: { $0.key < $1.key }) {
                do { try SecretFile.check(path, what: "fence secret '\(option)' of host \(host.name)") } catch {
                    out.append(("hosts[\(i)].fence.secret_files.\(option)", error.description))
                }
            }
        }
        return out
    }
}
