using System.Collections.Immutable;

namespace PapaActors.Actors.Messages;

// Cluster: a member node asks the Averager's node for the run configuration before it builds members.

/// <summary>A member node's first message; asked again with a <paramref name="Proof"/> when challenged.</summary>
public sealed record RequestRunConfig(string Node, int ProtocolVersion = WireProtocol.Version, SecretProof? Proof = null) : IPapaMessage;

/// <summary>The node may not take part in the run (another protocol version, no or a wrong run secret); it stops.</summary>
public sealed record RunConfigRefused(string Reason) : IPapaMessage;

/// <summary>The resolved `papa` section of the run (and the `akka` keys its user gave), as HOCON text (<see cref="Configuration.RunConfig.Text"/>).</summary>
public sealed record RunConfigText(string Hocon) : IPapaMessage;

/// <summary>
/// A member node asks which member indices it may run: <paramref name="Wanted"/> (all of them, or none while
/// another node runs any of them), or with no list (`--members auto`) every index that has no member.
/// </summary>
public sealed record RequestMissingMembers(string Node, ImmutableArray<int>? Wanted) : IPapaMessage;

/// <summary>The indices offered to the asking node, held for it for a while; empty: none yet, ask again.</summary>
public sealed record MissingMembers(ImmutableArray<int> Indices) : IPapaMessage;

// Failures.

/// <summary>
/// A member reports why it failed. <paramref name="Restarting"/>: its supervisor restarts it (it registers
/// again, fresh); otherwise it stops for good (its model could not even be built).
/// </summary>
public sealed record MemberFailed(int Member, string Reason, bool Restarting = false) : IPapaMessage;
