import Net
/// The few pieces every Tandem HTML report shares: escaping, the page with its inline style, tables.
/// A report is one file: the style is inline, charts are inline SVG, nothing is fetched.
public enum HTML {
    /// `text` safe inside HTML text and attribute values.
    public static func escape(_ text: String) -> String { Markup.escape(text) }

    /// A whole page: `title`, then `body` (already HTML).
    public static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>\(style)</style></head>
        <body>\(body)
        <footer>Written by Tandem (tandemctl); one self-contained file: charts are inline SVG, nothing is fetched.</footer>
        </body></html>

        """
    }

    /// A table: a header row, then rows of cells (already HTML).
    public static func table(_ header: [String], _ rows: [[String]], cls: String = "figures") -> String {
        var out = "<table class=\"\(cls)\"><thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for r in rows { out += "<tr>" + r.map { "<td>\($0)</td>" }.joined() + "</tr>" }
        return out + "</tbody></table>"
    }

    /// A pass/fail badge.
    public static func badge(_ passed: Bool) -> String {
        passed ? "<span class=\"badge pass\">PASS</span>" : "<span class=\"badge fail\">FAIL</span>"
    }

    static let style = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;color:#1d2433;background:#fff}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dee9;padding-bottom:4px}
        h3{font-size:15px;margin:18px 0 6px}p,li{font-size:14px;line-height:1.45}.sub{color:#5b6579;font-size:13px}
        table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid #d8dee9;padding:4px 8px;text-align:left;vertical-align:top}
        th{background:#f2f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
        .badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:700;font-size:13px;color:#fff}
        .pass{background:#2e7d32}.fail{background:#c62828}.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}
        svg.chart{display:block;margin:6px 0 14px;background:#fff}svg .plot{fill:#fbfcfe;stroke:#c9d1de}
        svg .axisline{stroke:#5b6579;stroke-width:1}svg .grid{stroke:#e3e8f0;stroke-width:1}
        svg .tick{font-size:11px;fill:#3b4456}svg .label{font-size:12px;fill:#3b4456}svg .title{font-size:13px;font-weight:600;fill:#1d2433}
        svg .marker{font-size:10px}svg .legendtext{font-size:11px;fill:#3b4456}
        pre{background:#f6f8fa;border:1px solid #e3e8f0;padding:8px;font-size:12px;overflow-x:auto;white-space:pre-wrap}
        footer{margin-top:32px;color:#8a93a6;font-size:12px}
        """
}
