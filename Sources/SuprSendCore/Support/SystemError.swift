import Glibc

/// The text of an errno value. strerror() may share one buffer between threads; the XSI
/// strerror_r (the one Swift sees) fills a buffer of our own.
func systemErrorMessage(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    let text: String? = buffer.withUnsafeMutableBufferPointer { out -> String? in
        guard let base = out.baseAddress, strerror_r(code, base, out.count) == 0 else { return nil }
        return String(cString: base)
    }
    return text ?? "error \(code)"
}
