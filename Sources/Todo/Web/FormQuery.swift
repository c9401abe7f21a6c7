/// A form-urlencoded query string (`a=1&b=x+y`), decoded the way browsers and `curl` encode:
/// `+` and `%20` are spaces. The first of repeated keys wins.
struct FormQuery {
    /// In order, one allocation for all (a request has a handful, looked up a few times).
    private var pairs: [(key: String, value: String)] = []
    /// Keys whose value had a broken `%` escape or was not UTF-8, a repeated key's later
    /// values included: a request with a broken value anywhere is refused rather than half
    /// read.
    private(set) var malformed: [String] = []

    init(_ query: String) {
        // Split at the bytes `&` and `=`, as a URL is, not at characters: an `&` that a
        // combining mark follows still ends a pair. Empty pairs (`a=1&&b=2`) are skipped.
        let bytes = query.utf8
        pairs.reserveCapacity(bytes.count { $0 == UInt8(ascii: "&") } + 1)
        var rest = bytes[...]
        while !rest.isEmpty {
            let end = rest.firstIndex(of: UInt8(ascii: "&")) ?? rest.endIndex
            let pair = rest[..<end]
            rest = rest[end...].dropFirst()  // past the `&`, if there is one
            guard !pair.isEmpty else { continue }
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            guard let key = Self.decode(Substring(pair[..<(equals ?? pair.endIndex)])) else { continue }
            let raw = equals.map { Substring(pair[pair.index(after: $0)...]) } ?? ""
            if let value = Self.decode(raw) { pairs.append((key, value)) } else { malformed.append(key) }
        }
    }

    /// The first value given for `key`.
    subscript(key: String) -> String? { pairs.first { $0.key == key }?.value }

    /// Percent-decoding with `+` as space; nil for a broken escape or bytes that are not UTF-8.
    static func decode(_ text: Substring, plusIsSpace: Bool = true) -> String? {
        // Most values have nothing to decode: taken as they are (they came from a String).
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "%") || ($0 == UInt8(ascii: "+") && plusIsSpace) }) {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+") where plusIsSpace: bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
