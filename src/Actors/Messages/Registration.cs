using Akka.Actor;

namespace PapaActors.Actors.Messages;

// Registration: member -> averager, then the averager's answer.

/// <summary>
/// A member announces itself (once its model is built) with the fingerprint of its weight layout and the
/// <see cref="Population.NodeReducer"/> of its node, which combines its snapshots with its node's other members'.
/// In a cluster run with a secret, it registers again with a <paramref name="Proof"/> when challenged.
/// </summary>
public sealed record RegisterMember(int Index, IActorRef Member, string LayoutFingerprint, IActorRef Reducer, int ProtocolVersion = WireProtocol.Version,
    SecretProof? Proof = null) : IPapaMessage;

public sealed record MemberAccepted(int Index) : IPapaMessage;

/// <summary>Registration refused (index out of range or taken, layout unlike the others); the member stops.</summary>
public sealed record MemberRejected(int Index, string Reason) : IPapaMessage;
