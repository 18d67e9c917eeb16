using System.Diagnostics;
using PapaActors.Models.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

public sealed record TrainResult(long FirstStep, int Steps, double MeanLoss, long Samples, double Seconds);

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
    private readonly Device _device;
    private IOptimizer _optimizer;

    public Trainer(nn.Module<Tensor, Tensor> model, DataSplits data, MemberBatches batches, TrainingSettings settings, Device device)
    {
        _model = model;
        _data = data;
        _batches = batches;
        _settings = settings;
        _device = device;
        var total = settings.Epochs * batches.StepsPerEpoch;
        var warmup = (long)Math.Round(settings.Optimizer.WarmupEpochs * batches.StepsPerEpoch);
        Schedule = new LearningRateSchedule(settings.Optimizer.LearningRate, settings.Optimizer.MinLearningRate, total, warmup);
        _optimizer = IOptimizer.Create(settings.Optimizer, model.parameters());
    }

    public LearningRateSchedule Schedule { get; }

    /// <summary>Global steps done so far.</summary>
    public long Step { get; private set; }

    public TrainResult Train(int steps)
    {
        var watch = Stopwatch.StartNew();
        var first = Step;
        double lossSum = 0;
        _model.train();
        for (var i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            var (images, labels) = _data.Batch(DataSplit.Train, _batches.IndicesFor(Step), _device);
            _optimizer.ZeroGrad();
            var loss = nn.functional.cross_entropy(_model.forward(images), labels, label_smoothing: _settings.LabelSmoothing);
            loss.backward();
            _optimizer.Step(Schedule.At(Step));
            lossSum += loss.item<float>();
            Step++;
        }
        return new TrainResult(first, steps, steps > 0 ? lossSum / steps : 0, (long)steps * _batches.BatchSize, watch.Elapsed.TotalSeconds);
    }

    /// <summary>Forgets momentum and Adam moments (an option after a mix; by default members keep them, as the reference does).</summary>
    public void ResetOptimizer()
    {
        _optimizer.Dispose();
        _optimizer = IOptimizer.Create(_settings.Optimizer, _model.parameters());
    }

    public void Dispose() => _optimizer.Dispose();
}
