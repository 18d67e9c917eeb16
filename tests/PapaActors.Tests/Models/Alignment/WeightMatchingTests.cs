using PapaActors.Models.Alignment;
using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using PapaActors.Models.Weights;
using static TorchSharp.torch;

namespace PapaActors.Tests.Models.Alignment;

/// <summary>Permutations of hidden units (aligned soups): function-preserving, and recovered exactly by weight matching.</summary>
public sealed class WeightMatchingTests
{
    public static TheoryData<string, int, int, double> Models() => new()
    {
        { "mlp", 1, 8, 0.05 },
        { "cnn", 1, 8, 0.25 },
        { "vgg11", 3, 8, 0.125 },
        { "vgg16", 3, 8, 0.125 },
        { "resnet20", 3, 8, 1.0 },   // full width: option-A shortcuts pad 16 -> 32 -> 64 channels
        { "resnet20", 3, 8, 0.5 },   // 16, 16, 32: a stride-2 block without padding, then one with
        { "resnet18", 3, 8, 0.125 }, // projection shortcuts
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void PermutingHiddenUnitsLeavesTheOutputsUnchanged(string name, int channels, int size, double width)
    {
        var (model, state, weights, spec) = Build(name, channels, size, width);
        using (model)
        {
            var permuted = WeightMatching.Apply(spec, weights, RandomPermutations(spec, seed: 3));
            Assert.NotEqual<float>(weights.Values, permuted.Values);

            using var input = randn(4, channels, size, size, generator: new Generator().manual_seed(9));
            model.eval();
            state.Load(weights);
            using var expected = model.call(input);
            state.Load(permuted);
            using var actual = model.call(input);

            Assert.True(actual.allclose(expected, 1e-4, 1e-4), $"{name}: largest difference {actual.sub(expected).abs().max().item<float>()}");
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void WeightMatchingAPermutedCopyRecoversTheOriginal(string name, int channels, int size, double width)
    {
        var (model, _, weights, spec) = Build(name, channels, size, width);
        using (model)
        {
            var permuted = WeightMatching.Apply(spec, weights, RandomPermutations(spec, seed: 5));

            var found = WeightMatching.Match(spec, weights, permuted, seed: 1);

            Assert.Equal<float>(weights.Values, WeightMatching.Apply(spec, permuted, found).Values);
        }
    }

    [Fact]
    public void Resnet20sResidualStreamIsOneGroupWithTheZeroPaddedChannelsOfEachStageAsTheirOwn()
    {
        var (model, _, weights, spec) = Build("resnet20", 3, 8, 1.0);
        using (model)
        {
            var groups = spec.Groups.Where(g => !g.Key.EndsWith(".inner", StringComparison.Ordinal)).ToDictionary();
            Assert.Equal(new Dictionary<string, int> { ["stream"] = 16, ["layer2.0.padding"] = 16, ["layer3.0.padding"] = 32 }, groups);
            Assert.Equal(9, spec.Groups.Count(g => g.Key.EndsWith(".inner", StringComparison.Ordinal)));
            // The last stage's output axis: [8 + 16 zeros | 8 + 16 + 8 of stage 2 | 16 zeros]; the classifier reads all of it.
            Assert.Equal([("layer3.0.padding", 0L), ("layer2.0.padding", 16L), ("stream", 24L), ("layer2.0.padding", 40L), ("layer3.0.padding", 48L)],
                spec.Segments.Where(s => s.Entry == "linear.weight").Select(s => (s.Group, s.Offset)));
        }
    }

    [Fact]
    public void LinearAssignmentFindsTheBestPermutation()
    {
        var random = new Random(4);
        for (var trial = 0; trial < 20; trial++)
        {
            var n = 1 + trial % 6;
            var score = new double[n, n];
            for (var i = 0; i < n; i++)
            {
                for (var j = 0; j < n; j++)
                    score[i, j] = Math.Round(random.NextDouble() * 10 - 5, 1); // ties too
            }
            var found = LinearAssignment.Maximize(score);

            Assert.Equal(Enumerable.Range(0, n), found.Order());
            var best = Permutations(n).Max(p => p.Select((j, i) => score[i, j]).Sum());
            Assert.Equal(best, found.Select((j, i) => score[i, j]).Sum(), 9);
        }
    }

    private static IEnumerable<int[]> Permutations(int n) => n == 0
        ? [[]]
        : Permutations(n - 1).SelectMany(p => Enumerable.Range(0, n).Select(at => p.Take(at).Append(n - 1).Concat(p.Skip(at)).ToArray()));

    /// <summary>A zoo model, its state, its weights with BatchNorm statistics made non-trivial (they are permuted too), and its spec.</summary>
    private static (nn.Module<Tensor, Tensor> Model, ModelState State, WeightSnapshot Weights, PermutationSpec Spec) Build(string name, int channels, int size, double width)
    {
        var model = ModelZoo.Create(name, new ImageShape(channels, size, size), 10, width, initSeed: 2);
        var state = new ModelState(model);
        var weights = state.Capture();
        var random = new Random(6);
        var values = weights.Values.ToArray();
        foreach (var (entry, i) in weights.Layout.Entries.Select((e, i) => (e, i)))
        {
            var statistic = entry.Name.EndsWith(".running_mean", StringComparison.Ordinal) ? 0 : entry.Name.EndsWith(".running_var", StringComparison.Ordinal) ? 1 : -1;
            if (statistic < 0 && !(entry.Shape.Length == 1 && entry.Name.EndsWith(".weight", StringComparison.Ordinal)))
                continue;
            for (var k = 0; k < entry.Length; k++)
                values[weights.Layout.OffsetOf(i) + k] = (float)(statistic == 0 ? random.NextDouble() - 0.5 : 0.5 + random.NextDouble());
        }
        weights = WeightSnapshot.FromOwned(weights.Layout, values);
        return (model, state, weights, PermutationSpec.For(name, weights.Layout));
    }

    internal static Permutations RandomPermutations(PermutationSpec spec, int seed)
    {
        var random = new Random(seed);
        return new Permutations(spec.Groups.ToDictionary(g => g.Key, g =>
        {
            var permutation = Enumerable.Range(0, g.Value).ToArray();
            for (var i = permutation.Length - 1; i > 0; i--)
            {
                var j = random.Next(i + 1);
                (permutation[i], permutation[j]) = (permutation[j], permutation[i]);
            }
            return permutation;
        }));
    }
}
