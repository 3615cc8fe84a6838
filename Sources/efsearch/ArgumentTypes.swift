import ArgumentParser
import Search

/// A number on the command line (seconds, epochs, a rate), shown in `--help` as a user writes it: `60`, not
/// `60.0`; `5e-5`, not `5e-05`. It parses as `Value` itself does, so the value is the same to the bit.
struct Amount<Value: BinaryFloatingPoint & LosslessStringConvertible & Sendable>: ExpressibleByArgument, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, CustomStringConvertible, Sendable {
    var value: Value

    init(_ value: Value) { self.value = value }
    init?(argument: String) {
        guard let value = Value(argument) else { return nil }
        self.value = value
    }
    init(integerLiteral: Int) { value = Value(integerLiteral) }
    /// The literal becomes `Value` directly (a `Float` literal is not rounded through `Double` first).
    init(floatLiteral: Value.FloatLiteralType) { value = Value(floatLiteral: floatLiteral) }

    var description: String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return value.description.replacingOccurrences(of: "e-0", with: "e-").replacingOccurrences(of: "e+", with: "e")
    }

    var defaultValueDescription: String { description }
}

/// `--objectives accuracy,macs`: parsed once, where the flag is read (`Objective.list(parsing:)`).
struct ObjectiveList: CustomStringConvertible {
    var list: [Objective]
    init(parsing text: String) throws { list = try Objective.list(parsing: text) }
    var description: String { list.map(\.description).joined(separator: ",") }
}
