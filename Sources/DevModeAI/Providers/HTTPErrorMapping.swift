import FoundationEssentials
import NIOHTTP1

/// What a non-2xx answer means, for both APIs: the status picks the `ProviderError`, the JSON
/// error body (`{"error": {"message": …}}`, `{"error": "…"}`, `{"message": …}`, `{"detail": …}`)
/// gives the message, else the body's text, truncated.
enum HTTPErrorMapping {
    /// Longest message passed on from a provider.
    static let maxMessageLength = 300

    static func error(status: Int, headers: HTTPHeaders, body: [UInt8], now: Date = .now) -> ProviderError {
        let message = self.message(from: body) ?? HTTPResponseStatus(statusCode: status).reasonPhrase
        switch status {
        case 401, 403: return .unauthorized(status: status, message: message)
        case 429: return .rateLimited(retryAfterMs: retryAfterMs(headers, now: now), message: message)
        default: return .upstream(status: status, message: message)
        }
    }

    /// The message in an error body, or its text; nil when empty.
    static func message(from body: [UInt8]) -> String? {
        if let decoded = try? JSONDecoder().decode(ErrorBody.self, from: Data(body)), let message = decoded.message {
            return truncate(message)
        }
        let text = String(decoding: body, as: UTF8.self).trimmedWhitespace
        return text.isEmpty ? nil : truncate(text)
    }

    static func truncate(_ message: String) -> String {
        let single = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        return single.count <= maxMessageLength ? single : single.prefix(maxMessageLength) + "…"
    }

    /// How long the provider asks us to wait: `retry-after-ms` (milliseconds), else `retry-after`
    /// as seconds or as an HTTP-date. Nil when absent or unreadable.
    static func retryAfterMs(_ headers: HTTPHeaders, now: Date = .now) -> Int? {
        if let value = headers.first(name: "retry-after-ms").flatMap({ Double($0.trimmedWhitespace) }),
            value.isFinite, value >= 0
        {
            return Int(value.rounded(.up))
        }
        guard let value = headers.first(name: "retry-after")?.trimmedWhitespace else { return nil }
        if let seconds = Double(value) {
            return seconds.isFinite && seconds >= 0 ? Int((seconds * 1_000).rounded(.up)) : nil
        }
        guard let date = httpDate(value) else { return nil }
        return max(0, Int((date.timeIntervalSince(now) * 1_000).rounded(.up)))
    }

    /// An HTTP-date (RFC 9110 §5.6.7): IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, and the
    /// obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`)
    /// forms recipients must still accept.
    static func httpDate(_ text: String) -> Date? {
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" }).map { $0.lowercased() }
        guard tokens.count >= 5 else { return nil }
        let day: Int?, month: Int?, year: Int?, time: String
        if let asctimeMonth = months.firstIndex(of: tokens[1]) {
            (month, day, time, year) = (asctimeMonth + 1, Int(tokens[2]), tokens[3], Int(tokens[4]))
        } else {
            (day, month, year, time) = (Int(tokens[1]), months.firstIndex(of: tokens[2]).map { $0 + 1 }, Int(tokens[3]), tokens[4])
        }
        let clock = time.split(separator: ":").compactMap { Int($0) }
        guard var year, let month, let day, (1...31).contains(day), clock.count == 3,
            (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2])
        else { return nil }
        if year < 100 { year += year < 70 ? 2000 : 1900 }
        // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + clock[0] * 3_600 + clock[1] * 60 + clock[2]
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// The error shapes OpenAI, Anthropic, vLLM, llama.cpp, Ollama and FastAPI-based servers send.
    struct ErrorBody: Decodable {
        var message: String?

        private struct Detail: Decodable { var message: String? }
        private enum CodingKeys: String, CodingKey { case error, message, detail }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let detail = try? c.decodeIfPresent(Detail.self, forKey: .error), let text = detail.message {
                message = text
            } else if let text = try? c.decodeIfPresent(String.self, forKey: .error) {
                message = text
            } else if let text = try? c.decodeIfPresent(String.self, forKey: .message) {
                message = text
            } else {
                message = try? c.decodeIfPresent(String.self, forKey: .detail)
            }
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing white space (newlines included).
    var trimmedWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
