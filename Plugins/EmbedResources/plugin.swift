import Foundation
import PackagePlugin

/// Embeds `schema/` (a folder per database), the built-in price table and `web/` into the target it is applied to, as generated
/// Swift, so the `tally` binary needs no resource bundle or checkout beside it. Runs `tally-embed` whenever any
/// of those files (or the set of them) changes.
@main
struct EmbedResources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        var inputs: [(name: String, url: URL)] = []
        // Files of `folder` and of its subfolders (schema/sqlite/, schema/postgres/), named by their relative path.
        func add(_ folder: String) throws {
            let dir = root.appending(path: folder)
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }
            for name in names.sorted() {
                var isFolder: ObjCBool = false
                let url = dir.appending(path: name)
                if FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue {
                    try add("\(folder)/\(name)")
                } else {
                    inputs.append(("\(folder)/\(name)", url))
                }
            }
        }
        try add("schema")
        try add("web")
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
