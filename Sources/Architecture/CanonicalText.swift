import Foundation

/// A value that a run stores as its canonical text (`description`), read back with `init(parsing:)`: an
/// objective, a constraint, a reward, a crop range. Two settings are the same when their canonical texts are, however
/// they were written (`macs<=400M`, `macs <= 400000000`).
public protocol CanonicalText: Codable, CustomStringConvertible {
    init(parsing text: String) throws
}

extension CanonicalText {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(error)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A number as its shortest text: `400000000`, not `400000000.0` or `4e+08`; `0.25`, `-0.07`.
public func canonicalNumber(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return "\(value)"
}
