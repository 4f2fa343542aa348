import HostLab
import TestSupport

extension LabHosts {
    /// A lab of `n` hosts driven by this repository's scripts/lab (the tests' checkout), its
    /// domains running the gridsvc built beside the tests.
    static func up(_ n: Int, label: String) throws -> LabHosts {
        try up(n, label: label, repoRoot: RealRing.repoRoot, gridsvc: try builtGridsvc())
    }

    /// The gridsvc built beside the test bundle (the lab's domains run it); an error naming what to
    /// build when it is missing.
    static func builtGridsvc() throws -> String {
        guard let url = BuildProducts.path("gridsvc") else {
            throw Unavailable(description: "gridsvc is not built beside the tests (\(BuildProducts.directory.path)); the lab's domains run it: swift build --build-tests builds it")
        }
        return url.path
    }
}
