/// A named network: an arch definition with its coefficients, as timm and the papers publish them.
public struct Preset: Sendable {
    public var name: String
    public var summary: String
    public var spec: NetworkSpec
}

/// The preset networks, keyed by name (`efficientnet-b0`, `efficientnetv2-s`, `mobilenetv2-100`, ...).
public enum Presets {
    /// EfficientNet-B0's arch definition (found by MnasNet-style search).
    public static let efficientNetB0Arch =
        "ds_r1_k3_s1_e1_c16_se0.25; ir_r2_k3_s2_e6_c24_se0.25; ir_r2_k5_s2_e6_c40_se0.25; " +
        "ir_r3_k3_s2_e6_c80_se0.25; ir_r3_k5_s1_e6_c112_se0.25; ir_r4_k5_s2_e6_c192_se0.25; " +
        "ir_r1_k3_s1_e6_c320_se0.25"

    /// The published (width, depth, resolution, dropout) of B0...B8 and L2. They are not alpha^phi exactly.
    public static let efficientNetCoefficients: [(name: String, width: Double, depth: Double, resolution: Int, dropout: Double)] = [
        ("b0", 1.0, 1.0, 224, 0.2), ("b1", 1.0, 1.1, 240, 0.2), ("b2", 1.1, 1.2, 260, 0.3),
        ("b3", 1.2, 1.4, 300, 0.3), ("b4", 1.4, 1.8, 380, 0.4), ("b5", 1.6, 2.2, 456, 0.4),
        ("b6", 1.8, 2.6, 528, 0.5), ("b7", 2.0, 3.1, 600, 0.5), ("b8", 2.2, 3.6, 672, 0.5),
        ("l2", 4.3, 5.3, 800, 0.5),
    ]

    /// Every preset, in a stable order.
    public static let all: [Preset] = {
        var presets: [Preset] = []
        for member in efficientNetCoefficients {
            presets.append(Preset(
                name: "efficientnet-\(member.name)",
                summary: "EfficientNet-\(member.name.uppercased()) (width \(member.width), depth \(member.depth), \(member.resolution) px)",
                spec: NetworkSpec(
                    stages: parsePreset(efficientNetB0Arch), width: member.width, depth: member.depth,
                    resolution: member.resolution, stem: 32, head: 1280, activation: .silu, dropout: member.dropout)))
        }
        // As timm builds them: the 10% rule stays on (the official TF code turns it off, which only matters
        // at widths other than 1; pass roundLimit 0 for that), -S scales its head, -M and -L keep 1280.
        let v2: [(String, String, Int, Int, Double, HeadScaling)] = [
            ("s", "cn_r2_k3_s1_e1_c24_skip; er_r4_k3_s2_e4_c48; er_r4_k3_s2_e4_c64; ir_r6_k3_s2_e4_c128_se0.25; " +
                "ir_r9_k3_s1_e6_c160_se0.25; ir_r15_k3_s2_e6_c256_se0.25", 24, 384, 0.2, .scaled),
            ("m", "cn_r3_k3_s1_e1_c24_skip; er_r5_k3_s2_e4_c48; er_r5_k3_s2_e4_c80; ir_r7_k3_s2_e4_c160_se0.25; " +
                "ir_r14_k3_s1_e6_c176_se0.25; ir_r18_k3_s2_e6_c304_se0.25; ir_r5_k3_s1_e6_c512_se0.25", 24, 480, 0.3, .fixed),
            ("l", "cn_r4_k3_s1_e1_c32_skip; er_r7_k3_s2_e4_c64; er_r7_k3_s2_e4_c96; ir_r10_k3_s2_e4_c192_se0.25; " +
                "ir_r19_k3_s1_e6_c224_se0.25; ir_r25_k3_s2_e6_c384_se0.25; ir_r7_k3_s1_e6_c640_se0.25", 32, 480, 0.4, .fixed),
        ]
        for (size, arch, stem, resolution, dropout, headScaling) in v2 {
            presets.append(Preset(
                name: "efficientnetv2-\(size)",
                summary: "EfficientNetV2-\(size.uppercased()) (Fused-MBConv early stages, \(resolution) px)",
                spec: NetworkSpec(
                    stages: parsePreset(arch), resolution: resolution, stem: stem, head: 1280,
                    activation: .silu, dropout: dropout, headScaling: headScaling)))
        }
        presets.append(Preset(
            name: "mobilenetv2-100",
            summary: "MobileNetV2 1.0 (224 px, ReLU6)",
            spec: NetworkSpec(
                stages: parsePreset("ds_r1_k3_s1_c16; ir_r2_k3_s2_e6_c24; ir_r3_k3_s2_e6_c32; ir_r4_k3_s2_e6_c64; " +
                    "ir_r3_k3_s1_e6_c96; ir_r3_k3_s2_e6_c160; ir_r1_k3_s1_e6_c320"),
                resolution: 224, stem: 32, head: 1280, activation: .relu6, dropout: 0.2, headScaling: .atLeastBase)))
        presets.append(Preset(
            name: "mnasnet-100",
            summary: "MnasNet-B1 1.0 (224 px, ReLU)",
            spec: NetworkSpec(
                stages: parsePreset("ds_r1_k3_s1_c16_noskip; ir_r3_k3_s2_e3_c24; ir_r3_k5_s2_e3_c40; ir_r3_k5_s2_e6_c80; " +
                    "ir_r2_k3_s1_e6_c96; ir_r4_k5_s2_e6_c192; ir_r1_k3_s1_e6_c320_noskip"),
                resolution: 224, stem: 32, head: 1280, activation: .relu, dropout: 0.2, headScaling: .fixed)))
        return presets
    }()

    /// The names of all presets.
    public static var names: [String] { all.map(\.name) }

    /// The preset with this name; the error lists the known names.
    public static func named(_ name: String) throws -> Preset {
        let key = name.lowercased().replacingOccurrences(of: "_", with: "-")
        if let preset = all.first(where: { $0.name == key }) { return preset }
        throw NetworkSpecError(field: "preset", message: "unknown preset \"\(name)\"; expected one of \(names.joined(separator: ", "))")
    }

    /// The default network of every command that takes one: EfficientNet-B0.
    public static var defaultSpec: NetworkSpec { all[0].spec }

    private static func parsePreset(_ arch: String) -> [StageSpec] {
        do { return try ArchString.parse(arch) } catch { preconditionFailure("preset arch string does not parse: \(error)") }
    }
}

extension NetworkSpec {
    /// A network as a command line gives it: the preset's (or `base` without one), each given value in its place
    /// (`--arch` replaces the stages), checked.
    public init(preset: String?, base: NetworkSpec, arch: String?, width: Double?, depth: Double?, resolution: Int?, stem: Int?, head: Int?,
                classes: Int?, activation: Activation?) throws {
        self = try preset.map { try Presets.named($0).spec } ?? base
        if let arch { stages = try ArchString.parse(arch) }
        if let width { self.width = width }
        if let depth { self.depth = depth }
        if let resolution { self.resolution = resolution }
        if let stem { self.stem = stem }
        if let head { self.head = head }
        if let classes { self.classes = classes }
        if let activation { self.activation = activation }
        try validate()
    }
}
