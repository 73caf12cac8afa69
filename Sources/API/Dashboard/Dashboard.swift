// SPDX-License-Identifier: Apache-2.0
import APIModel
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Primitives
import Synchronization

/// The live web dashboard (docs/dashboard.md), served on the TCP API listener behind its token: the pages under
/// `/dashboard/` (HTML, CSS and JavaScript kept in this binary, no CDN: it works offline), the read-only JSON
/// they read under `/v1/dashboard/…`, and one server-sent-event stream (`/v1/events`, a snapshot a second).
///
/// A browser cannot send a bearer header when it navigates: it presents the token once as
/// `/dashboard/?token=…`, gets it back as an HttpOnly, SameSite=Strict cookie and a redirect without it
/// (``BearerAuthorization`` takes that cookie on GET and HEAD requests only: the cookie reads, it never controls).
enum Dashboard {
    /// The cookie that carries the API token for the pages.
    static let cookieName = "inos_api_token"
    /// The pages, each the same shell (the script draws the page its path names).
    static let pages = ["overview", "mesh", "resources", "jobs"]

    static func register(_ router: Router<BasicRequestContext>, _ state: ControlState) {
        let feed = DashboardFeed(state)
        router.get("dashboard") { _, _ in page("overview") }
        router.get("dashboard/{page}") { _, context in
            let name = context.parameters.get("page") ?? ""
            switch name {
            case "app.js": return asset(DashboardAssets.script, type: "text/javascript; charset=utf-8")
            case "app.css": return asset(DashboardAssets.style, type: "text/css; charset=utf-8")
            case _ where pages.contains(name): return page(name)
            default: throw APIFailure(InosError(.notFound, "no dashboard page \(name) (pages: \(pages.joined(separator: ", ")))"))
            }
        }
        let v1 = router.group("v1")
        v1.get("dashboard/overview") { _, _ in try Routes.json(feed.overview()) }
        v1.get("dashboard/mesh") { _, _ in try Routes.json(feed.mesh()) }
        v1.get("dashboard/resources") { _, _ in try Routes.json(await feed.resources()) }
        v1.get("dashboard/jobs") { _, _ in try Routes.json(feed.jobs()) }
        v1.get("dashboard/ledger") { _, _ in try Routes.json(feed.ledger()) }
        v1.get("dashboard/plugins") { _, _ in try Routes.json(feed.plugins()) }
        v1.get("events") { _, _ in try feed.events() }
    }

    static func page(_ name: String) -> Response {
        asset(DashboardAssets.page(name), type: "text/html; charset=utf-8")
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type, .cacheControl: "no-store",
                // Everything from this origin; nothing from anywhere else (and no inline script).
                HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: The token as a cookie

    /// `GET /dashboard…?token=T` with the right token: the cookie and a redirect to the same page without the
    /// token (so it leaves the address bar and the history). Nil for any other request.
    static func login(_ request: Request, token: [UInt8]) -> Response? {
        guard request.method == .get, request.uri.path == "/dashboard" || request.uri.path.hasPrefix("/dashboard/"),
            let presented = request.uri.queryParameters.get("token"), BearerAuthorization.equal(Array(presented.utf8), token)
        else { return nil }
        let path = request.uri.path == "/dashboard" ? "/dashboard/" : request.uri.path
        return Response(
            status: .seeOther,
            headers: [
                .location: path, .cacheControl: "no-store",
                .setCookie: "\(cookieName)=\(String(decoding: token, as: UTF8.self)); HttpOnly; SameSite=Strict; Path=/",
            ])
    }

    /// The token the request's cookie carries, if any (only reading requests may use it).
    static func cookieToken(_ request: Request) -> [UInt8]? {
        guard request.method == .get || request.method == .head else { return nil }
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " }
                guard trimmed.hasPrefix(cookieName + "=") else { continue }
                return Array(trimmed.dropFirst(cookieName.count + 1).utf8)
            }
        }
        return nil
    }
}
