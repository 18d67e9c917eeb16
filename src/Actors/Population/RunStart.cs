using PapaActors.Actors.Checkpoints;

namespace PapaActors.Actors.Population;

/// <summary>How a run starts: afresh in an empty folder, or resumed in its own folder (from a checkpoint, or from the start when it has none).</summary>
public sealed record RunStart(bool Resuming, Checkpoint? Checkpoint)
{
    public static readonly RunStart Fresh = new(false, null);
}
