using PapaActors.Actors.Population;

namespace PapaActors.Actors.Run;

/// <summary>What happens to a run: the inputs of <see cref="PopulationRun{TPeer}"/>.</summary>
public abstract record RunInput;

/// <summary>A message from a member, a node, a member node or the recorder, with its sender (any sender may be a stranger).</summary>
public sealed record Received<TPeer>(TPeer From, object Message) : RunInput;

/// <summary>A member registers (or a restarted one again) from <paramref name="Member"/>, with its node's reducer.</summary>
public sealed record Registration<TPeer>(int Index, TPeer Member, TPeer Reducer, string LayoutFingerprint) : RunInput;

/// <summary>
/// A watched member stopped. <paramref name="Replaceable"/>: it ran on another node, which may run it again;
/// <paramref name="NodeUnreachable"/>: its node is gone.
/// </summary>
public sealed record PeerStopped<TPeer>(TPeer Peer, bool Replaceable, bool NodeUnreachable) : RunInput;

/// <summary>A timer set by <see cref="StartTimer"/> went off.</summary>
public sealed record TimedOut(RunTimer Timer, int Round) : RunInput;

/// <summary>The soups are evaluated.</summary>
public sealed record SoupsDone(SoupActor.SoupsReady Soups) : RunInput;

/// <summary>The soups could not be made (the soup worker failed or stopped).</summary>
public sealed record SoupsFailed(string Reason) : RunInput;

/// <summary>Carrying out a command failed (say, a message too large to send): the run ends with the cause.</summary>
public sealed record CommandFailed(string Reason) : RunInput;
