using System.Collections.Immutable;
using System.Runtime.InteropServices;
using PapaActors.Models.Data;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;
using PapaActors.Tests.Support;
using static TorchSharp.torch;

namespace PapaActors.Tests.Models.Training;

public sealed class MemberStateTests
{
    private static readonly WeightSnapshot FreshOptimizer = new(new WeightLayout([]), []);

    [Theory]
    [InlineData("optimizer.nesterov=on")]
    [InlineData("optimizer.nesterov=off")]
    [InlineData("optimizer.name=adamw", "optimizer.lr=0.01")]
    [InlineData("augmentation=crop-flip", "variations.mixup=[1.0]", "variations.label-smoothing=[0.1]", "variations.random-erasing=[0.35]")]
    [InlineData("optimizer.name=adamw", "optimizer.lr=0.01", "augmentation=crop-flip", "variations.cutmix=[1.0]", "variations.label-smoothing=[0.1]")]
    [InlineData("model=mlp", "optimizer.nesterov=off", "optimizer.weight-decay=0")]
    public void ACapturedStateContinuesBitForBitInANewMemberAndAfterARollback(params string[] overrides)
    {
        var settings = TestSettings.Tiny(overrides);
        using var data = DatasetLoader.Load(settings.Dataset);
        using var member = new MemberModel(1, settings.Training, data, CPU);
        member.Train(10);
        var captured = member.CaptureState();
        // 10 + 6 steps crosses the epoch boundary at 12: a new shuffle, and a new schedule phase.
        member.Train(6);
        var continued = member.CaptureState();

        using var resumed = new MemberModel(1, settings.Training, data, CPU);
        resumed.RestoreState(captured);
        Assert.Equal(10, resumed.Step);
        resumed.Train(6);
        AssertSameState(continued, resumed.CaptureState());

        // A rollback: the member that went on returns to the captured state and repeats the same steps.
        member.RestoreState(captured);
        member.Train(6);
        AssertSameState(continued, member.CaptureState());
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adamw")]
    public void AnEmptyOptimizerStateActsAsAFreshOptimizer(string optimizer)
    {
        ImmutableArray<float> TrainOn(string resetOnMix, Action<MemberModel> afterFiveSteps)
        {
            var settings = TestSettings.Tiny($"optimizer.name={optimizer}", "optimizer.lr=0.01", "batchnorm.mix=average", $"optimizer.reset-on-mix={resetOnMix}");
            using var data = DatasetLoader.Load(settings.Dataset);
            using var member = new MemberModel(0, settings.Training, data, CPU);
            member.Train(5);
            afterFiveSteps(member);
            member.Train(4);
            return member.Capture().Values;
        }

        // The reference: a mix with its own weights changes nothing but, with reset-on-mix, makes a new optimizer.
        var fresh = TrainOn("on", m => m.Mix(m.Capture(), keep: 0, repairTargets: null, round: 1));
        var kept = TrainOn("off", _ => { });
        var emptied = TrainOn("off", m =>
        {
            m.RestoreState(m.CaptureState() with { Optimizer = FreshOptimizer });
            var state = m.CaptureState().Optimizer;
            Assert.True(optimizer == "sgd" ? state.Layout.Entries.Count == 0 : state.Values.All(v => v == 0));
        });

        Assert.Equal(Bits(fresh), Bits(emptied));
        Assert.NotEqual(Bits(kept), Bits(emptied));
    }

    [Fact]
    public void RestoringAFreshStateIntoATrainedMemberRepeatsItsFirstSteps()
    {
        var settings = TestSettings.Tiny();
        using var data = DatasetLoader.Load(settings.Dataset);
        using var member = new MemberModel(0, settings.Training, data, CPU);
        var initial = member.CaptureState();
        Assert.Empty(initial.Optimizer.Layout.Entries);
        member.Train(3);
        var trained = member.CaptureState();

        // SGD's momentum buffers must be gone again, or the first step would not start them afresh.
        member.RestoreState(initial);
        Assert.Empty(member.CaptureState().Optimizer.Layout.Entries);
        member.Train(3);
        AssertSameState(trained, member.CaptureState());
    }

    [Fact]
    public void TheOptimizerStateHasPyTorchNames()
    {
        var settings = TestSettings.Tiny();
        using var data = DatasetLoader.Load(settings.Dataset);
        using var sgd = new MemberModel(0, settings.Training, data, CPU);
        sgd.Train(1);
        var state = sgd.CaptureState().Optimizer;
        string[] parameters =
        [
            "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
            "features.4.weight", "features.4.bias", "features.5.weight", "features.5.bias",
            "classifier.1.weight", "classifier.1.bias", "classifier.3.weight", "classifier.3.bias",
        ];
        Assert.Equal(parameters.Select(p => p + ".momentum_buffer"), state.Layout.Entries.Select(e => e.Name));
        Assert.All(state.Layout.Entries, e => Assert.Equal(WeightKind.Buffer, e.Kind));
        Assert.Equal<long>(sgd.Layout.Entries.First(e => e.Name == "features.0.weight").Shape, state.Layout.Entries[0].Shape);

        using var adamw = new MemberModel(0, TestSettings.Tiny("optimizer.name=adamw").Training, data, CPU);
        adamw.Train(3);
        var moments = adamw.CaptureState().Optimizer;
        Assert.Equal(["step", .. parameters.SelectMany(p => new[] { p + ".exp_avg", p + ".exp_avg_sq" })], moments.Layout.Entries.Select(e => e.Name));
        Assert.Empty(moments.Layout.Entries[0].Shape);
        Assert.Equal(WeightKind.Counter, moments.Layout.Entries[0].Kind);
        Assert.Equal([3f], moments.Entry("step"));
    }

    [Fact]
    public void AnOptimizerStateSurvivesASafetensorsFile()
    {
        var settings = TestSettings.Tiny("optimizer.name=adamw");
        using var data = DatasetLoader.Load(settings.Dataset);
        using var member = new MemberModel(0, settings.Training, data, CPU);
        member.Train(2);
        var state = member.CaptureState().Optimizer;
        using var folder = new TempFolder();

        SafetensorsFile.Save(state, folder.File("optimizer.safetensors"));

        Assert.Equal<float>(state.Values, SafetensorsFile.Load(folder.File("optimizer.safetensors"), state.Layout).Values);
    }

    public static TheoryData<string, string, string> BadOptimizerStates => new()
    {
        // optimizer, what is wrong, a word the error must contain
        { "sgd", "renamed", "features.0.weight.exp_avg" },
        { "sgd", "reshaped", "features.0.weight.momentum_buffer" },
        { "sgd", "reordered", "features.0.weight.momentum_buffer" },
        { "sgd", "adamw state", "step" },
        { "adamw", "renamed", "features.0.weight.exp_avg" },
        { "adamw", "reshaped", "features.0.weight.exp_avg" },
        { "adamw", "sgd state", "momentum_buffer" },
        { "adamw", "fractional step", "step" },
    };

    [Theory]
    [MemberData(nameof(BadOptimizerStates))]
    public void AnOptimizerStateThatDoesNotFitIsRejectedAndLeavesTheMemberUnchanged(string optimizer, string wrong, string named)
    {
        var settings = TestSettings.Tiny($"optimizer.name={optimizer}", "optimizer.lr=0.01");
        using var data = DatasetLoader.Load(settings.Dataset);
        using var member = new MemberModel(0, settings.Training, data, CPU);
        var initialWeights = member.Capture();
        member.Train(3);
        var before = member.CaptureState();
        var other = optimizer == "sgd" ? "adamw" : "sgd";
        using var otherMember = new MemberModel(0, TestSettings.Tiny($"optimizer.name={other}").Training, data, CPU);
        otherMember.Train(1);

        var good = before.Optimizer;
        var bad = wrong switch
        {
            "renamed" => Edit(good, (e, i) => i == (optimizer == "sgd" ? 0 : 2) ? e with { Name = "features.0.weight.exp_avg" } : e),
            "reshaped" => Edit(good, (e, i) => i == (optimizer == "sgd" ? 0 : 1) ? e with { Shape = [e.Length] } : e),
            "reordered" => new WeightSnapshot(new WeightLayout([good.Layout.Entries[1], good.Layout.Entries[0], .. good.Layout.Entries.Skip(2)]), good.Values),
            "fractional step" => new WeightSnapshot(good.Layout, [2.5f, .. good.Values.Skip(1)]),
            _ => otherMember.CaptureState().Optimizer,
        };
        // Other weights and step too, so that any partial restore would show.
        var attempt = before with { Step = 7, Weights = initialWeights, Optimizer = bad };

        var error = Assert.Throws<WeightLayoutException>(() => member.RestoreState(attempt));

        Assert.Contains(named, error.Message);
        AssertSameState(before, member.CaptureState());
    }

    [Fact]
    public void AnotherMembersStateOrMismatchedWeightsAreRejected()
    {
        var settings = TestSettings.Tiny();
        using var data = DatasetLoader.Load(settings.Dataset);
        using var member = new MemberModel(0, settings.Training, data, CPU);
        member.Train(2);
        var before = member.CaptureState();
        using var mlp = new MemberModel(0, TestSettings.Tiny("model=mlp").Training, data, CPU);

        Assert.Throws<ArgumentException>(() => member.RestoreState(before with { Member = 1 }));
        Assert.Throws<WeightLayoutException>(() => member.RestoreState(before with { Weights = mlp.Capture(), Optimizer = FreshOptimizer }));
        Assert.Throws<ArgumentOutOfRangeException>(() => member.RestoreState(before with { Step = -1, Optimizer = FreshOptimizer }));
        AssertSameState(before, member.CaptureState());
    }

    [Theory]
    [InlineData("features.0.weight", float.NaN)]
    [InlineData("classifier.3.bias", float.PositiveInfinity)]
    [InlineData("features.5.running_var", float.NaN)]
    public void IsFiniteIsFalseOnceAWeightOrBatchNormStatisticIsNotFinite(string entry, float value)
    {
        var settings = TestSettings.Tiny();
        using var data = DatasetLoader.Load(settings.Dataset);
        using var member = new MemberModel(0, settings.Training, data, CPU);
        member.Train(2);
        var state = member.CaptureState();
        Assert.True(member.IsFinite());

        var values = state.Weights.Values.ToArray();
        var index = state.Weights.Layout.Entries.Select(e => e.Name).ToList().IndexOf(entry);
        values[state.Weights.Layout.OffsetOf(index) + state.Weights.Layout.Entries[index].Length - 1] = value;
        member.RestoreState(state with { Weights = WeightSnapshot.FromOwned(state.Weights.Layout, values) });
        Assert.False(member.IsFinite());

        member.RestoreState(state);
        Assert.True(member.IsFinite());
    }

    private static WeightSnapshot Edit(WeightSnapshot snapshot, Func<WeightEntry, int, WeightEntry> edit) =>
        new(new WeightLayout(snapshot.Layout.Entries.Select(edit).ToList()), snapshot.Values);

    private static void AssertSameState(MemberState expected, MemberState actual)
    {
        Assert.Equal(expected.Member, actual.Member);
        Assert.Equal(expected.Step, actual.Step);
        Assert.Equal(expected.Weights.Layout.Fingerprint, actual.Weights.Layout.Fingerprint);
        Assert.Equal(Bits(expected.Weights.Values), Bits(actual.Weights.Values));
        Assert.Equal(expected.Optimizer.Layout.Fingerprint, actual.Optimizer.Layout.Fingerprint);
        Assert.Equal(Bits(expected.Optimizer.Values), Bits(actual.Optimizer.Values));
    }

    /// <summary>The exact bit patterns: unlike float equality, tells 0 from -0 and compares NaNs.</summary>
    private static int[] Bits(ImmutableArray<float> values) => MemoryMarshal.Cast<float, int>(values.AsSpan()).ToArray();
}
