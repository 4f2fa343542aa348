import Net

/// Several trials of several drill kinds, by several directors (tandemd and keepalived in the lab):
/// per kind and director the medians over the trials, and the ratio of the second director's
/// median outage to the first's (above 1: the first did better). This replaces drill-failover's
/// Python summary; its definitions are the same.
public struct DrillComparison: Sendable {
    /// One director's trials of one kind.
    public struct Group: Sendable, Equatable {
        /// The kind.
        public var kind: DrillKind
        /// The director (the results' label).
        public var label: String
        /// The trials that ran to their verdict.
        public var results: [DrillResult]
        /// The trials that stopped early (setup failures), with why.
        public var aborted: [String]

        /// The median client-visible outage: an unrecovered one counts as the longest possible
        /// (so it cannot make a median look better); `nil` with no measured trial.
        public var medianOutage: Double? { median(results.compactMap { $0.figures.outage.rank }) }
        /// Dual-master ms per trial.
        public var dualMasterMillis: [Int] { results.map(\.figures.dualMasterMillis) }
        /// Trials whose held connection survived.
        public var survived: Int { results.filter { $0.figures.connection == .survived }.count }
        /// Trials that passed their verdict.
        public var passed: Int { results.filter(\.verdict.passed).count }
        /// Takeover ms per trial (where there was one).
        public var takeovers: [Int] { results.compactMap(\.figures.takeoverMillis) }
    }

    /// The groups, kinds in catalogue order, directors in order of first appearance.
    public var groups: [Group]
    /// The directors, in order of first appearance.
    public var labels: [String]

    /// Groups `results` by kind and label.
    public init(_ results: [DrillResult]) {
        var labels: [String] = []
        for r in results where !labels.contains(r.record.label) { labels.append(r.record.label) }
        let order = DrillKindSpec.known.map(\.kind) + results.map(\.record.kind).filter { $0.spec == nil }
        var groups: [Group] = []
        for kind in order where !groups.contains(where: { $0.kind == kind }) {
            for label in labels {
                let mine = results.filter { $0.record.kind == kind && $0.record.label == label }
                guard !mine.isEmpty else { continue }
                groups.append(Group(kind: kind, label: label, results: mine.filter { $0.record.aborted == nil },
                                    aborted: mine.compactMap(\.record.aborted)))
            }
        }
        self.groups = groups
        self.labels = labels
    }

    /// The kinds compared, in order.
    public var kinds: [DrillKind] {
        var out: [DrillKind] = []
        for g in groups where !out.contains(g.kind) { out.append(g.kind) }
        return out
    }

    /// The group of `kind` and `label`.
    public func group(_ kind: DrillKind, _ label: String) -> Group? { groups.first { $0.kind == kind && $0.label == label } }

    /// The second label's median outage over the first's: `>1` when the second never recovered,
    /// `<1` when the first never did, `n/a` without both.
    public func ratio(_ kind: DrillKind) -> String { labels.count >= 2 ? ratio(kind, labels[1]) : "n/a" }

    /// `label`'s median outage over the first label's, as ``ratio(_:)`` says.
    public func ratio(_ kind: DrillKind, _ label: String) -> String {
        guard let first = labels.first, let a = group(kind, first)?.medianOutage, let b = group(kind, label)?.medianOutage else { return "n/a" }
        switch (a.isInfinite, b.isInfinite) {
        case (true, true): return "n/a"
        case (true, false): return "<1"
        case (false, true): return ">1"
        default: return a == 0 ? (b > 0 ? "inf" : "1.00") : formatFixed(b / a, 2)
        }
    }

    /// The table for the terminal.
    public func text() -> String {
        var s = "kind               | " + labels.map { pad("\($0) median", 20) }.joined(separator: " | ")
        s += " | ratio | " + labels.map { pad("dual-master ms, \($0)", 26) }.joined(separator: " | ")
        s += " | " + labels.map { "conn \($0)" }.joined(separator: " | ") + "\n"
        for kind in kinds {
            var row = pad(kind.rawValue, 18) + " | "
            row += labels.map { l in pad(group(kind, l).map { Self.outageText($0) } ?? "-", 20) }.joined(separator: " | ")
            row += " | " + pad(ratio(kind), 5) + " | "
            row += labels.map { l in pad(group(kind, l).map { $0.dualMasterMillis.map(String.init).joined(separator: ",") } ?? "-", 26) }.joined(separator: " | ")
            row += " | " + labels.map { l in group(kind, l).map { "\($0.survived)/\($0.results.count)" } ?? "-" }.joined(separator: " | ")
            s += row + "\n"
        }
        for g in groups where !g.aborted.isEmpty {
            s += "setup failures, \(g.label) \(g.kind): " + g.aborted.joined(separator: "; ") + "\n"
        }
        return s
    }

    /// `400 ms (400, 420, 400)`: the median, then each trial.
    static func outageText(_ g: Group) -> String {
        let each = g.results.map { r -> String in
            switch r.figures.outage {
            case .millis(let m): return "\(m)"
            case .unrecovered: return "unrec."
            case .noLoadBefore: return "no load"
            case .noData: return "no data"
            }
        }
        let m = g.medianOutage.map { $0.isInfinite ? "unrecovered" : "\(Int($0)) ms" } ?? "n/a"
        return "\(m) (\(each.joined(separator: ", ")))"
    }

    /// One HTML page: the table, then every trial of every kind, the directors' series one above the other.
    public func html(title: String, note: String) -> String {
        var b = "<h1>\(HTML.escape(title))</h1><p class=\"sub\">\(HTML.escape(note))</p>"
        // One row per drill and director, so the table keeps seven columns however many directors
        // are compared (a column per director and figure outgrew the page at four).
        let header = ["drill", "director", "median outage (per trial)", "ratio to \(labels.first ?? "the first")",
                      "dual master, ms per trial", "held connection survived", "verdicts passed"]
        var rows: [[String]] = []
        for kind in kinds {
            for (i, l) in labels.enumerated() {
                guard let g = group(kind, l) else { continue }
                rows.append([
                    i == 0 ? HTML.escape(kind.rawValue) : "",
                    HTML.escape(l),
                    HTML.escape(Self.outageText(g)),
                    i == 0 ? "" : HTML.escape(ratio(kind, l)),
                    HTML.escape(g.dualMasterMillis.map(String.init).joined(separator: ", ")),
                    "\(g.survived)/\(g.results.count)",
                    "\(g.passed)/\(g.results.count)" + (g.aborted.isEmpty ? "" : " (+\(g.aborted.count) setup failed)"),
                ])
            }
        }
        b += HTML.table(header, rows)
        for kind in kinds {
            b += "<h2>\(HTML.escape(kind.rawValue))</h2>"
            if let s = kind.spec { b += "<p>\(HTML.escape(s.summary)).</p>" }
            for label in labels {
                guard let g = group(kind, label) else { continue }
                for (i, r) in g.results.enumerated() {
                    b += "<h3>\(HTML.escape(label)) #\(i + 1): outage \(HTML.escape(r.figures.outage.description)), "
                        + "dual master \(r.figures.dualMasterMillis) ms, held connection \(HTML.escape(r.figures.connection.description)) \(HTML.badge(r.verdict.passed))</h3>"
                    let charts = DrillReport.charts(r)
                    // The calls and the ownership band: enough to see both directors' behaviour side by side.
                    b += charts.enumerated().filter { $0.offset != 1 }.map(\.element).joined()
                    for c in r.verdict.failures { b += "<p class=\"bad\">\(HTML.escape(c.name)): \(HTML.escape(c.detail))</p>" }
                }
                for a in g.aborted { b += "<p class=\"bad\">\(HTML.escape(label)): a trial stopped early: \(HTML.escape(a))</p>" }
            }
        }
        return HTML.page(title: title, body: b)
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
}

/// The median of `values` (the mean of the middle two for an even count); `nil` when empty.
func median(_ values: [Double]) -> Double? {
    let v = values.sorted()
    guard !v.isEmpty else { return nil }
    return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
}
