import Foundation
import Keepalived
import Syscall
import Topology
import XCTest

/// Repository root, found from this file's path.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// `Fixtures/<name>` of this test target.
func fixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
}

/// The reader as tandemctl builds it: the real file system and glob(3).
func reader(configID: String? = nil) -> KeepalivedReader {
    KeepalivedReader(configID: configID, read: { String(decoding: try readWholeFile($0), as: UTF8.self) }, glob: globPaths)
}

/// A scratch directory, removed by the caller's `defer`.
func scratchDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "keepalived-tests-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Writes `text` to `dir/name`, creating directories.
@discardableResult
func write(_ text: String, _ name: String, in dir: String) throws -> String {
    let path = dir + "/" + name
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Imports `path` and parses the result; a refused result fails the test with the loader's words.
func importTopology(_ path: String, options: KeepalivedImportOptions = .init(), configID: String? = nil,
                    file: StaticString = #filePath, line: UInt = #line) throws -> (result: KeepalivedImport, topology: Topology) {
    let config = try reader(configID: configID).read(path)
    let result = KeepalivedImporter.convert(config, options: options)
    do {
        return (result, try TopologyLoader.parse(data: Data(result.yaml.utf8), file: "\(path).yaml").topology)
    } catch {
        XCTFail("\(path): the imported topology is refused:\n\(error)\n\(result.yaml)", file: file, line: line)
        throw error
    }
}
