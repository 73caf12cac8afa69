// SPDX-License-Identifier: Apache-2.0
import Host
import MeshCore
import Wire

/// Sessions with members, found through membership: a member's session, or a dial to its advertised address,
/// or — when we cannot reach it — a relayed offer through the mesh asking it to dial us (signaling).
extension PeerLayer {
    /// A session with `member`, if one is up; otherwise starts dialing its advertised address and returns nil.
    func route(_ member: MemberID) -> UInt64? {
        guard let membership else { return nil }
        return membership.route(member, now: clock.now()) { address in dialer.async { [self] in dialMember(at: address, membership: membership) } }
    }

    /// Sends SWIM's messages over the sessions to their members, dialing members without a session (the
    /// message itself is dropped then: SWIM tolerates loss, and the next one finds the session).
    func sendMembership(_ out: [SwimNode.Outbound]) {
        for message in out {
            if let connection = route(message.to) { try? send(WireMessage(.membership, payload: SwimCodec.encode(message.message)), on: connection) }
        }
    }

    func sendGossip(_ out: [GossipNode.Outbound]) {
        for message in out {
            if let connection = route(message.to) { try? send(WireMessage(.gossip, payload: GossipCodec.encode(message.message)), on: connection) }
        }
    }

    /// Dials a member's advertised address; when that fails, asks the member through the mesh (the signaling
    /// topic) to dial back — it may reach us where we cannot reach it.
    private func dialMember(at address: String, membership: Membership) {
        do throws(TransportCallError) {
            _ = try transport.dial(address)
        } catch {
            membership.dialFailed(address)
            guard let gossip, let target = membership.member(at: address), let mine = membership.advertisedAddress, !mine.isEmpty else { return }
            let now = clock.now()
            let due = state.withLock { state -> Bool in
                guard now - (state.offers[target] ?? 0) > 10_000_000_000 || state.offers[target] == nil else { return false }
                state.offers[target] = now
                return true
            }
            guard due else { return }
            logger.info("cannot dial member \(String(target, radix: 16)) at \(address); asking it through the mesh to dial \(mine)")
            // The gossip topic's members are refreshed by the tick, after membership's: a dial started by SWIM's
            // first probe of a member just learned could publish the offer to an empty or stale set, and the
            // offer (sent once per 10 s) was lost. It goes to the members known now.
            gossip.setMembers(membership.aliveMembers)
            sendGossip(gossip.offer(MeshGossip.Offer(target: target, address: mine)))
        }
    }

    /// A member that cannot reach us asked us to dial it.
    func answer(_ offer: MeshGossip.Offer) {
        // Only to where a member said it can be reached, and only a few per 10 s: an offer must not turn this
        // node into a tool that dials arbitrary addresses for whoever gossips.
        guard let membership else { return }
        let now = clock.now()
        guard membership.member(at: offer.address) != nil else {
            // The offer may outrun the membership update that names its address: keep it a while (bounded) and
            // answer it once a member advertises that address (``tickOffers(now:)``); drop it otherwise.
            let kept = state.withLock { state -> Bool in
                guard !state.pendingOffers.contains(where: { $0.offer.address == offer.address }) else { return true }
                guard state.pendingOffers.count < Limits.pendingOffers else { return false }
                state.pendingOffers.append((offer, now))
                return true
            }
            if !kept { logger.warning("relayed connection offer to \(offer.address) dropped: \(Limits.pendingOffers) offers already wait") }
            return
        }
        let due = state.withLock { state -> Bool in
            state.answeredOffers = state.answeredOffers.filter { now - $0.at < 10_000_000_000 }
            guard state.answeredOffers.count < Limits.offersPer10Seconds, !state.answeredOffers.contains(where: { $0.address == offer.address }) else {
                return false
            }
            state.answeredOffers.append((offer.address, now))
            return true
        }
        guard due else {
            logger.debug("relayed connection offer to \(offer.address) dropped: rate limit")
            return
        }
        logger.info("relayed connection offer: dialing \(offer.address)")
        dialer.async { [self] in
            do throws(TransportCallError) { _ = try transport.dial(offer.address) } catch {
                logger.warning("cannot answer a connection offer from \(offer.address): \(error.message)")
            }
        }
    }

    /// Answers kept offers whose address a member now advertises; forgets those kept too long (the tick).
    func tickOffers(now: UInt64) {
        guard let membership else { return }
        let waiting = state.withLock { state -> [MeshGossip.Offer] in
            let limit = clock.nanoseconds(Limits.pendingOfferSeconds)
            state.pendingOffers.removeAll { now > $0.at && now - $0.at > limit }
            return state.pendingOffers.map(\.offer)
        }
        // Checked outside the state lock (membership has its own).
        let ready = waiting.filter { membership.member(at: $0.address) != nil }
        guard !ready.isEmpty else { return }
        state.withLock { state in state.pendingOffers.removeAll { entry in ready.contains { $0.address == entry.offer.address } } }
        for offer in ready { answer(offer) }
    }
}
