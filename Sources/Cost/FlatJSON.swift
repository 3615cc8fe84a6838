import Foundation

/// One key and value of a flat JSON object, as ranges of the line's bytes (nothing is copied out of the line).
public struct FlatJSONField {
    public enum Value {
        /// A string's bytes, between the quotes.
        case string(Range<Int>)
        case number(Double)
    }

    /// The key's bytes, between the quotes.
    public var key: Range<Int>
    public var value: Value
}

/// Reads `{"key": value, ...}` lines whose values are plain strings (no escapes) or numbers: the shape
/// of every candidate a search writes, read at about 1 us a line. It returns false for anything else
/// (escapes, nested values, true/false/null, malformed text); callers then use `JSONSerialization`,
/// which handles all of JSON and reports errors.
public enum FlatJSON {
    /// Replaces `fields` with the line's fields in order; false, with `fields` in no particular state, when the
    /// line is not a flat object of plain strings and numbers.
    public static func parse(_ line: UnsafeRawBufferPointer, into fields: inout [FlatJSONField]) -> Bool {
        do {
            let bytes = line.bindMemory(to: UInt8.self)
            var index = 0
            let count = bytes.count
            func skipSpace() {
                while index < count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0D { index += 1 }
            }
            func readString() -> Range<Int>? {
                guard index < count, bytes[index] == UInt8(ascii: "\"") else { return nil }
                index += 1
                let start = index
                while index < count, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\") || bytes[index] < 0x20 { return nil }
                    index += 1
                }
                guard index < count else { return nil }
                index += 1
                return start..<(index - 1)
            }
            func readNumber() -> Double? {
                let start = index
                if index < count, bytes[index] == UInt8(ascii: "-") { index += 1 }
                var mantissa = 0, digits = 0, fraction = 0
                var simple = true
                while index < count, bytes[index] >= 48, bytes[index] <= 57 {
                    mantissa = mantissa &* 10 &+ Int(bytes[index] - 48); digits += 1; index += 1
                }
                guard digits > 0 else { return nil }
                if index < count, bytes[index] == UInt8(ascii: ".") {
                    index += 1
                    let before = digits
                    while index < count, bytes[index] >= 48, bytes[index] <= 57 {
                        mantissa = mantissa &* 10 &+ Int(bytes[index] - 48); digits += 1; fraction += 1; index += 1
                    }
                    guard digits > before else { return nil }
                }
                if index < count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                    simple = false
                    index += 1
                    if index < count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                    let exponentStart = index
                    while index < count, bytes[index] >= 48, bytes[index] <= 57 { index += 1 }
                    guard index > exponentStart else { return nil }
                }
                if simple && digits <= 15 {
                    // mantissa / 10^k is exact in both operands, so the division rounds correctly.
                    let value = Double(mantissa) / powersOfTen[fraction]
                    return bytes[start] == UInt8(ascii: "-") ? -value : value
                }
                return Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
            }

            fields.removeAll(keepingCapacity: true)
            skipSpace()
            guard index < count, bytes[index] == UInt8(ascii: "{") else { return false }
            index += 1
            skipSpace()
            if index < count, bytes[index] == UInt8(ascii: "}") {
                index += 1
            } else {
                while true {
                    skipSpace()
                    guard let key = readString() else { return false }
                    skipSpace()
                    guard index < count, bytes[index] == UInt8(ascii: ":") else { return false }
                    index += 1
                    skipSpace()
                    guard index < count else { return false }
                    if bytes[index] == UInt8(ascii: "\"") {
                        guard let text = readString() else { return false }
                        fields.append(FlatJSONField(key: key, value: .string(text)))
                    } else {
                        guard let number = readNumber() else { return false }
                        fields.append(FlatJSONField(key: key, value: .number(number)))
                    }
                    skipSpace()
                    guard index < count else { return false }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    guard bytes[index] == UInt8(ascii: "}") else { return false }
                    index += 1
                    break
                }
            }
            skipSpace()
            return index == count
        }
    }

    private static let powersOfTen: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]
}
