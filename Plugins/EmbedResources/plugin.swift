import Foundation
import PackagePlugin

/// Embeds `schema/*.sql`, the built-in price table and `web/` into the target it is applied to, as generated
/// Swift, so the `tally` binary needs no resource bundle or checkout beside it. Runs `tally-embed` whenever any
/// of those files (or the set of them) changes.
@main
struct EmbedResources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        var inputs: [(name: String, url: URL)] = []
        for folder in ["schema", "web"] {
            let dir = root.appending(path: folder)
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }
            for name in names.sorted() { inputs.append(("\(folder)/\(name)", dir.appending(path: name))) }
        }
        inputs.append(("model-prices.json", root.appending(path: "Sources/TallyCore/Resources/model-prices.json")))
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) files (schema, prices, web UI)",
                executable: try context.tool(named: "tally-embed").url,
                arguments: [output.path] + inputs.map { "\($0.name)=\($0.url.path)" },
                inputFiles: inputs.map(\.url),
                outputFiles: [output])
        ]
    }
}
