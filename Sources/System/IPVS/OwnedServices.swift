import Foundation
import IPVSModel

/// The services Tandem put in one network namespace's IPVS table, kept in a small JSON file (see
/// `TableOwnership.ownedRecordPath`), so that a service taken out of the topology leaves the kernel
/// on the next reload or `tandemctl ipvs apply`, as keepalived does, while a service Tandem never
/// owned (added by hand or by another tool) is never touched. The file sits under the state
/// directory (`/run/tandem` by default): after a reboot both it and the kernel table are empty.
public struct OwnedServicesRecord: Sendable {
    /// The file.
    public let path: String

    /// A record at `path`.
    public init(path: String) { self.path = path }

    /// Why the record could not be read or written.
    public struct RecordError: Error, Sendable, CustomStringConvertible {
        /// What happened and what to do.
        public var description: String
    }

    private struct File: Codable {
        var version = 1
        var services: [ServiceKey]
    }

    /// The services recorded, or `nil` when there is no record yet (a first run owns nothing old).
    public func load() throws(RecordError) -> Set<ServiceKey>? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return Set(try JSONDecoder().decode(File.self, from: data).services)
        } catch {
            throw RecordError(description: "cannot read the record of owned IPVS services \(path): \(error); "
                + "remove it to start afresh (services it listed are then left in the kernel, never deleted)")
        }
    }

    /// Replaces the record with `services` (written to a temporary file, synced, then renamed, so a
    /// crash leaves the old record or the new one, never half of one).
    public func save(_ services: Set<ServiceKey>) throws(RecordError) {
        let tmp = path + ".tmp"
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let data = try JSONEncoder().encode(File(services: services.sorted()))
            guard FileManager.default.createFile(atPath: tmp, contents: data) else {
                throw RecordError(description: "cannot write \(tmp)")
            }
            let fd = open(tmp, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            guard rename(tmp, path) == 0 else { throw RecordError(description: "cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))") }
        } catch let e as RecordError {
            throw e
        } catch {
            throw RecordError(description: "cannot write the record of owned IPVS services \(path): \(error)")
        }
    }
}
