using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Messages;
using PapaActors.Models.Training;

namespace PapaActors.Actors.Run;

/// <summary>Every member's state at one round boundary, collected for a checkpoint while the members train on.</summary>
internal sealed class CheckpointCapture(int population)
{
    private readonly MemberState?[] _states = new MemberState?[population];
    private long _samples;
    private double _seconds;

    /// <summary>The boundary being captured: the round the members train after it (null: none).</summary>
    public int? Round { get; private set; }

    /// <summary>The members whose state has not come.</summary>
    public IEnumerable<int> Missing => Enumerable.Range(0, population).Where(i => _states[i] is null);

    /// <summary>Starts a capture at the boundary before <paramref name="round"/>, abandoning any earlier one.</summary>
    public void Begin(int round, long samples, double trainingSeconds)
    {
        Round = round;
        _samples = samples;
        _seconds = trainingSeconds;
        Array.Clear(_states);
    }

    /// <summary>Whether <paramref name="captured"/> is a state this capture still waits for.</summary>
    public bool Awaits(StateCaptured captured) =>
        captured.Round == Round && captured.State.Member >= 0 && captured.State.Member < population && _states[captured.State.Member] is null;

    /// <summary>Takes a member's state; returns the checkpoint once every member's has come.</summary>
    public Checkpoint? Add(MemberState state)
    {
        _states[state.Member] = state;
        if (_states.Any(s => s is null))
            return null;
        var checkpoint = new Checkpoint(Round!.Value, _samples, _seconds, 0, 0, _states.Select(s => s!).ToList());
        Abandon();
        return checkpoint;
    }

    public void Abandon()
    {
        Round = null;
        Array.Clear(_states);
    }
}
