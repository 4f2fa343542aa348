import DaemonAPI
import Syscall

extension DaemonRunner {
    /// Claims this network namespace's IPVS table for this tandemd (``TableOwnership``): an exclusive
    /// `flock` on its lock file under `stateDirectory`, recording the pid, node and API URL, held until
    /// the lock is released or the process ends (a crash frees it). Waits up to 2 s for a
    /// `tandemctl ipvs` write that holds the file for a moment; refuses when another tandemd owns
    /// the table.
    static func claimIPVSTable(stateDirectory: String, node: String, apiHost: String, apiPort: Int) async throws(DaemonStartError) -> OwnershipLock {
        let path: String
        do { path = TableOwnership.lockPath(stateDirectory: stateDirectory, networkNamespace: try networkNamespaceInode()) } catch {
            throw DaemonStartError(description: "cannot tell which network namespace (and so which IPVS table) this is: \(error)")
        }
        let me = TableOwnership.Owner(node: node, statusURL: DaemonEndpoint.url(host: apiHost, port: apiPort))
        do {
            return try await OwnershipLock.acquire(path, mode: .exclusive, record: me.record, patience: .seconds(2))
        } catch {
            switch error {
            case .held(_, let record):
                let owner = TableOwnership.Owner(record: record)
                if let pid = owner.pid, processExists(pid) {
                    throw DaemonStartError(description: "another \(owner) already owns this network namespace's IPVS table "
                        + "(lock \(path)): stop it first, or try a topology with --dry-run-kernel")
                }
                throw DaemonStartError(description: "\(path) stayed locked for 2 s by another process (a `tandemctl ipvs` "
                    + "write that has not finished?): try again")
            case .system(let e):
                throw DaemonStartError(description: "cannot take the IPVS table's lock \(path): \(e); pass --state-dir DIR "
                    + "(a directory tandemd may write, default \(TableOwnership.defaultStateDirectory))")
            }
        }
    }
}
