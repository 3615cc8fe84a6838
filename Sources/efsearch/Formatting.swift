import Foundation

/// Builds one JSON object with keys in a fixed order, without going through a dictionary.
struct JSONObjectWriter {
    private(set) var text = "{"
    private var first = true

    private mutating func key(_ name: String) {
        text += first ? "\"" : ",\""
        first = false
        text += name
        text += "\":"
    }

    mutating func add(_ name: String, _ value: Int) { key(name); text += String(value) }
    mutating func add(_ name: String, _ value: Double) {
        key(name)
        text += value.isFinite ? "\(value)" : "null"
    }
    mutating func add(_ name: String, _ value: Bool) { key(name); text += value ? "true" : "false" }
    mutating func add(_ name: String, _ value: String) { key(name); text += JSONObjectWriter.quoted(value) }
    mutating func addRaw(_ name: String, _ json: String) { key(name); text += json }

    func finished() -> String { text + "}" }

    static func quoted(_ value: String) -> String {
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

enum Format {
    /// 5288548 -> "5,288,548".
    static func grouped(_ value: Int) -> String {
        let digits = String(abs(value))
        var out = ""
        for (offset, character) in digits.enumerated() {
            if offset > 0 && (digits.count - offset) % 3 == 0 { out += "," }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }

    /// 385814752 -> "385.8M", 37745884192 -> "37.75G".
    static func engineering(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 1e9 { return String(format: "%.2fG", value / 1e9) }
        if magnitude >= 1e6 { return String(format: "%.1fM", value / 1e6) }
        if magnitude >= 1e3 { return String(format: "%.1fK", value / 1e3) }
        return String(format: "%.0f", value)
    }

    /// Bytes as MiB or KiB.
    static func bytes(_ value: Int) -> String {
        let v = Double(value)
        if v >= 1024 * 1024 * 1024 { return String(format: "%.2f GiB", v / 1024 / 1024 / 1024) }
        if v >= 1024 * 1024 { return String(format: "%.1f MiB", v / 1024 / 1024) }
        return String(format: "%.1f KiB", v / 1024)
    }

    static func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

    /// Pads columns of text to a table, right-aligning all but the first `leftColumns` columns.
    static func table(_ header: [String], _ rows: [[String]], leftColumns: Int = 1) -> String {
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
