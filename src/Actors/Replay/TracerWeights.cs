using System.Collections.Immutable;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Replay;

/// <summary>
/// Fake weights that make every mix readable: member j's weights are the one-hot vector e_j of length p, so
/// the weights a member receives in a Mix are, entry by entry, the share each member has in them
/// (the mean is 1/p everywhere; a PAPA-2 child of a and b is 0.5 at a and b). REPAIR statistics are traced the
/// same way: member j's are one layer whose means and stds are e_j, so REPAIR targets read as shares too.
/// </summary>
public static class TracerWeights
{
    public const string EntryName = "tracer";

    public static WeightLayout Layout(int population) => new([new WeightEntry(EntryName, [population], WeightKind.Parameter)]);

    public static WeightSnapshot For(int member, int population)
    {
        var values = new float[population];
        values[member] = 1;
        return WeightSnapshot.FromOwned(Layout(population), values);
    }

    public static ActivationStatistics Statistics(int member, int population)
    {
        var values = For(member, population).Values;
        return new ActivationStatistics([new LayerStatistics(EntryName, values, values)]);
    }

    /// <summary>A scripted member's state for a checkpoint: its tracer weights and an empty (fresh) optimizer.</summary>
    public static MemberState State(int member, int population) => new(member, 0, For(member, population), new WeightSnapshot(new WeightLayout([]), []));

    /// <summary>Each member's share in <paramref name="weights"/>, rounded to 6 decimals (float sums are not exact).</summary>
    public static IReadOnlyList<double> Shares(WeightSnapshot weights) => Shares(weights.Values);

    /// <summary>Each member's share in REPAIR targets (their means), rounded the same way.</summary>
    public static IReadOnlyList<double> Shares(ActivationStatistics targets) => Shares(targets.Layers[0].Mean);

    private static IReadOnlyList<double> Shares(ImmutableArray<float> values) => values.Select(v => Math.Round((double)v, 6)).ToList();
}
