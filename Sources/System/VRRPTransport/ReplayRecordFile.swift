// Where a receiver keeps its replay guard's memory across restarts (docs/director.md, replay protection).
#if canImport(Glibc)
import Glibc
#endif
import Syscall
import VRRP

/// Why a stored replay record could not be used.
public struct ReplayRecordFileError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The file.
    public var path: String
    /// What is wrong with it.
    public var problem: String

    /// What happened and what to do.
    public var description: String {
        "replay record \(path): \(problem); the instance starts without it and trusts the first authentic advert from each " +
            "peer, as on a first start. Remove or fix the file (it is rewritten after the next accepted advert)"
    }
}

/// The replay guard's memory (``VRRP/ReplayRecord``) as a small JSON file beside the key file:
/// `<key file>.vrid<N>.replay.json`, e.g. `/etc/tandem/vrrp.key.vrid51.replay.json`.
///
/// Why beside the key: the record is only meaningful with that key (a new key starts a new history),
/// it lives wherever the operator already keeps the pair's secret, and both `tandem-vrrp` and `tandemd`
/// find it without another flag. The VRID is in the name because two instances may share a key.
/// The instance rewrites it (through its writer thread, never the loop) after every accepted advert,
/// and once more, synchronously, when it stops.
public enum ReplayRecordFile {
    /// The record's path for `keyFile` and `vrid`: beside the key, or in `directory` when given (an
    /// installed tandemd keeps it in /var/lib/tandem: under systemd's `ProtectSystem=strict` the
    /// key's directory in /etc is read-only).
    public static func path(keyFile: String, vrid: UInt8, directory: String? = nil) -> String {
        guard let directory else { return "\(keyFile).vrid\(vrid).replay.json" }
        let name = keyFile.split(separator: "/").last.map(String.init) ?? keyFile
        return "\(directory)/\(name).vrid\(vrid).replay.json"
    }

    /// Reads the record at `path`; `nil` when there is none yet (first start). Throws, naming the
    /// file and the problem, when it exists but cannot be read or is not a record.
    public static func load(_ path: String) throws(ReplayRecordFileError) -> ReplayRecord? {
        let bytes: [UInt8]
        do { bytes = try readWholeFile(path, limit: 1 << 20) } catch {
            if error.errno == ENOENT { return nil }
            throw ReplayRecordFileError(path: path, problem: error.description)
        }
        do { return try StatusJSON.decode(ReplayRecord.self, from: bytes) } catch {
            throw ReplayRecordFileError(path: path, problem: "not a replay record (\(error))")
        }
    }

    /// The record as the file holds it.
    static func encode(_ record: ReplayRecord) -> [UInt8] {
        // Encoding plain integers and addresses cannot fail; an empty record is the safe fallback.
        (try? StatusJSON.encode(record)) ?? Array("{\"senders\":[]}\n".utf8)
    }
}
