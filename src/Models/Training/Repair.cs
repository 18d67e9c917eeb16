using System.Collections.Immutable;
using System.Runtime.InteropServices;
using PapaActors.Models.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

/// <summary>Per-channel mean and standard deviation of one layer's output (its pre-activation).</summary>
public sealed record LayerStatistics(string Layer, ImmutableArray<float> Mean, ImmutableArray<float> Std);

/// <summary>The statistics of every layer REPAIR corrects, in forward order. Plain data: sent with snapshots.</summary>
public sealed record ActivationStatistics(ImmutableArray<LayerStatistics> Layers)
{
    /// <summary>sum_i coefficients[i] * statistics[i], means and stds alike (stds interpolate linearly, as REPAIR does).</summary>
    public static ActivationStatistics WeightedSum(IReadOnlyList<ActivationStatistics> statistics, IReadOnlyList<double> coefficients)
    {
        var first = statistics[0];
        var layers = first.Layers.Select((layer, l) =>
        {
            var mean = new float[layer.Mean.Length];
            var std = new float[layer.Std.Length];
            for (var i = 0; i < statistics.Count; i++)
            {
                var other = statistics[i].Layers[l];
                if (other.Layer != layer.Layer || other.Mean.Length != mean.Length)
                    throw new ArgumentException($"statistics {i} has layer '{other.Layer}' ({other.Mean.Length} channels) where '{layer.Layer}' ({mean.Length}) was expected");
                for (var c = 0; c < mean.Length; c++)
                {
                    mean[c] += (float)(coefficients[i] * other.Mean[c]);
                    std[c] += (float)(coefficients[i] * other.Std[c]);
                }
            }
            return new LayerStatistics(layer.Layer, ImmutableCollectionsMarshal.AsImmutableArray(mean), ImmutableCollectionsMarshal.AsImmutableArray(std));
        }).ToImmutableArray();
        return new ActivationStatistics(layers);
    }
}

/// <summary>
/// REPAIR (Jordan et al.): after weights are averaged, rescale each corrected layer so that, on the same
/// calibration batches, its per-channel output mean and std equal the mix-weighted combination of the
/// parents' statistics. Corrected layers: every Conv2d and, when asked, every Linear but the output layer.
/// Layers are corrected one after another in forward order, each measured after the ones before it were
/// corrected, so every target is met on the calibration batches. A layer with a bias gets scale and shift;
/// a bias-free one (ResNet convs, always followed by BatchNorm) only the scale, and the BatchNorm statistics
/// re-estimated afterwards absorb the shift (the reference silently drops it).
/// Statistics are taken in training mode (BatchNorm on batch statistics), without gradients.
/// </summary>
public static class Repair
{
    /// <summary>
    /// The layers REPAIR corrects, in the order a forward pass of one <paramref name="shape"/> image reaches them
    /// (declaration order can differ from it).
    /// </summary>
    public static IReadOnlyList<string> CorrectedLayers(nn.Module<Tensor, Tensor> model, bool includeLinear, ImageShape shape)
    {
        var candidates = model.named_modules().Where(m => m.module is Conv2d || (includeLinear && m.module is Linear)).Select(m => m.name).ToList();
        var reached = new List<string>();
        var hooks = Modules(model, candidates).Select((module, i) => module.register_forward_hook((_, _, _) =>
        {
            reached.Add(candidates[i]);
            return null;
        })).ToList();
        try
        {
            using var mode = ModuleMode.Eval(model);
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            model.call(zeros(1, shape.Channels, shape.Height, shape.Width, device: model.parameters().First().device));
        }
        finally
        {
            hooks.ForEach(h => h.remove());
        }
        var layers = reached.Distinct().ToList();
        // The last Linear reached produces the logits: there is no activation to repair after it.
        if (includeLinear && layers.Count > 0 && layers[^1] is var last && model.named_modules().First(m => m.name == last).module is Linear)
            layers.RemoveAt(layers.Count - 1);
        return layers;
    }

    public static ActivationStatistics Measure(nn.Module<Tensor, Tensor> model, IReadOnlyList<string> layers, IReadOnlyList<Tensor> batches)
    {
        var modules = Modules(model, layers);
        // Per-channel sums in managed arrays: a hook runs inside the module's own dispose scope (ResNet blocks
        // have one), which would free any tensor kept across batches.
        var sums = layers.Select(_ => (Sum: (double[]?)null, Squares: (double[]?)null, Count: 0L)).ToArray();
        var hooks = modules.Select((module, l) => module.register_forward_hook((_, _, output) =>
        {
            using var scope = NewDisposeScope();
            var values = output.to_type(ScalarType.Float64).transpose(0, 1).reshape(output.shape[1], -1);
            var batchSum = values.sum(1).cpu().data<double>().ToArray();
            var batchSquares = values.pow(Scalars.Two).sum(1).cpu().data<double>().ToArray();
            var (sum, squares, count) = sums[l];
            sums[l] = (Add(sum, batchSum), Add(squares, batchSquares), count + values.shape[1]);
            return null;
        })).ToList();
        // Measuring must not move the BatchNorm running statistics the member trains and is evaluated with.
        var norms = model.modules().OfType<Nets.BatchNorm2d>().ToList();
        norms.ForEach(n => n.UpdatesRunningStatistics = false);
        try
        {
            using var mode = ModuleMode.Training(model);
            using var noGrad = no_grad();
            foreach (var batch in batches)
                model.call(batch);
        }
        finally
        {
            hooks.ForEach(h => h.remove());
            norms.ForEach(n => n.UpdatesRunningStatistics = true);
        }
        return new ActivationStatistics(layers.Select((name, l) =>
        {
            var (sum, squares, count) = sums[l];
            var mean = sum!.Select(s => s / count).ToArray();
            var std = squares!.Select((q, c) => Math.Sqrt(Math.Max(q / count - mean[c] * mean[c], 0))).ToArray();
            return new LayerStatistics(name, [.. mean.Select(m => (float)m)], [.. std.Select(s => (float)s)]);
        }).ToImmutableArray());
    }

    /// <summary>total + batch, element by element, in place (the first batch starts the total).</summary>
    private static double[] Add(double[]? total, double[] batch)
    {
        if (total is null)
            return batch;
        for (var c = 0; c < total.Length; c++)
            total[c] += batch[c];
        return total;
    }

    /// <summary>Corrects <paramref name="model"/> towards <paramref name="targets"/>, layer by layer (see the class summary).</summary>
    public static void Apply(nn.Module<Tensor, Tensor> model, ActivationStatistics targets, IReadOnlyList<Tensor> batches)
    {
        using var minimumStd = Scalars.Of(1e-8);
        foreach (var target in targets.Layers)
        {
            using var scope = NewDisposeScope();
            var current = Measure(model, [target.Layer], batches).Layers[0];
            var module = Modules(model, [target.Layer])[0];
            var (weight, bias) = module switch
            {
                Conv2d conv => (conv.weight!, conv.bias),
                Linear linear => (linear.weight!, linear.bias),
                _ => throw new ArgumentException($"'{target.Layer}' is neither Conv2d nor Linear"),
            };
            var currentMean = tensor(current.Mean).to(weight.device);
            var currentStd = tensor(current.Std).to(weight.device).clamp_min_(minimumStd);
            var scale = tensor(target.Std).to(weight.device).div_(currentStd);
            using var noGrad = no_grad();
            weight.mul_(scale.view([-1, .. Enumerable.Repeat(1L, (int)weight.ndim - 1)]));
            bias?.sub_(currentMean).mul_(scale).add_(tensor(target.Mean).to(weight.device), Scalars.One);
        }
    }

    /// <summary>The calibration batches of one mix: the same training images for parents and children.</summary>
    public static IReadOnlyList<Tensor> CalibrationBatches(DataSplits data, int batches, int batchSize, long seed, Device device)
    {
        using var generator = new Generator().manual_seed(seed);
        var order = randperm(data.Train.Count, generator: generator);
        var size = Math.Min(batchSize, data.Train.Count);
        return Enumerable.Range(0, (int)Math.Min(batches, data.Train.Count / size))
            .Select(b => data.Batch(DataSplit.Train, order.narrow(0, b * size, size), device).Images)
            .ToList();
    }

    private static IReadOnlyList<nn.HookableModule<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor?>, Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor?>>> Modules(nn.Module model, IReadOnlyList<string> layers)
    {
        var byName = model.named_modules().ToDictionary(m => m.name, m => m.module);
        return layers.Select(name => byName.TryGetValue(name, out var module)
                ? module as nn.HookableModule<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor?>, Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor?>>
                  ?? throw new ArgumentException($"layer '{name}' cannot be hooked")
                : throw new ArgumentException($"the model has no layer '{name}'"))
            .ToList();
    }
}
