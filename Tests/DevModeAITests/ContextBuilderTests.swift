import Testing
@testable import DevModeAI

@Suite struct ContextBuilderTests {
    static let swiftPrefix = """
        import Foundation

        struct OrderService {
            let repository: UserRepository

            func total(for userID: Int) async throws -> Decimal {
                let user = try await repository.fetchUser(id: userID)
                let orders = try await repository.fetchOrders(for: user)
                return orders.reduce(0) { $0 + $1.
        """
    static let swiftSuffix = """
        }
            }
        }

        """

    static let userRepository = ContextSource(
        path: "Sources/App/UserRepository.swift",
        text: """
            import Foundation

            struct User { let id: Int; let name: String }
            struct Order { let id: Int; let amount: Decimal }

            final class UserRepository {
                private var users: [Int: User] = [:]
                private var orders: [Int: [Order]] = [:]

                func fetchUser(id: Int) async throws -> User {
                    guard let user = users[id] else { throw RepositoryError.notFound(id) }
                    return user
                }

                func fetchOrders(for user: User) async throws -> [Order] {
                    orders[user.id] ?? []
                }
            }

            enum RepositoryError: Error { case notFound(Int) }
            """)

    static let networking = ContextSource(
        path: "Sources/App/HTTPClient.swift",
        text: """
            import Foundation

            final class HTTPClient {
                let session: URLSession
                init(session: URLSession = .shared) { self.session = session }

                func get(_ url: URL) async throws -> Data {
                    let (data, response) = try await session.data(from: url)
                    guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw URLError(.badServerResponse) }
                    return data
                }
            }
            """)

    @Test func keepsASmallDocumentWholeWithAPathHeader() {
        let context = ContextBuilder.build(
            prefix: Self.swiftPrefix, suffix: Self.swiftSuffix, path: "Sources/App/OrderService.swift",
            language: "swift", related: [], budgetTokens: 2048)
        #expect(context.prefix == "// Path: Sources/App/OrderService.swift\n" + Self.swiftPrefix)
        #expect(context.suffix == Self.swiftSuffix)
        #expect(context.rawPrefixTail == Self.swiftPrefix)
        #expect(context.snippets.isEmpty)
        #expect(context.estimatedTokens == TokenEstimate.count(context.prefix + context.suffix))
    }

    @Test func headerUsesTheLanguagesCommentSyntax() {
        func header(_ path: String?, _ language: String?) -> String {
            let prefix = ContextBuilder.build(
                prefix: "x", suffix: "", path: path, language: language, related: [], budgetTokens: 500
            ).prefix
            return String(prefix.dropLast())
        }
        #expect(header("Sources/App/main.swift", "swift") == "// Path: Sources/App/main.swift\n")
        #expect(header("app.py", "python") == "# Path: app.py\n")
        #expect(header("db/schema.sql", "sql") == "-- Path: db/schema.sql\n")
        #expect(header("init.lua", "lua") == "-- Path: init.lua\n")
        #expect(header("Main.hs", "haskell") == "-- Path: Main.hs\n")
        #expect(header("index.html", "html") == "<!-- Path: index.html -->\n")
        #expect(header("cmd/server/main.go", "go") == "// Path: cmd/server/main.go\n")
        // The language comes from the extension when the client does not say.
        #expect(header("scripts/build.py", nil) == "# Path: scripts/build.py\n")
        #expect(header("web/App.tsx", nil) == "// Path: web/App.tsx\n")
        #expect(header(nil, "ruby") == "# Language: ruby\n")
        #expect(header(nil, nil) == "")
    }

    @Test func hugePrefixAndSuffixAreCutAtLinesWithinTheBudget() {
        var prefix = ""
        for i in 0..<10_000 { prefix += "    let value\(i) = compute(\(i), scale: factor) // step \(i)\n" }
        prefix += "    let next = compute("
        var suffix = ")\n"
        for i in 0..<5_000 { suffix += "    print(value\(i))\n" }
        suffix += "}\n"
        let budget = 1_000
        let context = ContextBuilder.build(
            prefix: prefix, suffix: suffix, path: "Sources/App/Big.swift", language: "swift", related: [],
            budgetTokens: budget)

        #expect(context.estimatedTokens <= budget)
        #expect(TokenEstimate.count(context.prefix + context.suffix) <= budget)
        // The prefix keeps its end and starts at a line; the suffix keeps its start and ends at one.
        #expect(prefix.hasSuffix(context.rawPrefixTail))
        #expect(context.rawPrefixTail.hasPrefix("    let value"))
        #expect(context.rawPrefixTail.hasSuffix("    let next = compute("))
        #expect(suffix.hasPrefix(context.suffix))
        #expect(context.suffix.hasPrefix(")\n    print(value0)\n"))
        #expect(context.suffix.hasSuffix("\n"))
        // About 70% prefix, 15% suffix.
        let bytes = Double(TokenEstimate.utf8Bytes(forTokens: budget))
        let prefixShare = Double(context.rawPrefixTail.utf8.count) / bytes
        let suffixShare = Double(context.suffix.utf8.count) / bytes
        #expect(prefixShare > 0.75 && prefixShare <= 0.85, "\(prefixShare)")
        #expect(suffixShare > 0.10 && suffixShare <= 0.15, "\(suffixShare)")
    }

    @Test func aShortSuffixLeavesItsShareToThePrefix() {
        var prefix = ""
        for i in 0..<2_000 { prefix += "x\(i) = f(x\(i - 1))\n" }
        let budget = 500
        let context = ContextBuilder.build(
            prefix: prefix, suffix: "\n", path: "a.py", language: "python", related: [], budgetTokens: budget)
        let bytes = TokenEstimate.utf8Bytes(forTokens: budget)
        #expect(context.rawPrefixTail.utf8.count > bytes * 90 / 100)
        #expect(context.estimatedTokens <= budget)
    }

    @Test func neverSplitsACharacterWhenOneLineIsLongerThanTheBudget() {
        // No line boundary within reach: the cut falls between Characters, never inside one.
        let family: Character = "👨‍👩‍👧"
        let prefix = "let s = \"" + String(repeating: String(family), count: 500)
        let suffix = String(repeating: "漢字🇯🇵", count: 400) + "\"\n"
        for budget in [40, 41, 42, 43, 97, 200] {
            let context = ContextBuilder.build(
                prefix: prefix, suffix: suffix, path: nil, language: nil, related: [], budgetTokens: budget)
            #expect(context.estimatedTokens <= budget)
            #expect(!context.rawPrefixTail.isEmpty)
            #expect(context.rawPrefixTail.allSatisfy { $0 == family }, "budget \(budget)")
            #expect(prefix.hasSuffix(context.rawPrefixTail))
            #expect(!context.suffix.isEmpty)
            #expect(context.suffix.allSatisfy { $0 == "漢" || $0 == "字" || $0 == "🇯🇵" }, "budget \(budget)")
            #expect(suffix.hasPrefix(context.suffix))
        }
    }

    @Test func noBudgetMeansAnEmptyContext() {
        let context = ContextBuilder.build(
            prefix: "abc\n", suffix: "def\n", path: "a.swift", language: nil, related: [Self.userRepository], budgetTokens: 0)
        #expect(context.prefix.isEmpty && context.suffix.isEmpty && context.snippets.isEmpty)
        #expect(context.estimatedTokens == 0)
    }

    @Test func snippetsComeFromTheMostSimilarSourceAsComments() throws {
        let current = ContextSource(path: "Sources/App/OrderService.swift", text: Self.swiftPrefix + Self.swiftSuffix)
        let context = ContextBuilder.build(
            prefix: Self.swiftPrefix, suffix: Self.swiftSuffix, path: current.path, language: "swift",
            related: [Self.networking, current, Self.userRepository], budgetTokens: 2048)

        let first = try #require(context.snippets.first)
        #expect(first.path == Self.userRepository.path)
        #expect(first.text.contains("func fetchOrders(for user: User) async throws -> [Order] {"))
        #expect(first.score > 0 && first.score <= 1)
        // The current file is never its own neighbour.
        #expect(!context.snippets.contains { $0.path == current.path })
        #expect(context.snippets.allSatisfy { $0.path != Self.networking.path || $0.score < first.score })

        #expect(context.prefix.hasPrefix("// Path: Sources/App/OrderService.swift\n"))
        #expect(context.prefix.contains("// Compare this snippet from Sources/App/UserRepository.swift:\n"))
        #expect(context.prefix.contains("\n//     func fetchUser(id: Int) async throws -> User {\n"))
        #expect(context.prefix.hasSuffix(Self.swiftPrefix))
        #expect(context.rawPrefixTail == Self.swiftPrefix)
        #expect(context.estimatedTokens <= 2048)
    }

    @Test func pythonSnippetsArePythonComments() {
        let models = ContextSource(
            path: "shop/models.py",
            text: """
                from dataclasses import dataclass


                @dataclass
                class LineItem:
                    product_id: int
                    quantity: int
                    unit_price: float

                    def subtotal(self) -> float:
                        return self.quantity * self.unit_price
                """)
        let prefix = """
            from shop.models import LineItem


            def invoice_total(items: list[LineItem], tax_rate: float) -> float:
                subtotal = sum(item.subtotal() for item in items)
                return round(subtotal * (1 + tax_rate)
            """
        let context = ContextBuilder.build(
            prefix: prefix, suffix: "\n", path: "shop/invoice.py", language: "python", related: [models], budgetTokens: 1024)
        #expect(context.snippets.map(\.path) == ["shop/models.py"])
        #expect(context.prefix.contains("# Compare this snippet from shop/models.py:\n"))
        #expect(context.prefix.contains("\n#     def subtotal(self) -> float:\n"))
        #expect(context.prefix.contains("\n#\n"))  // a blank line is a bare comment marker
        #expect(context.prefix.hasSuffix(prefix))
    }

    @Test func snippetsRespectTheirShareOfTheBudget() {
        var prefix = ""
        for i in 0..<400 { prefix += "\tresult\(i % 7) := repository.FetchUser(ctx, userID\(i % 5))\n" }
        var related: [ContextSource] = []
        for f in 0..<6 {
            var text = "package store\n\n"
            for i in 0..<300 { text += "func (r *Repository) FetchUser\(f)_\(i)(ctx context.Context, userID\(i % 5) int) (*User, error) {\n\treturn r.users[userID\(i % 5)], nil\n}\n" }
            related.append(ContextSource(path: "store/repo\(f).go", text: text))
        }
        let budget = 1000
        let context = ContextBuilder.build(
            prefix: prefix, suffix: "}\n", path: "cmd/main.go", language: "go", related: related, budgetTokens: budget)
        #expect(!context.snippets.isEmpty)
        #expect(context.estimatedTokens <= budget)
        let header = "// Path: cmd/main.go\n"
        let snippetBytes = context.prefix.utf8.count - header.utf8.count - context.rawPrefixTail.utf8.count
        let available = TokenEstimate.utf8Bytes(forTokens: budget) - header.utf8.count
        #expect(snippetBytes > 0 && snippetBytes <= available * 15 / 100)
        // Every snippet is commented out, line by line.
        let commented = context.prefix.dropFirst(header.utf8.count).prefix(snippetBytes)
        #expect(commented.split(separator: "\n").allSatisfy { $0.hasPrefix("//") })
    }

    @Test func aChangedSourceIsReindexed() {
        let prefix = "const total = cart.items.map(lineTotal).reduce(add, 0);\nconst shipping = "
        let before = ContextSource(
            path: "src/cart.ts",
            text: "export function lineTotal(item: Item) { return item.price * item.quantity; }\nexport const add = (a: number, b: number) => a + b;\n")
        let first = ContextBuilder.build(
            prefix: prefix, suffix: "\n", path: "src/checkout.ts", language: "typescript", related: [before], budgetTokens: 1024)
        #expect(first.snippets.first?.text.contains("item.price * item.quantity") == true)

        // Same path, same length, different text: the cached index must not be used.
        var changed = before.text.replacing("item.price * item.quantity", with: "item.quantity * item.price")
        #expect(changed.utf8.count == before.text.utf8.count)
        let second = ContextBuilder.build(
            prefix: prefix, suffix: "\n", path: "src/checkout.ts", language: "typescript",
            related: [ContextSource(path: before.path, text: changed)], budgetTokens: 1024)
        #expect(second.snippets.first?.text.contains("item.quantity * item.price") == true)
        #expect(!second.prefix.contains("item.price * item.quantity"))

        changed += "export const shippingCost = (total: number) => total > 50 ? 0 : 4.99;\n"
        let third = ContextBuilder.build(
            prefix: prefix, suffix: "\n", path: "src/checkout.ts", language: "typescript",
            related: [ContextSource(path: before.path, text: changed)], budgetTokens: 1024)
        #expect(third.snippets.first?.text.contains("shippingCost") == true)
    }

    @Test func largeWorkspaceContextStaysWithinBudgetAndFindsTheNeighbour() {
        // A 10k-line document and 20 related sources of 2k lines: the size the latency target is set for.
        var document = ""
        for i in 0..<10_000 { document += "    let metric\(i % 97) = collector.sample(\"cpu\", window: \(i % 60))\n" }
        document += "    let invoice = billing.makeInvoice(customer: customer, lines: cartLines, currency: "
        var related: [ContextSource] = []
        for f in 0..<20 {
            var text = ""
            for i in 0..<2_000 { text += "    let widget\(f)_\(i) = Layout.row(spacing: \(i % 8), alignment: .center)\n" }
            related.append(ContextSource(path: "Sources/UI/View\(f).swift", text: text))
        }
        var billing = ""
        for i in 0..<2_000 {
            billing += i == 1_500
                ? "    func makeInvoice(customer: Customer, lines cartLines: [CartLine], currency: Currency) -> Invoice {\n"
                : "    let ledger\(i) = Ledger.entry(account: \(i % 12), amount: .zero)\n"
        }
        related.insert(ContextSource(path: "Sources/Billing/Billing.swift", text: billing), at: 7)

        for _ in 0..<3 {
            let context = ContextBuilder.build(
                prefix: document, suffix: ")\n}\n", path: "Sources/App/Report.swift", language: "swift", related: related,
                budgetTokens: 2048)
            #expect(context.estimatedTokens <= 2048)
            #expect(context.snippets.first?.path == "Sources/Billing/Billing.swift")
            #expect(context.snippets.first?.text.contains("func makeInvoice(customer: Customer") == true)
            #expect(context.rawPrefixTail.hasSuffix("currency: "))
        }
    }
}
