/// efsearch's version, as runs, latency models and exported models record it.
public enum EfsearchVersion {
    public static let current = "0.1.0"
}

/// An error caused by what a user gave efsearch (an arch string, a flag, a file), as opposed to a bug.
///
/// Its `description` names the field, the value and what was expected. The command-line tool prints it
/// and exits with status 2.
public protocol UserInputError: Error, CustomStringConvertible {}

/// A setting given with a value that is out of range or contradicts another: the message names the flag that sets
/// it (`--runs 0 must be at least 1`).
public struct FlagError: UserInputError {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A malformed timm-style arch string.
public struct ArchStringError: UserInputError, Equatable {
    /// 1-based stage number (stages are separated by `;`), or nil for errors about the whole string.
    public var stage: Int?
    /// 1-based position of the block string inside its stage (block strings are separated by `,`).
    public var block: Int?
    /// 1-based column of the offending text inside the whole arch string.
    public var column: Int?
    /// What is wrong and what was expected.
    public var message: String

    public init(stage: Int? = nil, block: Int? = nil, column: Int? = nil, message: String) {
        self.stage = stage
        self.block = block
        self.column = column
        self.message = message
    }

    public var description: String {
        var place: [String] = []
        if let stage { place.append("stage \(stage)") }
        if let block { place.append("block string \(block)") }
        if let column { place.append("column \(column)") }
        let location = place.isEmpty ? "" : " (" + place.joined(separator: ", ") + ")"
        return "invalid arch string\(location): \(message)"
    }
}

/// A network description whose numbers cannot make a network: a multiplier <= 0, a resolution too
/// small for the network's strides, an unknown preset, and so on.
public struct NetworkSpecError: UserInputError, Equatable {
    /// The field at fault, spelled as the command-line flag or JSON key (`width`, `resolution`, ...).
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "invalid \(field): \(message)" }
}
