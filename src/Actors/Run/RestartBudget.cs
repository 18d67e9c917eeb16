namespace PapaActors.Actors.Run;

/// <summary>
/// The rollbacks each member may still cause. The budget is per member and since the last checkpoint that got past
/// the last fault: a member that fails deterministically fails in every replay, while unrelated faults over a long
/// run never add up.
/// </summary>
internal sealed class RestartBudget(int population, int maxRestarts, int? lastCheckpoint)
{
    private readonly int[] _used = new int[population];
    /// <summary>The latest round in which a member was lost: only a checkpoint past it is progress past the fault.</summary>
    private int _lastFaultRound = -1;

    /// <summary>The round of the newest checkpoint written, where a rollback goes (null: the start).</summary>
    public int? LastCheckpoint { get; private set; } = lastCheckpoint;

    /// <summary>
    /// A checkpoint was written. When it was taken after the last fault, the run got past that fault: a member that
    /// fails again is a new fault, not the same one replayed. A checkpoint captured before the fault but written
    /// after it (writes run beside training) is not such progress, so the budget does not depend on write timing.
    /// </summary>
    public void CheckpointWritten(int round)
    {
        if (round <= (LastCheckpoint ?? -1))
            return;
        LastCheckpoint = round;
        if (round > _lastFaultRound)
            Array.Clear(_used);
    }

    /// <summary>
    /// Takes one rollback for <paramref name="member"/>, lost in <paramref name="round"/>; false when its budget is
    /// spent. <paramref name="used"/> is how many it has used since the last checkpoint, this one included.
    /// </summary>
    public bool TryTake(int member, int round, out int used)
    {
        _lastFaultRound = Math.Max(_lastFaultRound, round);
        used = _used[member];
        if (used >= maxRestarts)
            return false;
        used = ++_used[member];
        return true;
    }
}
