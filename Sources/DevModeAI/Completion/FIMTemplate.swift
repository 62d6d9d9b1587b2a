/// How a fill-in-the-middle prompt is written for a model family. Each family was trained with its
/// own sentinel tokens; OpenAI's completions API instead takes the suffix as a separate field.
public enum FIMTemplate: String, Codable, Sendable, Hashable, CaseIterable {
    /// StarCoder, StarCoder2, SantaCoder: `<fim_prefix>P<fim_suffix>S<fim_middle>`.
    case starcoder
    /// Code Llama: `<PRE> P <SUF>S <MID>`.
    case codellama
    /// DeepSeek-Coder: `<｜fim▁begin｜>P<｜fim▁hole｜>S<｜fim▁end｜>`.
    case deepseek
    /// Qwen2.5-Coder: `<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>`.
    case qwen
    /// OpenAI's `/v1/completions` `suffix` field (gpt-3.5-turbo-instruct, llama.cpp, vLLM with a
    /// server-side template): the prompt is the prefix as is.
    case suffixField = "suffix"

    /// The family a model name belongs to, when it says (`bigcode/starcoder2-3b`,
    /// `codellama:7b-code`, `deepseek-coder-6.7b-base`, `Qwen2.5-Coder-1.5B`); nil otherwise.
    public static func detect(modelName: String) -> FIMTemplate? {
        // A byte search: `String.contains(_:)` builds a searcher with a table of Characters each
        // call (about 18 µs for these seven words), and this runs on every completion.
        let name = Array(modelName.lowercased().utf8)
        func contains(_ word: String) -> Bool {
            let needle = Array(word.utf8)
            guard !needle.isEmpty, needle.count <= name.count else { return needle.isEmpty }
            for start in 0...(name.count - needle.count) where name[start] == needle[0] {
                if name[start..<start + needle.count].elementsEqual(needle) { return true }
            }
            return false
        }
        if contains("starcoder") || contains("santacoder") { return .starcoder }
        if contains("codellama") || contains("code-llama") || contains("code_llama") { return .codellama }
        if contains("deepseek") && contains("coder") { return .deepseek }
        if contains("qwen") && contains("coder") { return .qwen }
        return nil
    }

    /// The prompt for `prefix` ⟨hole⟩ `suffix`. For `.suffixField` only the prefix: the suffix goes
    /// in its own field.
    public func render(prefix: String, suffix: String) -> String {
        switch self {
        case .starcoder: "<fim_prefix>\(prefix)<fim_suffix>\(suffix)<fim_middle>"
        case .codellama: "<PRE> \(prefix) <SUF>\(suffix) <MID>"
        case .deepseek: "<｜fim▁begin｜>\(prefix)<｜fim▁hole｜>\(suffix)<｜fim▁end｜>"
        case .qwen: "<|fim_prefix|>\(prefix)<|fim_suffix|>\(suffix)<|fim_middle|>"
        case .suffixField: prefix
        }
    }

    /// Tokens that end the middle (sent as `stop`, and cut by post-processing when a server echoes them).
    public var stopSequences: [String] {
        switch self {
        case .starcoder: ["<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"]
        case .codellama: ["<EOT>", "<PRE>", "<SUF>", "<MID>"]
        case .deepseek: ["<｜end▁of▁sentence｜>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"]
        case .qwen: ["<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>"]
        case .suffixField: []
        }
    }
}

extension ModelConfiguration {
    /// The template this model's fill-in-the-middle prompts use: configured, else guessed from the
    /// upstream model name, else OpenAI's `suffix` field.
    public var effectiveFIMTemplate: FIMTemplate {
        fimTemplate ?? FIMTemplate.detect(modelName: wireModel) ?? .suffixField
    }
}
