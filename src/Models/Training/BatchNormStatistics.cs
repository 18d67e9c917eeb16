using PapaActors.Models.Data;
using TorchSharp;
using PapaActors.Models.Nets;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

/// <summary>
/// Re-estimates BatchNorm running statistics on training batches: averaged or mixed weights do not fit the
/// averaged running statistics, so soups (and optionally mixed members) recompute them before evaluation.
/// </summary>
public static class BatchNormStatistics
{
    /// <summary>
    /// Resets every BatchNorm layer and averages its statistics over <paramref name="batches"/> batches
    /// (cumulative average, like PyTorch's momentum=None). The batches are drawn from a generator seeded with
    /// <paramref name="seed"/>, so every candidate evaluated with the same seed sees the same images.
    /// </summary>
    public static void Recompute(nn.Module<Tensor, Tensor> model, DataSplits data, int batches, int batchSize, long seed, Device device)
    {
        var layers = model.modules().OfType<BatchNorm2d>().ToList();
        if (layers.Count == 0 || batches <= 0)
            return;
        var momenta = layers.Select(l => l.Momentum).ToList();
        using var mode = ModuleMode.Training(model);
        try
        {
            foreach (var layer in layers)
            {
                layer.ResetRunningStatistics();
                layer.Momentum = null;
            }
            using var noGrad = no_grad();
            using var generator = new Generator().manual_seed(seed);
            using var order = randperm(data.Train.Count, generator: generator);
            var size = Math.Min(batchSize, data.Train.Count);
            for (var b = 0; b < batches && (b + 1) * size <= data.Train.Count; b++)
            {
                // A scope per batch: one spanning the loop kept every batch's activations alive (GBs for resnet20).
                using var scope = NewDisposeScope();
                var (images, _) = data.Batch(DataSplit.Train, order.narrow(0, b * size, size), device);
                model.forward(images);
            }
        }
        finally
        {
            for (var i = 0; i < layers.Count; i++)
                layers[i].Momentum = momenta[i];
        }
    }
}
