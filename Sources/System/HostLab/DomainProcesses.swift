import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension LabHosts {
    /// The domains of `host` that have a live process right now, read from the kernel rather than
    /// asked of libvirtd (which does not answer while the host hangs or is cut off, and which a
    /// crash leaves behind stale records for): each `run/lxc/DOM.pid` names the domain's
    /// controller, whose pid names the domain's cgroup (`machine/lxc-PID-DOM.libvirt-lxc`), and a
    /// domain counts as live when any process in that cgroup exists and is not a zombie — a
    /// stopped (hung) process counts too, the strictest reading of "running". Reads files only
    /// (no child processes), so it can run every 50 ms. The layout is the one hosts-lib.sh uses.
    public func liveDomains(on host: String) -> Set<String> {
        let runDir = "\(stateDir)/\(host)/run/lxc"
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: runDir) else { return [] }
        let roots = Self.machineCgroupRoots()
        var live: Set<String> = []
        for file in files where file.hasSuffix(".pid") && file != "driver.pid" {
            let domain = String(file.dropLast(4))
            guard let text = try? String(contentsOfFile: "\(runDir)/\(file)", encoding: .utf8),
                  let pid = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
            for root in roots {
                guard let procs = try? String(contentsOfFile: "\(root)/lxc-\(pid)-\(domain).libvirt-lxc/cgroup.procs", encoding: .utf8) else { continue }
                if procs.split(separator: "\n").contains(where: { Self.isAlive(String($0)) }) { live.insert(domain) }
                // One hierarchy lists every process of the cgroup; the others would say the same.
                break
            }
        }
        return live
    }

    /// The `machine` cgroup directories libvirt's LXC driver puts domains under: one per v1
    /// hierarchy, or the one of a unified (v2) tree.
    static func machineCgroupRoots() -> [String] {
        var roots: [String] = []
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/machine") { roots.append("/sys/fs/cgroup/machine") }
        for d in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let root = "/sys/fs/cgroup/\(d)/machine"
            if FileManager.default.fileExists(atPath: root) { roots.append(root) }
        }
        return roots
    }

    /// True if process `pid` exists and is not a zombie (`/proc/PID/stat`'s state after the name).
    static func isAlive(_ pid: String) -> Bool {
        guard !pid.isEmpty, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.range(of: ") ", options: .backwards) else { return false }
        return stat[close.upperBound...].first != "Z"
    }
}
