import DevModeAI
import DevModeProtocol
import DevModeStore
import JSONRPC

extension DevModeServer {
    /// Completion requests and the telemetry about them. Where a document belongs and how a
    /// completion runs there is `CompletionPlacement`'s; these parse, call it, and convert.
    static func registerCompletionHandlers(_ router: inout Router) {
        router.on(InlineCompletionRequest.self) { request, context in
            let (snapshot, completed) = try await context.server.placement.complete(
                request.textDocument.uri, at: request.position, model: request.model, supersede: true,
                session: context.session, caller: context.caller)
            return InlineCompletionList(completed, at: snapshot)
        }
        router.on(CompletionRequest.self) { request, context in
            let (snapshot, completed) = try await context.server.placement.complete(
                request.textDocument.uri, at: request.position, model: request.model, supersede: true,
                session: context.session, caller: context.caller)
            return CompletionList(completed, at: snapshot)
        }
        router.on(AICompleteRequest.self) { request, context in
            let completed = try await context.server.placement.complete(request, session: context.session, caller: context.caller)
            return AICompleteResult(
                completionId: completed.items.first?.id ?? Identifier.make("cmp"), model: completed.model,
                candidates: completed.items.map(\.text), cached: completed.cached,
                usage: CompletionUsage(inputTokens: completed.usage.inputTokens, outputTokens: completed.usage.outputTokens),
                clampedMaxOutputTokens: completed.clampedMaxOutputTokens,
                fallback: completed.fallback.map(CompletionFallback.init))
        }
        router.on(ExecuteCommandRequest.self) { request, context in
            guard request.command == ExecuteCommandRequest.acceptCompletionCommand else {
                throw ResponseError.invalidParams("unknown command '\(request.command)'", field: "command")
            }
            guard let id = request.arguments?.first?.stringValue else {
                throw ResponseError.invalidParams("the command takes the completion id", field: "arguments")
            }
            let length = request.arguments?.dropFirst().first.flatMap { value -> Int? in
                if case .int(let n) = value { return n }
                return nil
            }
            context.server.ai.telemetry(.accepted(length: length), completionId: id, caller: context.caller)
            return VoidResponse()
        }
        router.on(CompletionDidShowNotification.self) { notification, context in
            context.server.ai.telemetry(.shown, completionId: notification.completionId, caller: context.caller)
        }
        router.on(CompletionDidAcceptNotification.self) { notification, context in
            context.server.ai.telemetry(
                .accepted(length: notification.acceptedLength), completionId: notification.completionId, caller: context.caller)
        }
        router.on(CompletionDidRejectNotification.self) { notification, context in
            for id in notification.completionIds.prefix(100) {
                context.server.ai.telemetry(.rejected, completionId: id, caller: context.caller)
            }
        }
    }
}

extension LSPCommand {
    /// The command an accepted completion item runs (`workspace/executeCommand`).
    static func acceptCompletion(_ id: String) -> LSPCommand {
        LSPCommand(title: "Accept completion", command: ExecuteCommandRequest.acceptCompletionCommand, arguments: [.string(id)])
    }
}

extension InlineCompletionList {
    /// Each candidate inserted at the cursor.
    init(_ completed: AIService.Completed, at snapshot: CompletionSnapshot) {
        self.init(
            items: completed.items.map { item in
                InlineCompletionItem(
                    insertText: item.text, range: TextRange(start: snapshot.position, end: snapshot.position),
                    command: .acceptCompletion(item.id), completionId: item.id)
            })
    }
}

extension CompletionList {
    /// Each candidate as an item replacing the word being typed (its label the first line, at most
    /// 80 characters), in the order given.
    init(_ completed: AIService.Completed, at snapshot: CompletionSnapshot) {
        let range = TextRange(start: snapshot.wordStart, end: snapshot.position)
        self.init(
            isIncomplete: true,
            items: completed.items.enumerated().map { index, item in
                let newText = snapshot.word + item.text
                let firstLine = newText.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? newText
                return CompletionItem(
                    label: firstLine.count > 80 ? String(firstLine.prefix(79)) + "…" : firstLine, kind: 1,
                    detail: "devmode · \(completed.model)", filterText: newText,
                    sortText: String(repeating: "0", count: max(0, 4 - String(index).count)) + String(index),
                    textEdit: TextEdit(range: range, newText: newText),
                    command: .acceptCompletion(item.id), data: CompletionItemData(completionId: item.id))
            })
    }
}
