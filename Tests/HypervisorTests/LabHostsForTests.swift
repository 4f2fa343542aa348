import HostLab
import TestSupport

extension LabHosts {
    /// A lab of `n` hosts driven by this repository's scripts/lab (the tests' checkout).
    static func up(_ n: Int, label: String) throws -> LabHosts { try up(n, label: label, repoRoot: RealRing.repoRoot) }
}
