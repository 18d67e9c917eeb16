using PapaActors.Models;
using PapaActors.Models.Alignment;
using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PapaActors.Tests.Models.Training;

/// <summary>Linear CKA and the zoo models' penultimate features it compares (papa.metrics.feature-similarity).</summary>
public sealed class FeatureSimilarityTests
{
    private static Tensor Random(long rows, long columns, int seed) => randn(rows, columns, ScalarType.Float64, generator: new Generator().manual_seed(seed));

    [Fact]
    public void FeaturesAreFullySimilarToThemselvesAndToAnyPermutationOfTheirColumns()
    {
        using var x = Random(256, 64, 1);
        using var order = randperm(64, generator: new Generator().manual_seed(2));
        using var permuted = x.index_select(1, order);

        Assert.Equal(1.0, FeatureSimilarity.LinearCka(x, x), 12);
        Assert.False(permuted.allclose(x));
        Assert.Equal(1.0, FeatureSimilarity.LinearCka(x, permuted), 12);
    }

    [Fact]
    public void IndependentFeaturesAreFarFromSimilar()
    {
        using var x = Random(256, 32, 3);
        using var y = Random(256, 32, 4);

        // For independent Gaussian features E[CKA] is about sqrt(d1 d2) / n = 0.125 here.
        Assert.InRange(FeatureSimilarity.LinearCka(x, y), 0.0, 0.3);
    }

    [Fact]
    public void CkaIsSymmetricAndBlindToIsotropicScalingAndToTheMeanOverImages()
    {
        using var x = Random(100, 20, 5);
        using var noise = Random(100, 30, 6);
        // y shares a part of x (through a random linear map) and has features of its own: CKA strictly between 0 and 1.
        using var map = Random(20, 30, 7);
        using var y = x.mm(map).add_(noise, Scalars.One);
        using var factor = Scalars.Of(3.5);
        using var scaled = x.mul(factor);
        using var offset = Random(1, 20, 8);
        using var shifted = x.add(offset, Scalars.One);

        var cka = FeatureSimilarity.LinearCka(x, y);

        Assert.InRange(cka, 0.05, 0.95);
        Assert.Equal(cka, FeatureSimilarity.LinearCka(y, x), 12);
        Assert.Equal(cka, FeatureSimilarity.LinearCka(scaled, y), 12);
        Assert.Equal(cka, FeatureSimilarity.LinearCka(shifted, y), 12);
    }

    [Fact]
    public void FeaturesOfOtherImagesCannotBeCompared()
    {
        using var x = Random(10, 4, 1);
        using var y = Random(11, 4, 2);

        var error = Assert.Throws<ArgumentException>(() => FeatureSimilarity.LinearCka(x, y));
        Assert.Contains("same images", error.Message);
    }

    [Fact]
    public void PairwiseGivesTheMeanAndTheLeastSimilarPair()
    {
        using var a = Random(64, 8, 1);
        using var b = Random(64, 8, 2);
        var features = new[] { FeatureMatrix.Of(a), FeatureMatrix.Of(b), FeatureMatrix.Of(a) };
        var ab = FeatureSimilarity.LinearCka(features[0], features[1]);

        var similarity = FeatureSimilarity.Pairwise(features)!;

        // Pairs (0, 1), (0, 2) and (1, 2): a with b, a with itself, b with a.
        Assert.Equal((ab + 1 + ab) / 3, similarity.MeanCka, 6);
        Assert.Equal(ab, similarity.MinCka, 12);
        Assert.Null(FeatureSimilarity.Pairwise([features[0]]));
    }

    public static TheoryData<string, int, int, double> Models() => new()
    {
        { "mlp", 1, 8, 0.05 },
        { "cnn", 1, 8, 0.25 },
        { "vgg11", 3, 8, 0.125 },
        { "vgg16", 3, 8, 0.125 },
        { "resnet20", 3, 8, 0.5 },
        { "resnet18", 3, 8, 0.125 },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryZooModelsFeaturesAreWhatItsFinalLinearReads(string name, int channels, int size, double width)
    {
        using var model = ModelZoo.Create(name, new ImageShape(channels, size, size), 10, width, initSeed: 2);
        using var input = randn(6, channels, size, size, generator: new Generator().manual_seed(9));
        model.eval();

        using var features = ((IPenultimateFeatures)model).Features(input);
        var classifier = model.modules().OfType<Linear>().Last();

        Assert.Equal([6, classifier.in_features], features.shape);
        using var logits = model.call(input);
        Assert.True(classifier.call(features).allclose(logits, 1e-5, 1e-5), name);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void AModelWhoseHiddenUnitsArePermutedHasFullySimilarFeatures(string name, int channels, int size, double width)
    {
        using var model = ModelZoo.Create(name, new ImageShape(channels, size, size), 10, width, initSeed: 2);
        using var permutedModel = ModelZoo.Create(name, new ImageShape(channels, size, size), 10, width, initSeed: 0);
        var weights = new ModelState(model).Capture();
        var spec = PermutationSpec.For(name, weights.Layout);
        new ModelState(permutedModel).Load(WeightMatching.Apply(spec, weights, Alignment.WeightMatchingTests.RandomPermutations(spec, seed: 3)));
        using var input = randn(64, channels, size, size, generator: new Generator().manual_seed(9));
        // BatchNorm on batch statistics: in eval mode a freshly initialised vgg16's features barely vary over the images
        // (every layer shrinks them), and float32 rounding would dominate them once centered.
        using var noGrad = no_grad();

        using var features = ((IPenultimateFeatures)model).Features(input);
        using var permuted = ((IPenultimateFeatures)permutedModel).Features(input);

        Assert.False(permuted.allclose(features, 1e-4, 1e-4), $"{name}: the permutation moved no feature");
        Assert.Equal(1.0, FeatureSimilarity.LinearCka(features, permuted), 5);
        using var other = ModelZoo.Create(name, new ImageShape(channels, size, size), 10, width, initSeed: 4);
        using var unrelated = ((IPenultimateFeatures)other).Features(input);
        Assert.True(FeatureSimilarity.LinearCka(features, unrelated) < 0.999, $"{name}: another initialisation is as similar as a permutation");
    }

    [Fact]
    public void MeasuringFeaturesTakesTheSameSeededImagesAndLeavesTheModelAsItWas()
    {
        using var data = DatasetLoader.Load(new DatasetSpec("synthetic", "", 0.1, Seed: 1, TrainLimit: 400, TestLimit: 10));
        using var model = ModelZoo.Create("cnn", data.Shape, data.Classes, 0.25, initSeed: 2);
        var state = new ModelState(model);
        // Running statistics of their own, so that eval mode (running) and training mode (batch) differ.
        model.train();
        using (no_grad())
            model.call(data.Batch(DataSplit.Train, Scalars.Arange(0, 60), CPU).Images).Dispose();
        var before = state.Capture();

        var first = FeatureSimilarity.Measure(model, data, 25, seed: 7, batchSize: 10, CPU);
        var again = FeatureSimilarity.Measure(model, data, 25, seed: 7, batchSize: 25, CPU);
        var otherImages = FeatureSimilarity.Measure(model, data, 25, seed: 8, batchSize: 10, CPU);
        var all = FeatureSimilarity.Measure(model, data, 1000, seed: 7, batchSize: 100, CPU);

        Assert.Equal<float>(before.Values, state.Capture().Values); // BatchNorm buffers and counters included
        Assert.True(model.training);
        Assert.Equal((25, 32), (first.Rows, first.Columns)); // cnn at width 0.25: 32 hidden units
        Assert.Equal(first.Values.ToArray(), again.Values.ToArray(), new ToleranceComparer(1e-5f));
        Assert.NotEqual<float>(first.Values, otherImages.Values);
        Assert.Equal(data.HeldOut.Count, all.Rows); // at most the held-out split
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance * Math.Max(1, Math.Abs(x));
        public int GetHashCode(float value) => 0;
    }
}
