/// Every span attribute key the mapping rules read, by ecosystem (COMPAT §3.4–3.7).
enum Keys {
    enum Langfuse {
        static let observationType = "langfuse.observation.type"
        static let input = "langfuse.observation.input"
        static let output = "langfuse.observation.output"
        static let model = "langfuse.observation.model.name"
        static let modelParameters = "langfuse.observation.model.parameters"
        static let usageDetails = "langfuse.observation.usage_details"
        static let costDetails = "langfuse.observation.cost_details"
        static let completionStartTime = "langfuse.observation.completion_start_time"
        static let promptName = "langfuse.observation.prompt.name"
        static let promptVersion = "langfuse.observation.prompt.version"
        static let legacyPromptName = "langfuse.prompt.name"
        static let legacyPromptVersion = "langfuse.prompt.version"
        static let level = "langfuse.observation.level"
        static let statusMessage = "langfuse.observation.status_message"
        static let observationMetadata = "langfuse.observation.metadata"
        static let observationMetadataPrefix = "langfuse.observation.metadata."
        static let legacyMetadata = "langfuse.metadata"
        static let legacyMetadataPrefix = "langfuse.metadata."
        static let traceName = "langfuse.trace.name"
        static let traceTags = "langfuse.trace.tags"
        static let tags = "langfuse.tags"
        static let tracePublic = "langfuse.trace.public"
        static let isPublic = "langfuse.public"
        static let traceMetadata = "langfuse.trace.metadata"
        static let traceMetadataPrefix = "langfuse.trace.metadata."
        static let traceInput = "langfuse.trace.input"
        static let traceOutput = "langfuse.trace.output"
        static let userID = "langfuse.user.id"
        static let sessionID = "langfuse.session.id"
        static let environment = "langfuse.environment"
        static let release = "langfuse.release"
        static let version = "langfuse.version"
        static let asRoot = "langfuse.internal.as_root"
        static let sdkScope = "langfuse-sdk"
        static let compatUserID = [
            "langfuse.trace.metadata.langfuse_user_id", "langfuse.observation.metadata.langfuse_user_id",
        ]
        static let compatSessionID = [
            "langfuse.trace.metadata.langfuse_session_id", "langfuse.observation.metadata.langfuse_session_id",
        ]
        static let compatTags = [
            "langfuse.trace.metadata.langfuse_tags", "langfuse.observation.metadata.langfuse_tags",
        ]
    }

    enum Semconv {
        static let userID = "user.id"
        static let sessionID = "session.id"
        static let serviceVersion = "service.version"
        static let deploymentEnvironmentName = "deployment.environment.name"
        static let deploymentEnvironment = "deployment.environment"
    }

    enum GenAI {
        static let operationName = "gen_ai.operation.name"
        static let requestModel = "gen_ai.request.model"
        static let responseModel = "gen_ai.response.model"
        static let requestPrefix = "gen_ai.request."
        static let usagePrefix = "gen_ai.usage."
        static let usageCost = "gen_ai.usage.cost"
        static let toolName = "gen_ai.tool.name"
        static let toolCallID = "gen_ai.tool.call.id"
        static let toolCallArguments = "gen_ai.tool.call.arguments"
        static let toolCallResult = "gen_ai.tool.call.result"
        static let inputMessages = "gen_ai.input.messages"
        static let outputMessages = "gen_ai.output.messages"
        static let systemInstructions = "gen_ai.system_instructions"
        static let conversationID = "gen_ai.conversation.id"
        static let promptPrefix = "gen_ai.prompt."
        static let completionPrefix = "gen_ai.completion."
        static let contentPromptEvent = "gen_ai.content.prompt"
        static let contentCompletionEvent = "gen_ai.content.completion"
        static let promptAttribute = "gen_ai.prompt"
        static let completionAttribute = "gen_ai.completion"
        static let operationDetailsEvent = "gen_ai.client.inference.operation.details"
        static let messageEvents = [
            "gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message",
        ]
        static let choiceEvent = "gen_ai.choice"
    }

    enum OpenInference {
        static let spanKind = "openinference.span.kind"
        static let modelName = "llm.model_name"
        static let responseModel = "llm.response.model"
        static let embeddingModelName = "embedding.model_name"
        static let invocationParameters = "llm.invocation_parameters"
        static let tokenCountPrefix = "llm.token_count."
        static let costPrompt = "llm.cost.prompt"
        static let costCompletion = "llm.cost.completion"
        static let costTotal = "llm.cost.total"
        static let inputMessagesPrefix = "llm.input_messages."
        static let outputMessagesPrefix = "llm.output_messages."
        static let inputValue = "input.value"
        static let outputValue = "output.value"
        static let inputMimeType = "input.mime_type"
        static let outputMimeType = "output.mime_type"
        static let metadata = "metadata"
        static let tags = "tag.tags"
    }

    enum Traceloop {
        static let entityInput = "traceloop.entity.input"
        static let entityOutput = "traceloop.entity.output"
    }

    /// A plain `model` attribute (several instrumentations).
    static let model = "model"
}
