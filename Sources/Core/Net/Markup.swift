/// Text made safe inside XML and HTML: one escaper for the drill reports' HTML and the domain XML
/// Tandem fills in for libvirt.
public enum Markup {
    /// `text` safe inside element text and attribute values of either quote (`&`, `<`, `>`, `"`, `'`).
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
