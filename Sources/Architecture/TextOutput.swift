import Foundation

// How figures are written: JSON objects built byte by byte (the estimator's output) and text tables.

/// Builds one JSON object with keys in a fixed order, as UTF-8 bytes, without going through a dictionary.
/// `init(takingOver:)` continues a byte buffer (the `--jsonl` output), so nothing is copied.
public struct JSONObjectWriter {
    public private(set) var bytes: [UInt8]
    private var first = true

    public init() {
        bytes = [UInt8(ascii: "{")]
    }

    /// Takes over `buffer` (leaving it empty) and appends to it; `finishedBytes()` gives it back.
    public init(takingOver buffer: inout [UInt8]) {
        bytes = []
        swap(&bytes, &buffer)
        bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        bytes.appendLiteral(name)
        bytes.appendLiteral("\":")
    }

    public mutating func add(_ name: StaticString, _ value: Int) {
        key(name)
        ArchString.appendInteger(value, to: &bytes)
    }

    /// Already-encoded JSON (an array or object).
    public mutating func addRaw(_ name: StaticString, _ json: String) {
        key(name)
        bytes.append(contentsOf: json.utf8)
    }

    /// A canonical arch string, written straight from the stages (ASCII, nothing to escape).
    public mutating func add(_ name: StaticString, arch stages: [StageSpec]) {
        key(name)
        bytes.append(UInt8(ascii: "\""))
        ArchString.append(stages, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }
    public mutating func add(_ name: StaticString, _ value: Double) {
        key(name)
        if value.isFinite { ArchString.appendDecimal(value, to: &bytes) } else { bytes.appendLiteral("null") }
    }
    /// A number under a name known only at run time (a metric's key); written as an integer when `integer`.
    public mutating func add(named name: String, _ value: Double, integer: Bool) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(contentsOf: JSONObjectWriter.quoted(name).utf8)
        bytes.append(UInt8(ascii: ":"))
        if integer, value.isFinite, abs(value) < 9e18 { ArchString.appendInteger(Int(value), to: &bytes) }
        else if value.isFinite { ArchString.appendDecimal(value, to: &bytes) } else { bytes.appendLiteral("null") }
    }
    public mutating func add(_ name: StaticString, _ value: Bool) { key(name); bytes.append(contentsOf: (value ? "true" : "false").utf8) }
    public mutating func add(_ name: StaticString, _ value: String) {
        key(name)
        if value.utf8.allSatisfy(JSONObjectWriter.needsNoEscape) {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\""))
        } else {
            bytes.append(contentsOf: JSONObjectWriter.quoted(value).utf8)
        }
    }

    public static func needsNoEscape(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
    }

    /// The buffer with the object closed.
    public consuming func finishedBytes() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// The object as text, closed.
    public consuming func finished() -> String { String(decoding: finishedBytes(), as: UTF8.self) }

    public static func quoted(_ value: String) -> String {
        // Fast path: nothing to escape (arch strings, names).
        if value.utf8.allSatisfy(needsNoEscape) {
            return "\"" + value + "\""
        }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

public enum Format {
    /// 5288548 -> "5,288,548".
    public static func grouped(_ value: Int) -> String {
        let digits = String(abs(value))
        var out = ""
        for (offset, character) in digits.enumerated() {
            if offset > 0 && (digits.count - offset) % 3 == 0 { out += "," }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }

    /// 385814752 -> "385.8M", 37745884192 -> "37.75G".
    public static func engineering(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 1e9 { return String(format: "%.2fG", value / 1e9) }
        if magnitude >= 1e6 { return String(format: "%.1fM", value / 1e6) }
        if magnitude >= 1e3 { return String(format: "%.1fK", value / 1e3) }
        return String(format: "%.0f", value)
    }

    /// Bytes as MiB or KiB.
    public static func bytes(_ value: Int) -> String {
        let v = Double(value)
        if v >= 1024 * 1024 * 1024 { return String(format: "%.2f GiB", v / 1024 / 1024 / 1024) }
        if v >= 1024 * 1024 { return String(format: "%.1f MiB", v / 1024 / 1024) }
        return String(format: "%.1f KiB", v / 1024)
    }

    public static func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

    /// Pads columns of text to a table, right-aligning all but the first `leftColumns` columns.
    public static func table(_ header: [String], _ rows: [[String]], leftColumns: Int = 1) -> String {
        let all = [header] + rows
        let widths = (0..<header.count).map { column in all.map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column < leftColumns ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
