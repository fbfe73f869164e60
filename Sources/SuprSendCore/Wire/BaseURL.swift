/// The hub's base URL, as the options give it.
public enum BaseURL {
    public static let `default` = "https://hub.suprsend.com/"
    /// A base path longer than this is a mistake (and goes into every request and log line).
    public static let maxPathBytes = 1024

    /// Trims it, checks it, and makes it end in '/'. Only http and https, with a host, and
    /// no query or fragment (the endpoint paths are appended to it). The path is signed as
    /// written and sent as written (CURLOPT_PATH_AS_IS), so it must be plain: printable ASCII
    /// without '.' or '..' segments, which a server or proxy would resolve before checking the
    /// signature. Credentials in the URL are refused: it appears in log lines.
    public static func normalize(_ raw: String) throws(SuprSendError) -> String {
        var url = raw.trimmingWhitespace()
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
            throw .argument("base_url: must start with http:// or https:// ('\(excerpt(raw))')")
        }
        guard url.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .argument("base_url: must be printable ASCII without spaces (percent-encode the rest) ('\(excerpt(raw))')")
        }
        guard !url.contains("?"), !url.contains("#") else {
            throw .argument("base_url: must not contain a query or a fragment ('\(excerpt(raw))')")
        }
        let afterScheme = url.drop(while: { $0 != ":" }).dropFirst(3)
        let authority = afterScheme.prefix(while: { $0 != "/" })
        guard !authority.contains("@") else {
            throw .argument("base_url: must not carry credentials ('user@'); it is written in log lines")
        }
        // host[:port], or [IPv6]:port; the host itself must not be empty.
        let host = authority.hasPrefix("[") ? authority.prefix(while: { $0 != "]" }).dropFirst()
                                            : authority.prefix(while: { $0 != ":" })
        guard !host.isEmpty else { throw .argument("base_url: has no host ('\(excerpt(raw))')") }
        // After the host: nothing, or ':' and a port libcurl can connect to (it would take
        // "http://h:99999/" for another port, or fail only at the first send).
        let afterHost = authority.hasPrefix("[") ? authority.drop(while: { $0 != "]" }).dropFirst()
                                                 : authority.drop(while: { $0 != ":" })
        if !afterHost.isEmpty {
            let port = afterHost.dropFirst()
            guard afterHost.first == ":", !port.isEmpty, port.count <= 5, port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let number = Int(port), (1...65535).contains(number) else {
                throw .argument("base_url: the port must be a number from 1 to 65535 ('\(excerpt(raw))')")
            }
        }
        let path = afterScheme.dropFirst(authority.count)
        guard path.utf8.count <= maxPathBytes else {
            throw .argument("base_url: the path is \(path.utf8.count) bytes, more than \(maxPathBytes) ('\(excerpt(raw))')")
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: { $0 == "." || $0 == ".." }) else {
            throw .argument("base_url: must not contain '.' or '..' path segments ('\(excerpt(raw))')")
        }
        if !url.hasSuffix("/") { url += "/" }
        return url
    }

    /// "/" for "https://hub.suprsend.com/", "/proxy/" for "http://127.0.0.1:8080/proxy/".
    static func path(of url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return "/" }
        let rest = url[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return "/" }
        return String(rest[slash...])
    }
}
