using System.Collections.Immutable;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Alignment;

/// <summary>A permutation of every group of a <see cref="PermutationSpec"/>: unit i of the aligned model is unit perm[i] of the original.</summary>
public sealed record Permutations(IReadOnlyDictionary<string, int[]> ByGroup)
{
    public static Permutations Identity(PermutationSpec spec) =>
        new(spec.Groups.ToDictionary(g => g.Key, g => Enumerable.Range(0, g.Value).ToArray()));
}

/// <summary>
/// Weight matching (Ainsworth et al., Git Re-Basin): permutes the hidden units of a model so that its weights best match
/// a reference model's, by coordinate ascent over the permutation groups. For one group, with every other group held,
/// sum_i &lt;A_i, B_perm(i)&gt; over all weights it touches is a linear assignment problem; groups are solved in a seeded
/// order, round after round, until no group improves. Function-preserving: the permuted model computes what it did.
/// The reference (--permutation) matches features on data instead; weight matching needs no data and runs where the soups
/// are made.
/// </summary>
public static class WeightMatching
{
    public static Permutations Match(PermutationSpec spec, WeightSnapshot reference, WeightSnapshot other, long seed = 0, int maxRounds = 100)
    {
        reference.Layout.EnsureMatches(other.Layout, "weight matching");
        var permutations = Permutations.Identity(spec);
        var random = new Random((int)(seed & int.MaxValue));
        var groups = spec.Groups.Keys.ToArray();
        using var scope = NewDisposeScope();
        var a = Tensors(reference.Layout, reference.View());
        var b = Tensors(other.Layout, other.View());
        var costEntries = spec.Segments.Where(s => reference.Layout.Entries.First(e => e.Name == s.Entry).Kind == WeightKind.Parameter)
            .GroupBy(s => (s.Entry, s.Axis)).ToList();
        for (var round = 0; round < maxRounds; round++)
        {
            var improved = false;
            foreach (var group in groups.OrderBy(_ => random.Next()).ToArray())
            {
                var size = spec.Groups[group];
                using var inner = NewDisposeScope();
                var score = zeros([size, size], ScalarType.Float64);
                foreach (var axis in costEntries.Where(g => g.Any(s => s.Group == group)))
                {
                    var (entry, dimension) = axis.Key;
                    var segments = axis.Where(s => s.Group == group).OrderBy(s => s.Start).ToList();
                    var permuted = Permute(spec, b[entry], entry, permutations, skipAxis: dimension);
                    score.add_(Rows(a[entry], dimension, segments).matmul(Rows(permuted, dimension, segments).t()), Scalars.One);
                }
                var values = To2D(score, size);
                var current = permutations.ByGroup[group];
                var best = LinearAssignment.Maximize(values);
                if (Total(values, best) > Total(values, current) + 1e-9 * Math.Max(1, Math.Abs(Total(values, current))))
                {
                    permutations = new Permutations(new Dictionary<string, int[]>(permutations.ByGroup) { [group] = best });
                    improved = true;
                }
            }
            if (!improved)
                break;
        }
        return permutations;
    }

    /// <summary><paramref name="weights"/> with every group's units reordered by <paramref name="permutations"/>.</summary>
    public static WeightSnapshot Apply(PermutationSpec spec, WeightSnapshot weights, Permutations permutations)
    {
        var values = weights.Values.ToArray(); // the permuted copy, filled before it becomes a snapshot
        using var scope = NewDisposeScope();
        var source = Tensors(weights.Layout, weights.View());
        var target = Tensors(weights.Layout, from_array(values));
        using var noGrad = no_grad();
        foreach (var entry in spec.Segments.Select(s => s.Entry).Distinct())
            target[entry].copy_(Permute(spec, source[entry], entry, permutations, skipAxis: -1));
        return WeightSnapshot.FromOwned(weights.Layout, values);
    }

    /// <summary>REPAIR statistics of a layer follow the units of its output axis.</summary>
    public static ActivationStatistics Apply(PermutationSpec spec, ActivationStatistics statistics, Permutations permutations) =>
        new(statistics.Layers.Select(layer =>
        {
            var gather = Gather(spec, $"{layer.Layer}.weight", 0, layer.Mean.Length, permutations);
            return gather is null ? layer : new LayerStatistics(layer.Layer, [.. gather.Select(i => layer.Mean[(int)i])], [.. gather.Select(i => layer.Std[(int)i])]);
        }).ToImmutableArray());

    /// <summary>
    /// For axis <paramref name="axis"/> of <paramref name="entry"/> (length <paramref name="length"/>): which original index
    /// each index of the permuted axis takes; null when no group orders that axis.
    /// </summary>
    private static long[]? Gather(PermutationSpec spec, string entry, int axis, long length, Permutations permutations)
    {
        var segments = spec.Segments.Where(s => s.Entry == entry && s.Axis == axis).ToList();
        if (segments.Count == 0)
            return null;
        var gather = Enumerable.Range(0, (int)length).Select(i => (long)i).ToArray();
        foreach (var group in segments.GroupBy(s => s.Group))
        {
            // Where on the axis each position of the group starts.
            var starts = new long[group.Sum(s => s.Count)];
            foreach (var s in group)
            {
                for (var i = 0; i < s.Count; i++)
                    starts[s.Start + i] = s.Offset + i * s.Inner;
            }
            var permutation = permutations.ByGroup[group.Key];
            var inner = group.First().Inner;
            for (var position = 0; position < starts.Length; position++)
            {
                for (var r = 0; r < inner; r++)
                    gather[starts[position] + r] = starts[permutation[position]] + r;
            }
        }
        return gather;
    }

    private static Tensor Permute(PermutationSpec spec, Tensor tensor, string entry, Permutations permutations, int skipAxis)
    {
        var result = tensor;
        for (var axis = 0; axis < tensor.ndim; axis++)
        {
            if (axis != skipAxis && Gather(spec, entry, axis, tensor.shape[axis], permutations) is { } gather)
                result = result.index_select(axis, torch.tensor(gather));
        }
        return result;
    }

    /// <summary>The rows of the group's positions on <paramref name="axis"/>, in position order, each flattened.</summary>
    private static Tensor Rows(Tensor tensor, int axis, IReadOnlyList<AxisSegment> segments)
    {
        var moved = tensor.transpose(0, axis); // the same for both models, so the other axes' order does not matter
        var parts = segments.Select(s => moved.narrow(0, s.Offset, s.Count * s.Inner).reshape((long)s.Count, -1L)).ToList();
        return (parts.Count == 1 ? parts[0] : cat(parts, 0)).to_type(ScalarType.Float64);
    }

    private static Dictionary<string, Tensor> Tensors(WeightLayout layout, Tensor flat) =>
        layout.Entries.Select((e, i) => (e, i)).Where(x => x.e.Length > 0)
            .ToDictionary(x => x.e.Name, x => flat.narrow(0, layout.OffsetOf(x.i), x.e.Length).view([.. x.e.Shape]));

    private static double[,] To2D(Tensor score, int size)
    {
        var flat = score.data<double>().ToArray();
        var values = new double[size, size];
        Buffer.BlockCopy(flat, 0, values, 0, flat.Length * sizeof(double));
        return values;
    }

    private static double Total(double[,] score, int[] permutation) => permutation.Select((j, i) => score[i, j]).Sum();
}
