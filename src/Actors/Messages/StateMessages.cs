using PapaActors.Models.Training;

namespace PapaActors.Actors.Messages;

// Checkpoints and rollback: a member's whole state at a round boundary, out and back in.

/// <summary>Send the whole state (after every Mix sent before this message): for a checkpoint, or for a divergence reset.</summary>
public sealed record CaptureState(int Round) : IPapaMessage;

public sealed record StateCaptured(int Round, MemberState State) : IPapaMessage;

/// <summary>
/// Go back to <paramref name="State"/>; without one, to a fresh member's initial state (step 0). In the current
/// <paramref name="Attempt"/> it resets a diverged member within the round; in a new one it is a rollback, and
/// whatever the member held back for the abandoned attempt is dropped.
/// </summary>
public sealed record RestoreState(int Round, MemberState? State, long Attempt = 0) : IPapaMessage;

public sealed record StateRestored(int Member, int Round) : IPapaMessage;
