// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Host
import Identity
import Logging
import Primitives
import Session

/// `--mesh-key FILE` (repeatable), for every command that dials a mesh: the mesh keys this process proves
/// with (the first) and accepts (all). Without it, the manifest's `[mesh]` key files apply.
struct MeshKeyOptions: ParsableArguments {
    @Option(
        name: .customLong("mesh-key"),
        help: ArgumentHelp(
            "A mesh key file (inos key generate): only holders of the mesh's key complete a session. Repeatable while rotating keys: the first is proven, all are accepted. Overrides the manifest's [mesh] key_file.",
            valueName: "file"))
    var meshKeys: [String] = []

    /// The admission for this process: the `--mesh-key` files if given, else the manifest's keys; the
    /// manifest's allowlist.
    func admission(_ settings: MeshSettings) throws -> Admission {
        var secrets = settings.keys.map(\.bytes)
        if !meshKeys.isEmpty {
            secrets = []
            for path in meshKeys {
                do throws(InosError) { secrets.append(try MeshKeyFile.read(path)) } catch {
                    throw ValidationError("--mesh-key: \(error.message)")
                }
            }
        }
        let keys = secrets.compactMap(MeshKey.init(bytes:))
        var allowed: Set<NodeID>?
        if let allow = settings.allow {
            allowed = []
            for text in allow {
                guard let id = NodeID(text) else { throw ValidationError("[mesh] allow: \"\(text)\" is not a node ID (n…)") }
                allowed?.insert(id)
            }
        }
        return Admission(keys: keys, allowed: allowed)
    }
}

/// Says at start who may join: the key in use (its fingerprint, never the key) or, without one, that the mesh
/// is open; and the allowlist's size.
func logAdmission(_ admission: Admission, logger: Logger) {
    if let primary = admission.primary {
        let others = admission.keys.dropFirst().map(\.id)
        let accepted = others.isEmpty ? "" : "; also accepted: \(others.joined(separator: ", "))"
        logger.info("mesh key id \(primary.id) in use: only holders of a mesh key complete a session\(accepted)")
    } else {
        logger.warning("open mesh: any node may join; set [mesh] key_file (see inos key generate) or --mesh-key to admit only holders of a mesh key")
    }
    if let allowed = admission.allowed {
        logger.info("allowlist: sessions only with \(allowed.count) node(s) listed in [mesh] allow")
    }
}
