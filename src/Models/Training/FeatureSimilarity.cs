using System.Collections.Immutable;
using System.Runtime.InteropServices;
using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

/// <summary>Features of <paramref name="Rows"/> images, <paramref name="Columns"/> each, row-major: plain data, sent with a member's report.</summary>
public sealed record FeatureMatrix(int Rows, int Columns, ImmutableArray<float> Values)
{
    public static FeatureMatrix Of(Tensor features)
    {
        if (features.ndim != 2)
            throw new ArgumentException($"features must be a matrix, got shape [{string.Join(", ", features.shape)}]", nameof(features));
        var values = features.detach().to_type(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        return new FeatureMatrix((int)features.shape[0], (int)features.shape[1], ImmutableCollectionsMarshal.AsImmutableArray(values));
    }

    public Tensor ToTensor() => tensor(Values.AsSpan().ToArray(), [Rows, Columns]);
}

/// <summary>How alike the members' features are: the mean and the smallest linear CKA over all pairs of members.</summary>
public sealed record PopulationSimilarity(double MeanCka, double MinCka);

/// <summary>
/// Linear centered kernel alignment (Kornblith et al. 2019) between two networks' features of the same images: with X
/// (n x d1) and Y (n x d2) centered over the images, CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F). It is 1 for
/// features that differ by an orthogonal transform (a permutation of units) or an isotropic scaling, symmetric, and
/// near 0 for unrelated features. Computed in float64.
/// </summary>
public static class FeatureSimilarity
{
    public static double LinearCka(Tensor x, Tensor y)
    {
        if (x.ndim != 2 || y.ndim != 2 || x.shape[0] != y.shape[0])
            throw new ArgumentException($"CKA compares features of the same images: got shapes [{string.Join(", ", x.shape)}] and [{string.Join(", ", y.shape)}]");
        using var scope = NewDisposeScope();
        var cx = Centered(x);
        var cy = Centered(y);
        var cross = SquaredFrobenius(cy.t().mm(cx));
        var normX = Math.Sqrt(SquaredFrobenius(cx.t().mm(cx)));
        var normY = Math.Sqrt(SquaredFrobenius(cy.t().mm(cy)));
        return cross / (normX * normY); // NaN when either is constant over the images: no similarity to speak of
    }

    public static double LinearCka(FeatureMatrix x, FeatureMatrix y)
    {
        using var scope = NewDisposeScope();
        return LinearCka(x.ToTensor(), y.ToTensor());
    }

    /// <summary>Mean and minimum CKA over every pair of <paramref name="members"/>; null with fewer than two.</summary>
    public static PopulationSimilarity? Pairwise(IReadOnlyList<FeatureMatrix> members)
    {
        var values = new List<double>();
        for (var i = 0; i < members.Count; i++)
        {
            for (var j = i + 1; j < members.Count; j++)
                values.Add(LinearCka(members[i], members[j]));
        }
        return values.Count == 0 ? null : new PopulationSimilarity(values.Average(), values.Min());
    }

    /// <summary>
    /// The penultimate features (<see cref="IPenultimateFeatures"/>) of the first <paramref name="images"/> images of the
    /// held-out split in an order drawn from <paramref name="seed"/> (the training split without one): the same images for
    /// every member and epoch. Eval mode, no gradients, in batches of <paramref name="batchSize"/>: the model is left as it was.
    /// </summary>
    public static FeatureMatrix Measure(nn.Module<Tensor, Tensor> model, DataSplits data, int images, long seed, int batchSize, Device device)
    {
        if (model is not IPenultimateFeatures net)
            throw new ArgumentException($"{model.GetType().Name} does not expose its penultimate features", nameof(model));
        using var scope = NewDisposeScope();
        using var generator = new Generator().manual_seed(seed);
        var count = data[DataSplit.HeldOut].Count;
        var chosen = randperm(count, generator: generator).narrow(0, 0, Math.Min(images, count));
        using var mode = ModuleMode.Eval(model);
        using var noGrad = no_grad();
        var batches = new List<Tensor>();
        for (long start = 0; start < chosen.shape[0]; start += batchSize)
        {
            var indices = chosen.narrow(0, start, Math.Min(batchSize, chosen.shape[0] - start));
            batches.Add(net.Features(data.Batch(DataSplit.HeldOut, indices, device).Images));
        }
        return FeatureMatrix.Of(cat(batches, 0));
    }

    private static Tensor Centered(Tensor features)
    {
        var values = features.to_type(ScalarType.Float64);
        return values.sub(values.mean([0L], keepdim: true));
    }

    private static double SquaredFrobenius(Tensor matrix) => matrix.pow(Scalars.Two).sum().item<double>();
}
