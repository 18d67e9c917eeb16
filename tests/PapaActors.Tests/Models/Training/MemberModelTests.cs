using System.Collections.Immutable;
using PapaActors.Models;
using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;
using PapaActors.Tests.Support;
using static TorchSharp.torch;

namespace PapaActors.Tests.Models.Training;

public sealed class MemberModelTests
{
    [Fact]
    public void TorchSharpLoadsAndComputes()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4 }, [2, 2]);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, a.matmul(a).data<float>().ToArray());
    }

    [Theory]
    [InlineData("mlp", 1, 28)]
    [InlineData("cnn", 1, 28)]
    [InlineData("vgg11", 3, 32)]
    [InlineData("vgg16", 1, 28)]
    [InlineData("resnet20", 3, 32)]
    [InlineData("resnet18", 3, 32)]
    public void EveryZooModelMapsImagesToClassLogits(string name, int channels, int size)
    {
        using var model = ModelZoo.Create(name, new ImageShape(channels, size, size), 10, 0.125, initSeed: 1);
        using var output = model.forward(randn(2, channels, size, size));
        Assert.Equal(new long[] { 2, 10 }, output.shape);
    }

    [Theory]
    [InlineData("cnn")]
    [InlineData("vgg11")]
    [InlineData("resnet20")]
    public void ConvolutionInputGradientsAreRightForEveryChannelCountOfANarrowZooModel(string name)
    {
        // libtorch 2.10's oneDNN gets these wrong (often NaN) for output channels that do not fill its channel
        // blocks; the zoo rounds channel counts so that it never builds such a layer.
        using var model = ModelZoo.Create(name, new ImageShape(3, 8, 8), 10, 0.125, initSeed: 1);
        var convolutions = model.modules().OfType<TorchSharp.Modules.Conv2d>().Select(c => (c.weight!.shape[0], c.weight.shape[1])).Distinct().ToList();
        using var generator = new TorchSharp.torch.Generator().manual_seed(5);
        foreach (var (outChannels, inChannels) in convolutions)
        {
            for (var trial = 0; trial < 10; trial++)
            {
                using var scope = NewDisposeScope();
                var input = randn([16, inChannels, 8, 8], generator: generator).requires_grad_(true);
                var weight = randn([outChannels, inChannels, 3, 3], generator: generator);
                var output = nn.functional.conv2d(input, weight, padding: [1]);
                var upstream = randn(output.shape, generator: generator);
                output.backward([upstream]);
                var expected = nn.functional.conv_transpose2d(upstream, weight, padding: [1]);
                Assert.True(input.grad!.allclose(expected, 1e-4, 1e-3), $"{outChannels} <- {inChannels} channels: wrong input gradient");
            }
        }
    }

    [Fact]
    public void InitialisationIsAFunctionOfTheSeedAlone()
    {
        WeightSnapshot Init(long seed)
        {
            using var model = ModelZoo.Create("resnet20", new ImageShape(3, 8, 8), 10, 0.25, seed);
            return new ModelState(model).Capture();
        }
        // Interleave with draws from the process-global generator: they must not matter.
        var first = Init(11);
        manual_seed(99);
        rand(1000);
        Assert.Equal<float>(first.Values, Init(11).Values);
        Assert.NotEqual<float>(first.Values, Init(12).Values);
    }

    [Fact]
    public void TrainingStepsLowerTheLossAndFollowTheCosineSchedule()
    {
        var settings = TestSettings.Tiny("optimizer.lr=0.1", "optimizer.min-lr=0.001");
        using var data = DatasetLoader.Load(settings.Dataset);
        using var member = new MemberModel(0, settings.Training, data, CPU);

        var first = member.Train(4);
        for (var i = 0; i < 4; i++)
            member.Train(4);
        var later = member.Train(4);

        Assert.Equal(24, member.Step);
        Assert.True(later.MeanLoss < first.MeanLoss, $"loss went from {first.MeanLoss} to {later.MeanLoss}");
        var schedule = new LearningRateSchedule(0.1, 0.001, TotalSteps: 24, WarmupSteps: 0);
        Assert.Equal(0.1, schedule.At(0), 12);
        Assert.Equal(0.0505, schedule.At(12), 12);
        Assert.True(member.Evaluate(DataSplit.Test, keepLogits: false).Accuracy > 0.5);
    }

    [Fact]
    public void ClippingScalesTheGradientsToTheMaximumTotalNormAsTorchDoes()
    {
        using var first = nn.Parameter(zeros(2));
        using var second = nn.Parameter(zeros(1));
        first.grad = tensor(new float[] { 3, 0 });
        second.grad = tensor(new float[] { 4 });

        // total 2-norm 5 -> scaled by 1 / (5 + 1e-6), torch.nn.utils.clip_grad_norm_(max_norm = 1)
        Assert.Equal(5, Trainer.ClipGradNorm([first, second], maxNorm: 1), 6);
        Assert.Equal([0.6f, 0, 0.8f], first.grad.data<float>().Concat(second.grad.data<float>()).Select(g => MathF.Round(g, 6)));

        // under the maximum nothing changes
        Assert.Equal(1, Trainer.ClipGradNorm([first, second], maxNorm: 2), 5);
        Assert.Equal([0.6f, 0, 0.8f], first.grad.data<float>().Concat(second.grad.data<float>()).Select(g => MathF.Round(g, 6)));
    }

    [Fact]
    public void AMemberTrainsWithTheMultiStepScheduleAndClippedGradients()
    {
        // 24 steps; milestones 0.5, 0.75 -> steps 12 and 18 (the reference rounds fraction * total steps)
        var settings = TestSettings.Tiny("optimizer.lr=0.1", "lr-schedule=multistep", "lr-milestones=[0.5, 0.75]", "lr-gamma=0.1", "optimizer.clip-grad=0.5");
        using var data = DatasetLoader.Load(settings.Dataset);
        using var member = new MemberModel(0, settings.Training, data, CPU);

        var learningRates = new List<double>();
        for (var i = 0; i < 6; i++)
        {
            Assert.True(double.IsFinite(member.Train(4).MeanLoss));
            learningRates.Add(Math.Round(member.LearningRate, 12));
        }

        // the learning rate of the last step of each 4-step stretch: steps 3, 7, 11, 15, 19, 23
        Assert.Equal([0.1, 0.1, 0.1, 0.01, 0.001, 0.001], learningRates);
    }

    [Fact]
    public void WarmupRisesLinearlyToThePeak()
    {
        var schedule = new LearningRateSchedule(Peak: 0.4, Minimum: 0, TotalSteps: 100, WarmupSteps: 4);
        Assert.Equal([0.1, 0.2, 0.3, 0.4, 0.4], Enumerable.Range(0, 5).Select(s => Math.Round(schedule.At(s), 12)));
        Assert.Equal(0, schedule.At(100), 12);
    }

    [Fact]
    public void SameSeedTrainsToBitIdenticalWeights()
    {
        var settings = TestSettings.Tiny();
        using var data = DatasetLoader.Load(settings.Dataset);
        ImmutableArray<float> Train()
        {
            using var member = new MemberModel(1, settings.Training, data, CPU);
            member.Train(10);
            return member.Capture().Values;
        }
        Assert.Equal<float>(Train(), Train());
    }

    [Fact]
    public void MembersTrainingMixingAndRepairingOnParallelThreadsMatchSequentialRuns()
    {
        // One libtorch thread, as members run when they outnumber the cores; with more, four members at once split
        // their work differently from one alone, and the suite's other tests may have left any count set.
        TorchRuntime.Configure(1);
        // Members share the process (data, libtorch, the GC) but no random or numeric state: four of them at once,
        // while another thread forces collections, must give exactly the sequential results. Every tensor path
        // runs: all augmentations (crop, flip, mixup, cutmix, label smoothing, random erasing), both optimizers,
        // a mix with REPAIR, BatchNorm re-estimation, and a REPAIRed soup on a scratch model.
        string[] everyPath = ["augmentation=crop-flip", "crop-padding=2", "variations.mixup=[0.4]", "variations.cutmix=[1.0]",
            "variations.label-smoothing=[0.1]", "variations.random-erasing=[0.35]", "repair=on", "repair-batches=2"];
        var settings = TestSettings.Tiny([.. everyPath, "optimizer.name=adamw", "optimizer.lr=0.01"]);
        var sgd = TestSettings.Tiny(everyPath).Training;
        using var data = DatasetLoader.Load(settings.Dataset);
        float[] Train(int index)
        {
            using var member = new MemberModel(index, index % 2 == 0 ? sgd : settings.Training, data, CPU);
            member.Train(4);
            var earlier = member.Capture();
            var targets = member.MeasureRepairStatistics(round: 1);
            member.Train(4);
            member.Mix(earlier, keep: 0.5, targets, round: 1);
            var soup = member.EvaluateWeights(earlier, recomputeBatchNorm: true, onHeldOut: true, testSlice: null, returnWeights: true, targets);
            return [.. member.Capture().Values, .. soup.Weights!.Values, (float)soup.HeldOutAccuracy!.Value];
        }
        var sequential = Enumerable.Range(0, 4).Select(Train).ToArray();

        var parallel = new float[4][];
        using var stop = new CancellationTokenSource();
        var pressure = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.KeepAlive(new byte[1 << 20]);
                GC.Collect();
                // A breath between collections: back to back, they stall every thread of the test process (the
                // whole suite runs in it) and made this test take from 12 s to over 2 minutes.
                Thread.Sleep(2);
            }
        });
        pressure.Start();
        var threads = Enumerable.Range(0, 4).Select(i => new Thread(() => parallel[i] = Train(i))).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        stop.Cancel();
        pressure.Join();

        for (var i = 0; i < 4; i++)
            Assert.Equal(sequential[i], parallel[i]);
    }

    [Fact]
    public void SoupEvaluationLeavesTheMemberUntouchedRecomputesBatchNormAndSplitsTheTestSetExactly()
    {
        var settings = TestSettings.Tiny();
        using var data = DatasetLoader.Load(settings.Dataset);
        using var member = new MemberModel(0, settings.Training, data, CPU);
        member.Train(8);
        var own = member.Capture();
        using var other = new MemberModel(1, settings.Training, data, CPU);
        other.Train(8);

        var soup = WeightMath.Average([own, other.Capture()]);
        var result = member.EvaluateWeights(soup, recomputeBatchNorm: true, onHeldOut: true, testSlice: null, returnWeights: true);
        var whole = member.EvaluateWeights(result.Weights!, recomputeBatchNorm: false, onHeldOut: false, testSlice: (0, 1), returnWeights: false);
        var thirds = Enumerable.Range(0, 3).Select(part => member.EvaluateWeights(result.Weights!, recomputeBatchNorm: false, onHeldOut: false, (part, 3), returnWeights: false)).ToList();

        Assert.Equal<float>(own.Values, member.Capture().Values);
        Assert.NotNull(result.HeldOutAccuracy);
        Assert.Equal(0, result.TestCount);
        Assert.NotEqual(soup.Entry("features.1.running_mean"), result.Weights!.Entry("features.1.running_mean"));
        Assert.Equal(soup.Entry("features.0.weight"), result.Weights.Entry("features.0.weight"));
        Assert.Equal(data.Test.Count, whole.TestCount);
        Assert.InRange(whole.TestCorrect, 1, whole.TestCount);
        Assert.Equal(whole.TestCorrect, thirds.Sum(t => t.TestCorrect));
        Assert.Equal(whole.TestCount, thirds.Sum(t => t.TestCount));
        Assert.All(thirds, t => Assert.Null(t.HeldOutAccuracy));
        Assert.Equal([(0L, 3L), (3L, 3L), (6L, 4L)], Enumerable.Range(0, 3).Select(part => Evaluation.Slice(10, part, 3)));
    }

    [Theory]
    [InlineData("average")]
    [InlineData("reset")]
    public void AMixTreatsBatchNormBuffersAsConfigured(string mode)
    {
        var settings = TestSettings.Tiny($"batchnorm.mix={mode}");
        using var data = DatasetLoader.Load(settings.Dataset);
        using var member = new MemberModel(0, settings.Training, data, CPU);
        using var other = new MemberModel(1, settings.Training, data, CPU);
        member.Train(6);
        other.Train(6);
        var theirs = other.Capture();

        member.Mix(theirs, keep: 0, repairTargets: null, round: 1);

        var mixed = member.Capture();
        Assert.Equal(theirs.Entry("features.0.weight"), mixed.Entry("features.0.weight"));
        // average: the buffers are mixed like the weights; reset: re-estimated for the new weights.
        Assert.Equal(mode == "average", theirs.Entry("features.1.running_mean").SequenceEqual(mixed.Entry("features.1.running_mean")));
    }

    [Fact]
    public void ResetOnMixForgetsMomentumWhileTheDefaultKeepsIt()
    {
        WeightSnapshot StepAfterMix(bool reset, bool mix)
        {
            var settings = TestSettings.Tiny($"optimizer.reset-on-mix={(reset ? "on" : "off")}");
            using var data = DatasetLoader.Load(settings.Dataset);
            using var member = new MemberModel(0, settings.Training, data, CPU);
            member.Train(6);
            if (mix)
                member.Mix(member.Capture(), keep: 0, repairTargets: null, round: 1);
            member.Train(1);
            return member.Capture();
        }

        var unmixed = StepAfterMix(reset: false, mix: false);
        // Mixing a member with its own weights changes nothing, unless the optimizer forgets its momentum.
        Assert.Equal<float>(unmixed.Values, StepAfterMix(reset: false, mix: true).Values);
        Assert.NotEqual<float>(unmixed.Values, StepAfterMix(reset: true, mix: true).Values);
    }

    [Fact]
    public void EnsembleAccuracyAveragesLogits()
    {
        // Two members, three samples, two classes; each member is wrong once, the mean is right every time.
        ImmutableArray<float> a = [3, 0, 0, 1, 0, 2];
        ImmutableArray<float> b = [-1, 0, 0, 5, 3, 0];
        Assert.Equal(1.0, Evaluation.EnsembleAccuracy([a, b], [0, 1, 0]));
        Assert.Equal(2.0 / 3, Evaluation.EnsembleAccuracy([a], [0, 1, 0]), 12);
    }

    [Fact]
    public void SeedDerivationSeparatesStreams()
    {
        Assert.Equal(Seeds.Derive(1, Seeds.Stream.Init, 3), Seeds.Derive(1, Seeds.Stream.Init, 3));
        Assert.NotEqual(Seeds.Derive(1, Seeds.Stream.Init, 3), Seeds.Derive(1, Seeds.Stream.DataOrder, 3));
        Assert.NotEqual(Seeds.Derive(1, Seeds.Stream.Init, 3), Seeds.Derive(2, Seeds.Stream.Init, 3));
        Assert.True(Seeds.Derive(5, Seeds.Stream.Schedule, 0) >= 0);
    }
}
