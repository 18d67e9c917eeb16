using System.Diagnostics;
using PapaActors.Models.Data;
using PapaActors.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

public sealed record TrainResult(long FirstStep, int Steps, double MeanLoss, long Samples, double Seconds)
{
    /// <summary>This stretch of training followed by <paramref name="next"/>, as one.</summary>
    public TrainResult Then(TrainResult next) => next.Steps == 0 ? this : Steps == 0 ? next
        : new(FirstStep, Steps + next.Steps, (MeanLoss * Steps + next.MeanLoss * next.Steps) / (Steps + next.Steps), Samples + next.Samples, Seconds + next.Seconds);
}

/// <summary>
/// Trains one model for a requested number of SGD/AdamW steps on its member's batch stream, with the
/// learning rate set from the schedule before every step. Must be used from a single thread: TorchSharp
/// dispose scopes and grad mode are per thread.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly DataSplits _data;
    private readonly MemberBatches _batches;
    private readonly TrainingSettings _settings;
    private readonly BatchAugmenter _augmenter;
    private readonly Device _device;
    private IOptimizer _optimizer;

    public Trainer(nn.Module<Tensor, Tensor> model, DataSplits data, MemberBatches batches, TrainingSettings settings, BatchAugmenter augmenter, Device device)
    {
        _model = model;
        _data = data;
        _batches = batches;
        _settings = settings;
        _augmenter = augmenter;
        _device = device;
        Schedule = LearningRateSchedule.For(settings.Optimizer, settings.Epochs, batches.StepsPerEpoch);
        _optimizer = IOptimizer.Create(settings.Optimizer, model.named_parameters());
    }

    public LearningRateSchedule Schedule { get; }

    /// <summary>Global steps done so far.</summary>
    public long Step { get; private set; }

    public TrainResult Train(int steps)
    {
        var watch = Stopwatch.StartNew();
        var first = Step;
        _model.train();
        // Each step's loss stays on the device until the result is made: reading it every step would make a GPU
        // wait for every step.
        using var lossScope = NewDisposeScope();
        var losses = new List<Tensor>(steps);
        for (var i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            _optimizer.ZeroGrad();
            var loss = Loss(Step);
            loss.backward();
            if (_settings.Optimizer.ClipGradNorm > 0)
                ClipGradNorm(_model.parameters(), _settings.Optimizer.ClipGradNorm);
            _optimizer.Step(Schedule.At(Step));
            losses.Add(loss.detach().MoveToOuterDisposeScope());
            Step++;
        }
        return new TrainResult(first, steps, MeanOf(losses), (long)steps * _batches.BatchSize, watch.Elapsed.TotalSeconds);
    }

    /// <summary>The mean of float32 losses, read in one call and summed in double in step order (0 for none).</summary>
    private static double MeanOf(List<Tensor> losses)
    {
        if (losses.Count == 0)
            return 0;
        double sum = 0;
        foreach (var loss in stack(losses).cpu().data<float>())
            sum += loss;
        return sum / losses.Count;
    }

    /// <summary>
    /// The loss of one step's batch after the member's augmentations: cross-entropy with label smoothing, or,
    /// when mixup or cutmix mixed the images, cross-entropy against the mixed soft targets.
    /// </summary>
    private Tensor Loss(long step)
    {
        using var generator = _augmenter.GeneratorFor(step);
        var (pixels, labels) = _data.RawBatch(DataSplit.Train, _batches.IndicesFor(step), _device);
        var images = _augmenter.ApplyRandomErasing(_data.Normalize(_augmenter.ApplyBase(pixels, generator)), generator);
        var variation = _augmenter.Variation;
        if (!variation.MixesImages)
            return nn.functional.cross_entropy(_model.forward(images), labels, label_smoothing: variation.LabelSmoothing);
        var (mixed, targets, _) = _augmenter.ApplyMixing(images, labels, generator);
        // Out of place: log_softmax's backward needs its own output.
        return nn.functional.log_softmax(_model.forward(mixed), 1).mul(targets).sum(1).mean().neg();
    }

    /// <summary>
    /// torch.nn.utils.clip_grad_norm_ (2-norm): when the norm of all gradients together exceeds <paramref name="maxNorm"/>,
    /// every gradient is scaled by maxNorm / (norm + 1e-6). Returns the norm before clipping. Written out because
    /// TorchSharp's version passes temporary Scalars (see <see cref="Scalars"/>).
    /// </summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var gradients = parameters.Select(p => p.grad).OfType<Tensor>().ToList();
        var norm = Math.Sqrt(gradients.Sum(g => g.to_type(ScalarType.Float64).pow(Scalars.Two).sum().item<double>()));
        var coefficient = maxNorm / (norm + 1e-6);
        if (coefficient < 1)
        {
            using var scale = Scalars.Of(coefficient);
            foreach (var gradient in gradients)
                gradient.mul_(scale);
        }
        return norm;
    }

    /// <summary>Forgets momentum and Adam moments (an option after a mix; by default members keep them, as the reference does).</summary>
    public void ResetOptimizer()
    {
        _optimizer.Dispose();
        _optimizer = IOptimizer.Create(_settings.Optimizer, _model.named_parameters());
    }

    /// <summary>A copy of the optimizer's state (see <see cref="IOptimizer.CaptureState"/>).</summary>
    public WeightSnapshot CaptureOptimizer() => _optimizer.CaptureState();

    /// <summary>
    /// Continues from global step <paramref name="step"/> with the given optimizer state (an empty layout: a fresh
    /// optimizer). A state that does not fit is rejected before anything changes.
    /// </summary>
    public void RestoreState(long step, WeightSnapshot optimizer)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        _optimizer.RestoreState(optimizer);
        Step = step;
    }

    public void Dispose() => _optimizer.Dispose();
}
