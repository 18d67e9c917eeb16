using PapaActors.Models.Nets;
using PapaActors.Models.Data;
using PapaActors.Models.Weights;
using PapaActors.Tests.Support;
using static TorchSharp.torch;

namespace PapaActors.Tests.Models.Weights;

public sealed class WeightMathTests
{
    private static readonly WeightLayout Layout = new([
        new WeightEntry("fc.weight", [2, 2], WeightKind.Parameter),
        new WeightEntry("bn.running_mean", [1], WeightKind.Buffer),
        new WeightEntry("bn.num_batches_tracked", [], WeightKind.Counter),
    ]);

    private static WeightSnapshot Snapshot(params float[] values) => WeightSnapshot.FromOwned(Layout, values);

    [Fact]
    public void WeightedSumAndAverageMatchHandComputedValues()
    {
        var a = Snapshot(1, 2, 3, 4, 10, 6);
        var b = Snapshot(3, 2, 1, 0, -10, 2);
        var c = Snapshot(2, 8, 2, 8, 3, 1);

        AssertClose([2, 4, 2, 4, 1, 3], WeightMath.Average([a, b, c]).Values);
        AssertClose([2.5f, 2, 1.5f, 1, -5, 3], WeightMath.Interpolate(a, b, 0.75).Values);
        AssertClose([0.5f + 6, 1 + 6, 1.5f + 6, 2 + 6, 5 + 6, 3 + 6], WeightMath.WeightedSum([a, Snapshot(1, 1, 1, 1, 1, 1)], [0.5, 6]).Values);
    }

    [Fact]
    public void LayoutMismatchIsNamedNotPartiallyApplied()
    {
        var other = WeightSnapshot.FromOwned(new WeightLayout([
            new WeightEntry("fc.weight", [4], WeightKind.Parameter),
            new WeightEntry("bn.running_mean", [1], WeightKind.Buffer),
            new WeightEntry("bn.num_batches_tracked", [], WeightKind.Counter),
        ]), new float[6]);

        var error = Assert.Throws<WeightLayoutException>(() => WeightMath.Average([Snapshot(1, 2, 3, 4, 5, 6), other]));
        Assert.Contains("'fc.weight' is Parameter [4], expected Parameter [2, 2]", error.Message);
    }

    [Fact]
    public void SnapshotLengthMustMatchItsLayout()
    {
        var error = Assert.Throws<WeightLayoutException>(() => Snapshot(1, 2, 3));
        Assert.Contains("3 values, its layout needs 6", error.Message);
    }

    [Fact]
    public void ModelStateCapturesParametersBuffersAndCountersUnderPyTorchNames()
    {
        using var model = ModelZoo.Create("cnn", new ImageShape(1, 8, 8), 10, 0.25, initSeed: 1);
        var state = new ModelState(model);

        var kinds = state.Layout.Entries.ToDictionary(e => e.Name, e => e.Kind);
        Assert.Equal(WeightKind.Parameter, kinds["features.0.weight"]);
        Assert.Equal(WeightKind.Parameter, kinds["features.1.bias"]);
        Assert.Equal(WeightKind.Buffer, kinds["features.1.running_mean"]);
        Assert.Equal(WeightKind.Counter, kinds["features.1.num_batches_tracked"]);
        Assert.Equal(WeightKind.Parameter, kinds["classifier.3.weight"]);
        Assert.Equal(model.state_dict().Count, state.Layout.Entries.Count);
        var snapshot = state.Capture();
        Assert.Equal(model.state_dict()["features.0.bias"].data<float>().ToArray(), snapshot.Entry("features.0.bias"));
        Assert.Equal(new float[] { 1, 1 }, snapshot.Entry("features.1.running_var")[..2]);
    }

    [Fact]
    public void MixingInPlaceFollowsTheFormulaAndLoadingRestoresExactly()
    {
        using var a = ModelZoo.Create("mlp", new ImageShape(1, 4, 4), 3, 0.05, initSeed: 1);
        using var b = ModelZoo.Create("mlp", new ImageShape(1, 4, 4), 3, 0.05, initSeed: 2);
        var stateA = new ModelState(a);
        var before = stateA.Capture();
        var other = new ModelState(b).Capture();

        stateA.Mix(other, keep: 0.25);
        AssertClose(before.Values.Zip(other.Values, (w, o) => 0.25f * w + 0.75f * o).ToArray(), stateA.Capture().Values);

        stateA.Load(before);
        Assert.Equal<float>(before.Values, stateA.Capture().Values);
    }

    [Fact]
    public void ALateMixIsTheSameCorrectionAppliedToTheWeightsReachedSince()
    {
        using var a = ModelZoo.Create("mlp", new ImageShape(1, 4, 4), 3, 0.05, initSeed: 1);
        using var b = ModelZoo.Create("mlp", new ImageShape(1, 4, 4), 3, 0.05, initSeed: 2);
        using var c = ModelZoo.Create("mlp", new ImageShape(1, 4, 4), 3, 0.05, initSeed: 3);
        var state = new ModelState(a);
        var measuredOn = state.Capture();
        var mean = new ModelState(b).Capture();
        var trainedSince = new ModelState(c).Capture();
        state.Load(trainedSince);

        state.MixLate(measuredOn, mean, keep: 0.75);

        // w <- w - (1 - keep) * (w_t - mean_t): with no training since, the late mix is the mix.
        AssertClose(trainedSince.Values.Select((w, i) => w - 0.25f * (measuredOn.Values[i] - mean.Values[i])).ToArray(), state.Capture().Values);
        state.Load(measuredOn);
        state.MixLate(measuredOn, mean, keep: 0.75);
        AssertClose(measuredOn.Values.Zip(mean.Values, (w, m) => 0.75f * w + 0.25f * m).ToArray(), state.Capture().Values);
    }

    [Fact]
    public void LoadingWeightsOfAnotherModelIsRefusedBeforeAnythingChanges()
    {
        using var mlp = ModelZoo.Create("mlp", new ImageShape(1, 4, 4), 3, 0.05, initSeed: 1);
        using var cnn = ModelZoo.Create("cnn", new ImageShape(1, 8, 8), 10, 0.25, initSeed: 1);
        var state = new ModelState(mlp);
        var before = state.Capture();

        Assert.Throws<WeightLayoutException>(() => state.Load(new ModelState(cnn).Capture()));
        Assert.Equal<float>(before.Values, state.Capture().Values);
    }

    [Fact]
    public void SafetensorsRoundTripUsesPyTorchNamesAndDtypes()
    {
        using var folder = new TempFolder();
        using var model = ModelZoo.Create("resnet18", new ImageShape(3, 8, 8), 10, 0.125, initSeed: 5);
        var snapshot = new ModelState(model).Capture();
        var path = folder.File("soup.safetensors");

        SafetensorsFile.Save(snapshot, path);
        var loaded = SafetensorsFile.Load(path, snapshot.Layout);

        Assert.Equal<float>(snapshot.Values, loaded.Values);
        var header = ReadHeader(path);
        Assert.Contains("\"layer1.0.conv1.weight\"", header);
        Assert.Contains("\"layer3.0.shortcut.1.running_var\"", header);
        Assert.Contains("\"linear.bias\"", header);
        Assert.Matches("\"bn1.num_batches_tracked\":\\{\"dtype\":\"I64\"", header);
        Assert.False(File.Exists(path + ".partial"));
    }

    [Fact]
    public void CorruptOrMismatchedSafetensorsAreClearErrors()
    {
        using var folder = new TempFolder();
        using var model = ModelZoo.Create("mlp", new ImageShape(1, 4, 4), 3, 0.05, initSeed: 1);
        var snapshot = new ModelState(model).Capture();
        var path = folder.File("w.safetensors");
        SafetensorsFile.Save(snapshot, path);

        File.WriteAllBytes(folder.File("corrupt.safetensors"), File.ReadAllBytes(path)[..40]);
        var corrupt = Assert.Throws<WeightLayoutException>(() => SafetensorsFile.Load(folder.File("corrupt.safetensors"), snapshot.Layout));
        Assert.Contains("corrupt.safetensors: the header claims", corrupt.Message); // checked before anything is read or allocated

        using var cnn = ModelZoo.Create("cnn", new ImageShape(1, 8, 8), 10, 0.25, initSeed: 1);
        var mismatch = Assert.Throws<WeightLayoutException>(() => SafetensorsFile.Load(path, new ModelState(cnn).Layout));
        Assert.Contains("unexpected tensor 'layers.1.", mismatch.Message);

        Assert.Throws<FileNotFoundException>(() => SafetensorsFile.Load(folder.File("absent.safetensors"), snapshot.Layout));
    }

    /// <summary>Float32 arithmetic rounds differently from C# float expressions in the last bit.</summary>
    private static void AssertClose(IReadOnlyList<float> expected, IReadOnlyList<float> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6 * Math.Max(1, Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    private static string ReadHeader(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var length = (int)BitConverter.ToUInt64(bytes, 0);
        return System.Text.Encoding.UTF8.GetString(bytes, 8, length);
    }
}
