/// The caller's input as error messages quote it: at most a short prefix, so that a 100 MB
/// event name does not become a 100 MB last error, log line and failed record. Control
/// characters become '?', keeping messages on one line.
func excerpt(_ text: String, limit: Int = 64) -> String {
    var result = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == limit { return result + "…" }
        result.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? "?" : scalar)
        count += 1
    }
    return result
}
