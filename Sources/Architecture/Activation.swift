/// The activation functions that EfficientNet-style networks use.
public enum Activation: String, CaseIterable, Hashable, Sendable, Codable {
    /// x * sigmoid(x), also called Swish.
    case silu
    case relu
    case relu6

    /// The block-string option that selects this activation (`nsw`, `nre`, `nr6`), as timm spells it.
    public var blockOption: StaticString {
        switch self {
        case .silu: return "nsw"
        case .relu: return "nre"
        case .relu6: return "nr6"
        }
    }

    /// Reads a block-string activation option; `nsi` is accepted as another spelling of SiLU.
    public init?(blockOption: Substring) {
        switch blockOption {
        case "nsw", "nsi": self = .silu
        case "nre": self = .relu
        case "nr6": self = .relu6
        default: return nil
        }
    }
}
