import ArgumentParser
import Foundation
import DaemonAPI
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `tandemctl status`: what `tandemd` sees, for people (or `--json` for machines).
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show tandemd's services, members, check states and last transitions.")

    @Option(help: "tandemd's status API.") var url = "http://127.0.0.1:9595"
    @Flag(help: "Print the raw JSON.") var json = false

    func run() async throws {
        guard let endpoint = URL(string: url.hasSuffix("/") ? url + "status" : url + "/status") else {
            throw ValidationError("--url \(url) is not a URL")
        }
        var request = URLRequest(url: endpoint)
        request.timeoutInterval = 5
        let data: Data
        do {
            let (d, response) = try await URLSession.shared.data(for: request)
            if let h = response as? HTTPURLResponse, h.statusCode != 200 {
                throw ValidationError("\(endpoint) answered HTTP \(h.statusCode)")
            }
            data = d
        } catch let e as ValidationError {
            throw e
        } catch {
            throw ValidationError("cannot reach tandemd at \(endpoint): \(error.localizedDescription) (is it running? is --status-listen elsewhere?)")
        }
        if json {
            print(String(decoding: data, as: UTF8.self))
            return
        }
        do {
            let report = try JSONDecoder().decode(StatusReport.self, from: data)
            print(report.rendered(), terminator: "")
        } catch {
            throw ValidationError("\(endpoint) did not return a tandemd status report: \(error)")
        }
    }
}
