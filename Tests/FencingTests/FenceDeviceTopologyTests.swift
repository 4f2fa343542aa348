import Fencing
import Foundation
import Hosts
import Logging
import Topology
import XCTest

/// A topology's `hosts[].fence` becomes the device the runner drives, with nothing lost on the way.
final class FenceDeviceTopologyTests: XCTestCase {
    func testAHostFenceBecomesTheDeviceWithItsOptionsSecretsAndTimeout() {
        let spec = HostFence(agent: "fence_ipmilan", options: ["ip": "192.0.2.7", "lanplus": "1"],
                             secretFiles: ["password": "/etc/tandem/fence-h1.password"], timeoutSeconds: 12.5, attempts: 4)
        XCTAssertEqual(FenceDevice(spec), FenceDevice(agent: "fence_ipmilan", options: ["ip": "192.0.2.7", "lanplus": "1"],
                                                      secretFiles: ["password": "/etc/tandem/fence-h1.password"],
                                                      timeout: .milliseconds(12_500)))
    }

    func testTheConvertedDeviceRunsTheAgentWithTheTopologysOptionsAndSecretOnStdin() async throws {
        let dir = NSTemporaryDirectory() + "tandem-fence-topo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let agent = "\(dir)/agent", secret = "\(dir)/password"
        try "#!/bin/bash\ncat > \(dir)/stdin\nexit 2\n".write(toFile: agent, atomically: true, encoding: .utf8)
        chmod(agent, 0o755)
        try "pa55\n".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        let device = FenceDevice(HostFence(agent: agent, options: ["plug": "h1"], secretFiles: ["password": secret], timeoutSeconds: 5))
        let run = await FenceAgentRunner(logger: Logger(label: "tandem.test.fencing")).run(.status, device: device, host: "h1")
        XCTAssertEqual(run.outcome, .power(.off))
        XCTAssertEqual(try String(contentsOfFile: "\(dir)/stdin", encoding: .utf8), "action=status\nnodename=h1\npassword=pa55\nplug=h1\n")
    }
}
