import ArgumentParser
import DaemonAPI
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `--url`, shared by the commands that talk to tandemd.
struct DaemonAddress: ParsableArguments {
    @Option(help: "tandemd's API (its --status-listen).") var url = DaemonEndpoint.defaultURL

    func validate() throws {
        guard let u = URL(string: url), u.scheme == "http" || u.scheme == "https", u.host != nil else {
            throw ValidationError("--url \(url) is not an http:// URL (e.g. \(DaemonEndpoint.defaultURL))")
        }
    }

    /// The client for this address (validated above).
    var client: DaemonClient { DaemonClient(base: URL(string: url)!) }
}

/// tandemctl's client of tandemd's API: one request, one answer. A request that gets no HTTP
/// answer ends tandemctl with exit status 3, saying where it looked.
struct DaemonClient {
    /// What came back.
    struct Answer {
        /// HTTP status.
        var status: Int
        /// Body.
        var body: Data
        /// The body as text, trimmed, for messages.
        var text: String { String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// e.g. `http://127.0.0.1:9595`.
    var base: URL

    /// `base` + `path` + `query`.
    func endpoint(_ path: String, query: [URLQueryItem] = []) -> URL {
        var c = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { c.queryItems = query }
        return c.url!
    }

    /// `GET path`.
    func get(_ path: String, timeout: TimeInterval = 5) async throws -> Answer {
        var r = URLRequest(url: endpoint(path))
        r.timeoutInterval = timeout
        return try await send(r)
    }

    /// `POST path?query` with the bearer token, asking for JSON.
    func post(_ path: String, query: [URLQueryItem], token: String, timeout: TimeInterval) async throws -> Answer {
        var r = URLRequest(url: endpoint(path, query: query))
        r.httpMethod = "POST"
        r.timeoutInterval = timeout
        r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        r.setValue("application/json", forHTTPHeaderField: "Accept")
        return try await send(r)
    }

    private func send(_ request: URLRequest) async throws -> Answer {
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            guard let h = response as? HTTPURLResponse else {
                throw fail("tandemctl: \(request.url!) gave no HTTP answer", Exit.unreachable)
            }
            return Answer(status: h.statusCode, body: data)
        } catch let e as ExitCode {
            throw e
        } catch {
            throw fail("tandemctl: cannot reach tandemd at \(request.url!): \(error.localizedDescription) "
                       + "(is it running? is its --status-listen elsewhere? pass --url)", Exit.unreachable)
        }
    }

    /// Decodes a tandemd answer; anything else means what answered is not tandemd (exit 3).
    func decode<T: Decodable>(_ type: T.Type, from answer: Answer, _ path: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: answer.body) } catch {
            throw fail("tandemctl: \(endpoint(path)) answered HTTP \(answer.status) but not as tandemd does "
                       + "(\(answer.text.prefix(200))): is --url pointing at tandemd?", Exit.unreachable)
        }
    }
}
