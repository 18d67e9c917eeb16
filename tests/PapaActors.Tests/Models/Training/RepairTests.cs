using PapaActors.Models.Data;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;
using PapaActors.Tests.Support;
using static TorchSharp.torch;

namespace PapaActors.Tests.Models.Training;

/// <summary>REPAIR on real trained members: after a 50/50 mix, the child's statistics meet the parents' interpolation.</summary>
public sealed class RepairTests
{
    private const int Round = 3;

    /// <summary>Two members with different initialisations and variations, trained 12 steps each.</summary>
    private static (MemberModel First, MemberModel Second, DataSplits Data) TrainedParents(string model, params string[] overrides)
    {
        var settings = TestSettings.Tiny(["repair=on", "repair-batches=3", $"model={model}", "variations.mixup=[0.0, 1.0]", .. overrides]);
        var data = DatasetLoader.Load(settings.Dataset);
        var first = new MemberModel(0, settings.Training, data, CPU);
        var second = new MemberModel(1, settings.Training, data, CPU);
        foreach (var member in new[] { first, second })
        {
            var loss = member.Train(12).MeanLoss;
            Assert.True(double.IsFinite(loss), $"member {member.Index} trained to loss {loss}");
        }
        return (first, second, data);
    }

    private static void AssertClose(float expected, float actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-3 * Math.Abs(expected) + 1e-6, $"{what}: {actual}, target {expected}");

    [Theory]
    [InlineData("cnn", "on", 3)]     // 2 convs and the hidden Linear
    [InlineData("cnn", "off", 2)]    // the 2 convs, as the reference
    [InlineData("vgg11", "off", 8)]  // 8 convs; its only Linear gives the logits
    public void AfterRepairTheChildsPreActivationStatisticsMatchTheParentsInterpolation(string model, string repairLinear, int correctedLayers)
    {
        var (child, other, data) = TrainedParents(model, $"repair-linear={repairLinear}");
        using (data)
        using (child)
        using (other)
        {
            var targets = ActivationStatistics.WeightedSum([child.MeasureRepairStatistics(Round), other.MeasureRepairStatistics(Round)], [0.5, 0.5]);
            Assert.Equal(correctedLayers, targets.Layers.Length);

            child.Mix(other.Capture(), keep: 0.5, targets, Round);

            var repaired = child.MeasureRepairStatistics(Round);
            foreach (var (target, actual) in targets.Layers.Zip(repaired.Layers))
            {
                Assert.Equal(target.Layer, actual.Layer);
                for (var c = 0; c < target.Mean.Length; c++)
                {
                    AssertClose(target.Mean[c], actual.Mean[c], $"{target.Layer} channel {c} mean");
                    AssertClose(target.Std[c], actual.Std[c], $"{target.Layer} channel {c} std");
                }
            }
        }
    }

    [Fact]
    public void ARepairedSoupMeetsItsMembersMeanStatistics()
    {
        var (first, second, data) = TrainedParents("cnn", "repair=off", "repair-soup=on");
        using (data)
        using (first)
        using (second)
        {
            var targets = ActivationStatistics.WeightedSum(
                [first.MeasureRepairStatistics(MemberModel.SoupCalibration), second.MeasureRepairStatistics(MemberModel.SoupCalibration)], [0.5, 0.5]);
            var soup = WeightMath.Average([first.Capture(), second.Capture()]);

            var evaluated = first.EvaluateWeights(soup, recomputeBatchNorm: false, onHeldOut: true, testSlice: null, returnWeights: true, targets);

            Assert.NotEqual<float>(soup.Values, evaluated.Weights!.Values);
            second.Mix(evaluated.Weights, keep: 0, repairTargets: null, Round); // the repaired soup, measured in a member
            var repaired = second.MeasureRepairStatistics(MemberModel.SoupCalibration);
            foreach (var (target, actual) in targets.Layers.Zip(repaired.Layers))
            {
                for (var c = 0; c < target.Mean.Length; c++)
                {
                    AssertClose(target.Mean[c], actual.Mean[c], $"{target.Layer} channel {c} mean");
                    AssertClose(target.Std[c], actual.Std[c], $"{target.Layer} channel {c} std");
                }
            }
        }
    }

    [Fact]
    public void WithoutRepairThePlainAverageMissesTheTargets()
    {
        var (child, other, data) = TrainedParents("cnn");
        using (data)
        using (child)
        using (other)
        {
            var targets = ActivationStatistics.WeightedSum([child.MeasureRepairStatistics(Round), other.MeasureRepairStatistics(Round)], [0.5, 0.5]);

            child.Mix(other.Capture(), keep: 0.5, repairTargets: null, Round);

            // Averaging two unaligned networks shrinks the spread of their activations (variance collapse).
            var plain = child.MeasureRepairStatistics(Round);
            var ratios = targets.Layers.Zip(plain.Layers).SelectMany(p => p.Second.Std.Zip(p.First.Std, (a, t) => a / t)).ToList();
            Assert.True(ratios.Average() < 0.95, $"mean std ratio {ratios.Average()}");
        }
    }

    [Fact]
    public void BiasFreeConvolutionsOfResNetGetTheirStdRepairedAndLeaveTheShiftToBatchNorm()
    {
        var (child, other, data) = TrainedParents("resnet20", "model-width=0.5");
        using (data)
        using (child)
        using (other)
        {
            var targets = ActivationStatistics.WeightedSum([child.MeasureRepairStatistics(Round), other.MeasureRepairStatistics(Round)], [0.5, 0.5]);

            child.Mix(other.Capture(), keep: 0.5, targets, Round);

            var repaired = child.MeasureRepairStatistics(Round);
            Assert.Equal(19, targets.Layers.Count(l => l.Layer.Contains("conv")));
            foreach (var (target, actual) in targets.Layers.Zip(repaired.Layers))
            {
                for (var c = 0; c < target.Std.Length; c++)
                    AssertClose(target.Std[c], actual.Std[c], $"{target.Layer} channel {c} std");
            }
        }
    }

    [Fact]
    public void MeasuringLeavesTheRunningStatisticsAndWeightsAlone()
    {
        var (member, other, data) = TrainedParents("cnn");
        using (data)
        using (member)
        using (other)
        {
            var before = member.Capture();
            member.MeasureRepairStatistics(Round);
            Assert.Equal<float>(before.Values, member.Capture().Values);
        }
    }

    [Theory]
    [InlineData("off")]
    [InlineData("on")]
    public void ConvCorrectionsFeedingBatchNormAreAbsorbedWhenItsStatisticsAreReestimated(string repairLinear)
    {
        // The cnn's two convs each feed a BatchNorm. A per-channel rescaling of a conv's output is undone by the
        // BatchNorm statistics re-estimated on it (but for BatchNorm's eps), so REPAIR of the convs alone computes
        // what the plain average with re-estimated BatchNorm does; the hidden Linear, followed by no BatchNorm, is
        // where REPAIR changes the function.
        var (first, second, data) = TrainedParents("cnn", $"repair-linear={repairLinear}");
        using (data)
        using (first)
        using (second)
        using (var plain = new MemberModel(0, TestSettings.Tiny(["model=cnn", "variations.mixup=[0.0, 1.0]", "batchnorm.mix=reset"]).Training, data, CPU))
        {
            plain.RestoreState(first.CaptureState());
            var targets = ActivationStatistics.WeightedSum([first.MeasureRepairStatistics(Round), second.MeasureRepairStatistics(Round)], [0.5, 0.5]);

            first.Mix(second.Capture(), keep: 0.5, targets, Round);          // REPAIR, then BatchNorm re-estimated
            plain.Mix(second.Capture(), keep: 0.5, repairTargets: null, Round); // BatchNorm re-estimated only

            var repaired = first.Evaluate(DataSplit.Test, keepLogits: true).Logits!;
            var reset = plain.Evaluate(DataSplit.Test, keepLogits: true).Logits!;
            var scale = reset.Max(Math.Abs);
            var largestDifference = repaired.Zip(reset, (a, b) => Math.Abs(a - b)).Max() / scale;
            if (repairLinear == "off")
                Assert.True(largestDifference < 1e-3, $"logits differ by {largestDifference:P3} of their scale"); // 0.006% measured
            else
                Assert.True(largestDifference > 0.1, $"logits differ by only {largestDifference:P3} of their scale"); // 119% measured
        }
    }

    [Fact]
    public void StatisticsOfDifferentLayersCannotBeCombined()
    {
        var a = new ActivationStatistics([new LayerStatistics("features.0", [1], [1])]);
        var b = new ActivationStatistics([new LayerStatistics("features.4", [1], [1])]);
        var error = Assert.Throws<ArgumentException>(() => ActivationStatistics.WeightedSum([a, b], [0.5, 0.5]));
        Assert.Contains("'features.4'", error.Message);
    }
}
