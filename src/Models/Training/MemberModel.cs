using PapaActors.Models.Data;
using PapaActors.Models.Nets;
using PapaActors.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

public sealed record WeightsEvaluation(double? HeldOutAccuracy, long TestCorrect, long TestCount, WeightSnapshot? Weights);

/// <summary>
/// One population member's model, optimizer and data stream: what a MemberActor drives, usable without actors.
/// All calls must come from one thread.
/// </summary>
public sealed class MemberModel : IDisposable
{
    private readonly TrainingSettings _settings;
    private readonly DataSplits _data;
    private readonly Device _device;
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly ModelState _state;
    private readonly MemberBatches _batches;
    private readonly Trainer _trainer;
    private readonly IReadOnlyList<string> _repairedLayers;
    private (nn.Module<Tensor, Tensor> Model, ModelState State)? _scratch;

    public MemberModel(int index, TrainingSettings settings, DataSplits data, Device device)
    {
        Index = index;
        _settings = settings;
        _data = data;
        _device = device;
        var initSeed = settings.SameInit
            ? Seeds.Derive(settings.Seed, Seeds.Stream.Init)
            : Seeds.Derive(settings.Seed, Seeds.Stream.Init, index);
        _model = ModelZoo.Create(settings.Model, data.Shape, data.Classes, settings.ModelWidth, initSeed).to(device);
        _state = new ModelState(_model);
        _batches = new MemberBatches(data.Train.Count, settings.BatchSize, settings.Seed, index);
        var variation = settings.Variations.Assign(index + 1, settings.Seed)[index];
        var augmenter = new BatchAugmenter(settings.Augmentation, variation, data.Classes, settings.Seed, index);
        _trainer = new Trainer(_model, data, _batches, settings, augmenter, device);
        _repairedLayers = settings.Repair.Used ? Repair.CorrectedLayers(_model, settings.Repair.IncludeLinear, data.Shape) : [];
    }

    public int Index { get; }
    public WeightLayout Layout => _state.Layout;

    /// <summary>The <see cref="Layout"/> of every member under <paramref name="settings"/> on data of <paramref name="shape"/>, from a model built once on the CPU.</summary>
    public static WeightLayout LayoutOf(TrainingSettings settings, ImageShape shape, int classes)
    {
        using var scope = NewDisposeScope();
        using var model = ModelZoo.Create(settings.Model, shape, classes, settings.ModelWidth, initSeed: 0);
        return WeightLayout.Of(model);
    }

    public long Step => _trainer.Step;
    public long StepsPerEpoch => _batches.StepsPerEpoch;
    public double LearningRate => _trainer.Schedule.At(Math.Max(0, Step - 1));

    public TrainResult Train(int steps) => _trainer.Train(steps);

    public WeightSnapshot Capture() => _state.Capture();

    /// <summary>Everything needed to continue this member bit for bit: weights (with BatchNorm buffers), optimizer state, step.</summary>
    public MemberState CaptureState() => new(Index, Step, _state.Capture(), _trainer.CaptureOptimizer());

    /// <summary>
    /// Continues from a captured state (a checkpoint or a rollback). A state of another member, or whose weights
    /// or optimizer state do not fit, is rejected before anything changes.
    /// </summary>
    public void RestoreState(MemberState state)
    {
        if (state.Member != Index)
            throw new ArgumentException($"the state of member {state.Member} cannot be restored into member {Index}", nameof(state));
        // Check the weights, then let the optimizer check and restore its state, and only then write the weights:
        // whatever throws leaves the member as it was.
        Layout.EnsureMatches(state.Weights.Layout, "restoring the member's weights");
        _trainer.RestoreState(state.Step, state.Optimizer);
        _state.Load(state.Weights);
    }

    /// <summary>Whether every parameter and BatchNorm statistic is finite: a cheap divergence check for every round.</summary>
    public bool IsFinite() => _state.IsFinite();

    /// <summary>The round whose calibration batches REPAIR of soups uses (no mixing round has it).</summary>
    public const int SoupCalibration = -1;

    /// <summary>The pre-activation statistics REPAIR needs from a parent, on the calibration batches of <paramref name="round"/>.</summary>
    public ActivationStatistics MeasureRepairStatistics(int round)
    {
        using var scope = NewDisposeScope();
        return Repair.Measure(_model, _repairedLayers, CalibrationBatches(round));
    }

    /// <summary>
    /// w &lt;- keep * w + (1 - keep) * other (a mix computed from earlier weights <paramref name="measuredOn"/> is
    /// applied as the same correction); then, when <paramref name="repairTargets"/> are given, REPAIR towards them on
    /// the calibration batches of <paramref name="round"/>; then the configured BatchNorm re-estimation (always
    /// after REPAIR) and optimizer reset.
    /// </summary>
    public void Mix(WeightSnapshot other, double keep, ActivationStatistics? repairTargets, int round, WeightSnapshot? measuredOn = null)
    {
        if (measuredOn is null)
            _state.Mix(other, keep);
        else
            _state.MixLate(measuredOn, other, keep);
        if (repairTargets is not null)
        {
            using var scope = NewDisposeScope();
            Repair.Apply(_model, repairTargets, CalibrationBatches(round));
        }
        if (repairTargets is not null || _settings.MixRecomputesBatchNorm)
            RecomputeBatchNorm(_model);
        if (_settings.ResetOptimizerOnMix)
            _trainer.ResetOptimizer();
    }

    private IReadOnlyList<Tensor> CalibrationBatches(int round) =>
        Repair.CalibrationBatches(_data, _settings.Repair.Batches, _settings.BatchSize, Seeds.Derive(_settings.Seed, Seeds.Stream.Repair, round), _device);

    public EvaluationResult Evaluate(DataSplit split, bool keepLogits) =>
        Evaluation.Evaluate(_model, _data, split, _settings.EvalBatchSize, _device, keepLogits);

    /// <summary>
    /// Penultimate features of <paramref name="images"/> held-out images, the same for every member of the run and at
    /// every epoch (see <see cref="FeatureSimilarity.Measure"/>); leaves the member as it was.
    /// </summary>
    public FeatureMatrix PenultimateFeatures(int images) =>
        FeatureSimilarity.Measure(_model, _data, images, Seeds.Derive(_settings.Seed, Seeds.Stream.Features), _settings.EvalBatchSize, _device);

    /// <summary>
    /// Evaluates other weights (a soup) on a scratch copy of the architecture, leaving this member untouched:
    /// REPAIRed towards <paramref name="repairTargets"/> on the soups' calibration batches if given, BatchNorm
    /// re-estimated after REPAIR or if asked, held-out accuracy if asked, correct predictions on part <c>Part</c> of
    /// <c>Parts</c> of the test set if given, and the evaluated weights when <paramref name="returnWeights"/> is set.
    /// </summary>
    public WeightsEvaluation EvaluateWeights(WeightSnapshot weights, bool recomputeBatchNorm, bool onHeldOut, (int Part, int Parts)? testSlice, bool returnWeights,
        ActivationStatistics? repairTargets = null)
    {
        _scratch ??= CreateScratch();
        var (model, state) = _scratch.Value;
        state.Load(weights);
        if (repairTargets is not null)
        {
            using var scope = NewDisposeScope();
            Repair.Apply(model, repairTargets, CalibrationBatches(SoupCalibration));
        }
        if (recomputeBatchNorm || repairTargets is not null)
            RecomputeBatchNorm(model);
        var heldOut = onHeldOut ? Evaluation.Evaluate(model, _data, DataSplit.HeldOut, _settings.EvalBatchSize, _device, keepLogits: false) : null;
        var test = testSlice is var (part, parts)
            ? Evaluation.Evaluate(model, _data, DataSplit.Test, _settings.EvalBatchSize, _device, keepLogits: false, Evaluation.Slice(_data.Test.Count, part, parts))
            : null;
        return new WeightsEvaluation(heldOut?.Accuracy, test?.Correct ?? 0, test?.Samples ?? 0, returnWeights ? state.Capture() : null);
    }

    private (nn.Module<Tensor, Tensor>, ModelState) CreateScratch()
    {
        var model = ModelZoo.Create(_settings.Model, _data.Shape, _data.Classes, _settings.ModelWidth, initSeed: 0).to(_device);
        return (model, new ModelState(model));
    }

    private void RecomputeBatchNorm(nn.Module<Tensor, Tensor> model) =>
        BatchNormStatistics.Recompute(model, _data, _settings.BatchNormResetBatches, _settings.BatchSize,
            Seeds.Derive(_settings.Seed, Seeds.Stream.BatchNorm), _device);

    public void Dispose()
    {
        _trainer.Dispose();
        _batches.Dispose();
        _model.Dispose();
        _scratch?.Model.Dispose();
    }
}
