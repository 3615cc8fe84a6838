/// Reads and writes timm's `arch_def` block strings.
///
/// Grammar: stages are separated by `;`, block strings inside a stage by `,`; white space around them is
/// ignored. A block string is `TYPE_opt_opt...` with TYPE one of `ds`, `ir`, `er`, `cn` and options
/// `rN` (repeats), `kN` (kernel), `sN` (stride), `eF` (expansion), `cN` (output channels), `seF`
/// (squeeze-excite ratio), `noskip`, `skip`, and an activation `nre` / `nr6` / `nsw` (or `nsi`).
///
/// `format` writes the canonical form: options in the order r, k, s, e, c, se, skip flag, activation;
/// `e` only for `ir` and `er`; `se` only when non-zero; a skip flag only when it differs from the type's
/// default; numbers without trailing zeros; no spaces. Two spellings of one network share one
/// canonical form.
public enum ArchString {
    /// The option keys that take a number, in canonical order.
    public static let numericOptions = ["r", "k", "s", "e", "c", "se"]

    /// Parses a whole arch string into stages.
    public static func parse(_ text: String) throws -> [StageSpec] {
        let bytes = Array(text.utf8)
        if bytes.allSatisfy(isSpace) {
            throw ArchStringError(message: "the arch string is empty; expected stages of block strings such as \"ds_r1_k3_s1_c16; ir_r2_k3_s2_e6_c24\"")
        }
        var stages: [StageSpec] = []
        var stageNumber = 0
        for stageRange in split(bytes, 0..<bytes.count, on: UInt8(ascii: ";")) {
            stageNumber += 1
            var stage: StageSpec = []
            let blockRanges = split(bytes, stageRange, on: UInt8(ascii: ","))
            if blockRanges.count == 1 && trimmed(bytes, blockRanges[0]).isEmpty {
                throw ArchStringError(
                    stage: stageNumber, column: stageRange.lowerBound + 1,
                    message: "stage \(stageNumber) is empty; expected one or more block strings separated by ','")
            }
            var blockNumber = 0
            for blockRange in blockRanges {
                blockNumber += 1
                let range = trimmed(bytes, blockRange)
                if range.isEmpty {
                    throw ArchStringError(
                        stage: stageNumber, block: blockNumber, column: blockRange.lowerBound + 1,
                        message: "empty block string; expected a block string such as ir_r1_k3_s1_e6_c16")
                }
                let block = try parseBlock(bytes, range, stage: stageNumber, block: blockNumber)
                if blockNumber > 1 && block.stride != 1 {
                    throw ArchStringError(
                        stage: stageNumber, block: blockNumber, column: range.lowerBound + 1,
                        message: "stride s\(block.stride) on block string \(blockNumber) of stage \(stageNumber): only the first block of a stage has the stage's stride (timm ignores it elsewhere); start a new stage with ';' instead")
                }
                stage.append(block)
            }
            stages.append(stage)
        }
        return stages
    }

    /// Parses a single block string such as `ir_r2_k3_s2_e6_c24_se0.25`.
    public static func parseBlock(_ text: String) throws -> BlockSpec {
        let bytes = Array(text.utf8)
        let range = trimmed(bytes, 0..<bytes.count)
        if range.isEmpty {
            throw ArchStringError(message: "empty block string; expected a block string such as ir_r1_k3_s1_e6_c16")
        }
        return try parseBlock(bytes, range, stage: nil, block: nil)
    }

    /// The canonical arch string of `stages`.
    public static func format(_ stages: [StageSpec]) -> String {
        stages.map { stage in stage.map(format).joined(separator: ",") }.joined(separator: ";")
    }

    /// The canonical block string of `block`.
    public static func format(_ block: BlockSpec) -> String {
        var text = block.type.rawValue
        text += "_r\(block.repeats)_k\(block.kernel)_s\(block.stride)"
        if block.type.usesExpansion { text += "_e" + formatNumber(block.expansion) }
        text += "_c\(block.outChannels)"
        if block.seRatio > 0 { text += "_se" + formatNumber(block.seRatio) }
        if block.skip != block.type.residualByDefault { text += block.skip ? "_skip" : "_noskip" }
        if let activation = block.activation { text += "_" + activation.blockOption }
        return text
    }

    /// The canonical form of an arch string.
    public static func canonical(_ text: String) throws -> String {
        format(try parse(text))
    }

    /// Writes a number the way arch strings spell it: integers without a decimal point, others in the
    /// shortest form that reads back to the same value (`6`, `2.5`, `0.25`).
    public static func formatNumber(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }

    // MARK: - Parsing helpers

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
    }

    private static func split(_ bytes: [UInt8], _ range: Range<Int>, on separator: UInt8) -> [Range<Int>] {
        var parts: [Range<Int>] = []
        var start = range.lowerBound
        for index in range where bytes[index] == separator {
            parts.append(start..<index)
            start = index + 1
        }
        parts.append(start..<range.upperBound)
        return parts
    }

    private static func trimmed(_ bytes: [UInt8], _ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, isSpace(bytes[lower]) { lower += 1 }
        while upper > lower, isSpace(bytes[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    private static func parseBlock(_ bytes: [UInt8], _ range: Range<Int>, stage: Int?, block: Int?) throws -> BlockSpec {
        func failure(_ column: Int, _ message: String) -> ArchStringError {
            ArchStringError(stage: stage, block: block, column: column + 1, message: message)
        }
        let tokens = split(bytes, range, on: UInt8(ascii: "_"))
        let typeText = String(decoding: bytes[tokens[0]], as: UTF8.self)
        guard let type = BlockType(rawValue: typeText) else {
            let known = BlockType.allCases.map(\.rawValue).joined(separator: ", ")
            throw failure(tokens[0].lowerBound, "unknown block type \"\(typeText)\"; expected one of \(known)")
        }

        var repeats: Int?, kernel: Int?, stride: Int?, outChannels: Int?
        var expansion: Double?, seRatio: Double?
        var skip: Bool?
        var activation: Activation?

        for token in tokens.dropFirst() {
            let column = token.lowerBound
            let word = String(decoding: bytes[token], as: UTF8.self)
            if token.isEmpty {
                throw failure(column, "empty option (two '_' in a row or a trailing '_') in \"\(typeText)...\"")
            }
            if word == "skip" || word == "noskip" {
                if skip != nil { throw failure(column, "the skip flag is given twice (\"\(word)\")") }
                skip = (word == "skip")
                continue
            }
            if bytes[token.lowerBound] == UInt8(ascii: "n") {
                guard let parsed = Activation(blockOption: Substring(word)) else {
                    throw failure(column, "unknown activation option \"\(word)\"; expected nre (ReLU), nr6 (ReLU6), nsw or nsi (SiLU)")
                }
                if activation != nil { throw failure(column, "the activation is given twice (\"\(word)\")") }
                activation = parsed
                continue
            }
            // A numeric option: letters, then the value.
            var split = token.lowerBound
            while split < token.upperBound, isLetter(bytes[split]) { split += 1 }
            let key = String(decoding: bytes[token.lowerBound..<split], as: UTF8.self)
            let valueText = String(decoding: bytes[split..<token.upperBound], as: UTF8.self)
            guard numericOptions.contains(key) else {
                throw failure(column, "unknown option \"\(word)\"; expected rN, kN, sN, eF, cN, seF, skip, noskip, nre, nr6, nsw or nsi")
            }
            if valueText.isEmpty {
                throw failure(column, "option \"\(key)\" has no value; expected a number right after it, as in \"\(key)3\"")
            }
            switch key {
            case "e", "se":
                guard let value = Double(valueText), value.isFinite else {
                    throw failure(column, "option \"\(key)\" has value \"\(valueText)\"; expected a number")
                }
                if key == "e" {
                    if expansion != nil { throw failure(column, "option \"e\" is given twice") }
                    expansion = value
                } else {
                    if seRatio != nil { throw failure(column, "option \"se\" is given twice") }
                    seRatio = value
                }
            default:
                guard valueText.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                      let value = Int(valueText) else {
                    throw failure(column, "option \"\(key)\" has value \"\(valueText)\"; expected a whole number")
                }
                let alreadySet: Bool
                switch key {
                case "r": alreadySet = repeats != nil; repeats = value
                case "k": alreadySet = kernel != nil; kernel = value
                case "s": alreadySet = stride != nil; stride = value
                default: alreadySet = outChannels != nil; outChannels = value
                }
                if alreadySet { throw failure(column, "option \"\(key)\" is given twice") }
            }
        }

        let start = range.lowerBound
        func required<T>(_ value: T?, _ key: String, _ meaning: String) throws -> T {
            guard let value else {
                throw failure(start, "block \"\(typeText)\" is missing option \"\(key)\" (\(meaning))")
            }
            return value
        }
        let r = try required(repeats, "r", "repeats, e.g. r2")
        let k = try required(kernel, "k", "kernel size, e.g. k3")
        let s = try required(stride, "s", "stride, e.g. s2")
        let c = try required(outChannels, "c", "output channels, e.g. c24")
        if r < 1 { throw failure(start, "repeats r\(r) must be at least 1") }
        if k < 1 || k % 2 == 0 { throw failure(start, "kernel k\(k) must be odd and at least 1 (padding is k // 2 on each side)") }
        if s != 1 && s != 2 { throw failure(start, "stride s\(s) must be 1 or 2") }
        if c < 1 { throw failure(start, "output channels c\(c) must be at least 1") }

        let e: Double
        if type.usesExpansion {
            e = try required(expansion, "e", "expansion ratio, e.g. e6")
            if !(e > 0) { throw failure(start, "expansion e\(formatNumber(e)) must be greater than 0") }
        } else {
            if let expansion, expansion != 1 {
                throw failure(start, "block type \(typeText) has no expansion; e\(formatNumber(expansion)) is not allowed (only e1)")
            }
            e = 1
        }
        let se = seRatio ?? 0
        if !(se >= 0 && se <= 1) { throw failure(start, "squeeze-excite ratio se\(formatNumber(se)) must be between 0 and 1") }
        if se > 0 && !type.supportsSqueezeExcite {
            throw failure(start, "block type \(typeText) has no squeeze-excite; se\(formatNumber(se)) is not allowed")
        }
        return BlockSpec(
            type: type, repeats: r, kernel: k, stride: s, expansion: e, outChannels: c,
            seRatio: se, skip: skip ?? type.residualByDefault, activation: activation)
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }
}
