using static TorchSharp.torch;

namespace PapaActors.Models.Weights;

/// <summary>
/// Arithmetic on snapshots. Sums run in the order given, one input at a time, so the result is a pure
/// function of the inputs and their order (no reduction whose rounding depends on thread count).
/// </summary>
public static class WeightMath
{
    /// <summary>sum_i coefficients[i] * snapshots[i], accumulated in list order.</summary>
    public static WeightSnapshot WeightedSum(IReadOnlyList<WeightSnapshot> snapshots, IReadOnlyList<double> coefficients)
    {
        if (snapshots.Count == 0)
            throw new ArgumentException("nothing to average: no snapshots");
        if (coefficients.Count != snapshots.Count)
            throw new ArgumentException($"{snapshots.Count} snapshots but {coefficients.Count} coefficients");
        var layout = snapshots[0].Layout;
        for (var i = 1; i < snapshots.Count; i++)
            layout.EnsureMatches(snapshots[i].Layout, $"snapshot {i}");

        var result = new float[layout.TotalLength];
        using var scope = NewDisposeScope();
        var sum = from_array(result);
        for (var i = 0; i < snapshots.Count; i++)
        {
            using var coefficient = Scalars.Of(coefficients[i]);
            sum.add_(snapshots[i].View(), coefficient);
        }
        return WeightSnapshot.FromOwned(layout, result);
    }

    public static WeightSnapshot Average(IReadOnlyList<WeightSnapshot> snapshots) =>
        WeightedSum(snapshots, Enumerable.Repeat(1.0 / snapshots.Count, snapshots.Count).ToArray());

    /// <summary>(1 - t) * a + t * b.</summary>
    public static WeightSnapshot Interpolate(WeightSnapshot a, WeightSnapshot b, double t) =>
        WeightedSum([a, b], [1 - t, t]);

    /// <summary>The PAPA-2 child of two parents, 0.5 * a + 0.5 * b: the same bits in either order.</summary>
    public static WeightSnapshot Child(WeightSnapshot a, WeightSnapshot b) => Interpolate(a, b, 0.5);
}
