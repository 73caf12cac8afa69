// SPDX-License-Identifier: Apache-2.0
import Host

/// The node manifest (TOML, Host's ``Manifest/parse(_:file:relativeTo:)``) and the mesh key file, from any
/// bytes as a mistyped or hostile file gives them: either a manifest or a ``ManifestError`` naming problems,
/// and the same text always gives the same answer.
enum TOMLTarget {
    static func run(_ raw: UnsafeRawBufferPointer) {
        let text = String(decoding: raw, as: UTF8.self)
        let first = Result { () throws(ManifestError) in try Manifest.parse(text, file: "fuzz.toml", relativeTo: "/nonexistent") }
        switch first {
        case .success(let manifest):
            let again = try? Manifest.parse(text, file: "fuzz.toml", relativeTo: "/nonexistent")
            require(again == manifest, "the same manifest text parsed to two manifests")
        case .failure(let error):
            require(!error.problems.isEmpty, "a refused manifest names no problem")
        }
        if let key = try? MeshKeyFile.decode(text) { require(key.count == MeshKeyFile.keySize, "a mesh key file gave a key of \(key.count) bytes") }
    }
}
