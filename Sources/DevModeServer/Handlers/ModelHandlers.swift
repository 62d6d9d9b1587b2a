import DevModeAI
import DevModeProtocol
import JSONRPC

extension DevModeServer {
    static func registerModelHandlers(_ router: inout Router) {
        router.on(ModelListRequest.self) { request, context in
            let workspaceId = try await context.completionWorkspace(request.workspaceId)
            _ = try await context.server.directory.workspace(id: workspaceId, for: context.actor)
            let models = try await context.server.ai.models(workspaceId: workspaceId)
            return ModelListResult(
                workspaceId: workspaceId, models: models.map(ModelInfo.init),
                defaultCompletionModel: models.first { $0.capabilities.fillInTheMiddle || $0.capabilities.chat }?.id)
        }
        router.on(WorkspaceSetModelsRequest.self) { request, context in
            let registry = context.server.ai.registry
            var seen = Set<String>()
            for id in request.models {
                guard registry.model(id) != nil else {
                    throw ResponseError.invalidParams("no model '\(id)' in the model registry", field: "models")
                }
                guard seen.insert(id).inserted else {
                    throw ResponseError.invalidParams("model '\(id)' is named twice", field: "models")
                }
            }
            if let fallback = request.fallbackModel, !seen.contains(fallback) {
                throw ResponseError.invalidParams("the fallback model '\(fallback)' must be one of models", field: "fallbackModel")
            }
            try await context.server.directory.setWorkspaceModels(
                workspaceId: request.workspaceId, models: request.models, fallbackModel: request.fallbackModel, by: context.actor)
            context.server.ai.setModels(workspaceId: request.workspaceId, request.models, fallback: request.fallbackModel)
            return WorkspaceModelsResult(
                workspaceId: request.workspaceId, models: request.models, fallbackModel: request.fallbackModel)
        }
    }
}

extension ModelInfo {
    init(_ model: ModelConfiguration) {
        self.init(
            id: model.id, provider: model.provider.rawValue,
            capabilities: ModelCapabilities(
                chat: model.capabilities.chat, fillInTheMiddle: model.capabilities.fillInTheMiddle),
            contextWindow: model.contextWindow, maxOutputTokens: model.maxOutputTokens,
            pricing: ModelPricing(
                inputPerMillion: model.pricing.inputPerMillion, outputPerMillion: model.pricing.outputPerMillion))
    }
}

extension RequestContext {
    /// The workspace a completion or model request works in: the one named, else the one the
    /// client named at `initialize`, else the caller's first.
    func completionWorkspace(_ named: String?) async throws -> String {
        try await server.placement.workspace(named: named, session: session, caller: caller)
    }
}
